#!/usr/bin/env bash
# Fetches real Apache Flink for the end-to-end tests (DESIGN.md §7) and builds the fixture job
# against it. Called by tools/install.sh (make tools); can also be run on its own.
#
# Flink's distribution jar is not on Maven Central, but PyPI's apache-flink-libraries package
# carries lib/ (flink-dist and friends), opt/, plugins/ and bin/bash-java-utils.jar (no start
# scripts, no conf/). Each version in FLINK_DIST_VERSIONS is downloaded once with
# `pip download --no-deps` and unpacked into
#
#   ${FLINK_TOOLS_CACHE:-~/.cache/terraform-provider-flink}/flink/<version>/{lib,opt,plugins,bin,conf}
#
# where conf/ holds the distribution's default configuration file, taken from flink-dist's jar:
# config.yaml from Flink 1.19 on, flink-conf.yaml on 1.18 (it holds the JVM options Java 17
# needs). A version whose pin is unchanged is skipped, so a second run is a no-op. Then
# test/e2e/fixture-job/build.sh builds the fixture job for each version (also once).
#
# The wheels and sdists carry no S3 filesystem plugin, so each version also gets one from Maven
# Central (mvn dependency:copy into a throw-away local repository), laid out as Flink's image
# expects a plugin, in a directory of its own under plugins/:
#
#   .../flink/<version>/plugins/s3-fs-presto/flink-s3-fs-presto-<plugin version>.jar
#
# With it real Flink writes checkpoints and savepoints to s3:// (internal/acctest/s3.go serves
# them). Presto is the plugin Flink recommends for checkpoints. Maven Central, as this project's
# machines reach it, serves only some patch releases of it, so the pin (s3_plugin) is the
# release of the same minor that it serves, and flink-s3-fs-hadoop (plugins/s3-fs-hadoop/) where
# it serves no presto release of that minor (2.1). The plugin's pin is kept apart from Flink's:
# a changed pin refetches only the plugin.
#
# Environment:
#   FLINK_DIST_VERSIONS  versions to fetch (default: the newest patch release of every Flink
#                        minor the provider supports, internal/flinkconf/version.go)
#   FLINK_TOOLS_SKIP_FLINK=1  skip all of this (nothing else in make tools needs Java)
#   FLINK_TOOLS_SKIP_S3=1     do not fetch the S3 filesystem plugins
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cache=${FLINK_TOOLS_CACHE:-$HOME/.cache/terraform-provider-flink}
versions=${FLINK_DIST_VERSIONS:-"1.18.1 1.19.3 1.20.5 2.0.2 2.1.3 2.2.1 2.3.0"}

if [[ ${FLINK_TOOLS_SKIP_FLINK:-} == 1 ]]; then
  echo "tools: FLINK_TOOLS_SKIP_FLINK=1: not fetching Flink"
  exit 0
fi
for cmd in java pip unzip tar; do
  if ! command -v "$cmd" >/dev/null 2>&1; then
    echo "tools: WARNING: '$cmd' not found: real Flink is not fetched (tests with FLINK_RUNTIME=real will skip)" >&2
    exit 0
  fi
done

# java_major prints the major version of the JDK on PATH (8 for 1.8.0_x).
java_major() {
  local v
  v=$(java -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | sed -n 1p)
  v=${v#1.}
  echo "${v%%[.+-]*}"
}

# check_java VERSION: says whether the JDK is one that Flink release supports. Flink 1.18 to
# 1.20 support Java 8 (deprecated), 11 and 17 (21 in beta from 1.19); Flink 2.x supports 11,
# 17 and 21.
check_java() {
  local v=$1 jm
  jm=$(java_major)
  local ok="" beta=""
  case "$v" in
    1.18.*) case "$jm" in 8|11|17) ok=1 ;; esac ;;
    1.*) case "$jm" in 8|11|17) ok=1 ;; 21) beta=1 ;; esac ;;
    *) case "$jm" in 11|17|21) ok=1 ;; esac ;;
  esac
  if [[ -n $ok ]]; then
    echo "tools: flink $v: JDK $jm is supported"
  elif [[ -n $beta ]]; then
    echo "tools: WARNING: flink $v: JDK $jm support is only beta in Flink $v; Flink $v supports JDK 8, 11 and 17" >&2
  else
    echo "tools: WARNING: flink $v: JDK $jm is NOT supported by Flink $v (1.x: JDK 8/11/17; 2.x: JDK 11/17/21); real-Flink tests may fail" >&2
  fi
}

# config_file VERSION: the configuration file that Flink release reads (and flink-dist carries):
# flink-conf.yaml before 1.19, config.yaml since (flinkconf.Version.ConfigFileName).
config_file() {
  case "$1" in
    1.1[0-8].* | 1.[0-9].*) echo flink-conf.yaml ;;
    *) echo config.yaml ;;
  esac
}

# fetch_flink VERSION
fetch_flink() {
  local v=$1
  local dest=$cache/flink/$v
  local pin="apache-flink-libraries==$v"
  if [[ -f $dest/lib/flink-dist-$v.jar && "$(cat "$dest/.pin" 2>/dev/null)" == "$pin" ]]; then
    echo "tools: flink $v up to date ($dest)"
    return
  fi
  echo "tools: fetching flink $v ($pin from PyPI, ~250-320 MB) ..."
  local start=$SECONDS
  mkdir -p "$cache/flink"
  rm -rf "$cache/flink/.fetch-$v".* # left by an interrupted run
  local tmp
  tmp=$(mktemp -d "$cache/flink/.fetch-$v.XXXXXX")
  pip download --quiet --no-deps --disable-pip-version-check -d "$tmp/dl" "$pin"
  local archive
  archive=$(find "$tmp/dl" -maxdepth 1 -type f \( -name '*.whl' -o -name '*.tar.gz' \) | sed -n 1p)
  if [[ -z $archive ]]; then
    echo "tools: pip download of $pin produced no wheel or sdist" >&2
    return 1
  fi
  echo "tools: unpacking $(basename "$archive") ..."
  mkdir -p "$tmp/x"
  case "$archive" in
    # Wheels (2.2 on) keep the distribution under pyflink/.
    *.whl) unzip -q -o "$archive" 'pyflink/lib/*' 'pyflink/opt/*' 'pyflink/plugins/*' 'pyflink/bin/*' -d "$tmp/x" ;;
    # Source distributions (1.18 to 2.1 have no wheel) keep it under <name>-<version>/deps/.
    *.tar.gz) tar xzf "$archive" -C "$tmp/x" --wildcards '*/deps/lib/*' '*/deps/opt/*' '*/deps/plugins/*' '*/deps/bin/*' ;;
  esac
  local dist
  dist=$(find "$tmp/x" -name "flink-dist-$v.jar" -path '*/lib/*' | sed -n 1p)
  if [[ -z $dist ]]; then
    echo "tools: $(basename "$archive") has no lib/flink-dist-$v.jar" >&2
    return 1
  fi
  local home
  home=$(dirname "$(dirname "$dist")")
  local conf
  conf=$(config_file "$v")
  mkdir -p "$home/conf"
  if ! unzip -p "$dist" "$conf" >"$home/conf/$conf" || [[ ! -s $home/conf/$conf ]]; then
    echo "tools: $(basename "$dist") has no default $conf" >&2
    return 1
  fi
  rm -rf "$dest"
  mv "$home" "$dest"
  echo "$pin" >"$dest/.pin"
  rm -rf "$tmp"
  echo "tools: fetched flink $v in $((SECONDS - start))s ($(du -sh "$dest" | cut -f1))"
}

# s3_plugin VERSION: the S3 filesystem plugin for that Flink release, "<artifact> <version>":
# the release's own where Maven Central serves it, else the one of the same minor it serves
# (plugins are loaded against flink-core's public file system API, stable within a minor).
s3_plugin() {
  case "$1" in
    1.18.*) echo "flink-s3-fs-presto 1.18.1" ;;
    1.19.*) echo "flink-s3-fs-presto 1.19.0" ;;
    1.20.*) echo "flink-s3-fs-presto 1.20.0" ;;
    2.0.*) echo "flink-s3-fs-presto 2.0.0" ;;
    2.1.*) echo "flink-s3-fs-hadoop 2.1.1" ;; # no flink-s3-fs-presto 2.1.x is served
    2.2.*) echo "flink-s3-fs-presto 2.2.0" ;;
    2.3.*) echo "flink-s3-fs-presto 2.3.0" ;;
    *) return 1 ;;
  esac
}

m2="" # the throw-away local Maven repository of this run, made on first use
cleanup_m2() { if [[ -n $m2 ]]; then rm -rf "$m2"; fi; }
trap cleanup_m2 EXIT

# fetch_s3_plugin VERSION: puts the version's S3 filesystem plugin into plugins/s3-fs-<kind>/.
fetch_s3_plugin() {
  local v=$1
  local dest=$cache/flink/$v
  local artifact pv
  if ! read -r artifact pv < <(s3_plugin "$v"); then
    echo "tools: WARNING: flink $v: no S3 filesystem plugin pinned (tools/flink.sh s3_plugin): s3:// will not work on it" >&2
    return 0
  fi
  local pin="org.apache.flink:$artifact:$pv"
  local dir=$dest/plugins/${artifact#flink-}
  local jar=$dir/$artifact-$pv.jar
  if [[ -f $jar && "$(cat "$dest/.s3-plugin.pin" 2>/dev/null)" == "$pin" ]]; then
    echo "tools: flink $v: S3 plugin up to date ($pin)"
    return
  fi
  if ! command -v mvn >/dev/null 2>&1; then
    echo "tools: WARNING: 'mvn' not found: flink $v gets no S3 filesystem plugin (s3:// will not work on it)" >&2
    return 0
  fi
  echo "tools: flink $v: fetching the S3 filesystem plugin ($pin from Maven Central, ~30-100 MB) ..."
  local start=$SECONDS
  if [[ -z $m2 ]]; then
    m2=$(mktemp -d "${TMPDIR:-/tmp}/flink-tools-m2.XXXXXX")
  fi
  local tmp
  tmp=$(mktemp -d "$cache/flink/.fetch-s3-$v.XXXXXX")
  # The plugin jar shades its dependencies: copy it alone.
  if ! mvn -q -B -Dmaven.repo.local="$m2" org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy \
    -Dartifact="$pin" -DoutputDirectory="$tmp" >"$tmp/mvn.log" 2>&1 || [[ ! -s $tmp/$artifact-$pv.jar ]]; then
    sed -e 's/\x1b\[[0-9;]*m//g' "$tmp/mvn.log" | grep -m1 'ERROR' >&2 || true
    echo "tools: could not fetch $pin from Maven Central" >&2
    rm -rf "$tmp"
    return 1
  fi
  # One S3 plugin per distribution: presto and hadoop both serve s3://.
  rm -rf "$dest/plugins/s3-fs-presto" "$dest/plugins/s3-fs-hadoop" "$dest/.s3-plugin.pin"
  mkdir -p "$dir"
  mv "$tmp/$artifact-$pv.jar" "$jar"
  echo "$pin" >"$dest/.s3-plugin.pin"
  rm -rf "$tmp"
  echo "tools: flink $v: fetched the S3 plugin in $((SECONDS - start))s ($(du -sh "$jar" | cut -f1), $dir)"
}

start=$SECONDS
echo "tools: java: $(java -version 2>&1 | sed -n 1p)"
for v in $versions; do
  check_java "$v"
  fetch_flink "$v"
  if [[ ${FLINK_TOOLS_SKIP_S3:-} != 1 ]]; then
    fetch_s3_plugin "$v"
  fi
done
for v in $versions; do
  "$root/test/e2e/fixture-job/build.sh" "$v" >/dev/null # it prints the jar path
done
echo "tools: flink ready in $cache/flink ($((SECONDS - start))s)"
