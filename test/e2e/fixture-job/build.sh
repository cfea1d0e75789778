#!/usr/bin/env bash
# build.sh FLINK_VERSION: builds the fixture job against Flink FLINK_VERSION (Flink jars from
# Maven Central, scope provided) into
#
#   ${FLINK_TOOLS_CACHE:-~/.cache/terraform-provider-flink}/fixture/<version>/fixture-job.jar
#
# once: a jar built from the same sources and version is not rebuilt. The jar holds the entry
# classes flinkplatform.fixture.CounterJob, CounterJobPlus and CounterJobMinus.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
v=${1:?usage: build.sh FLINK_VERSION}
cache=${FLINK_TOOLS_CACHE:-$HOME/.cache/terraform-provider-flink}
dest=$cache/fixture/$v
pin=$(cd "$here" && { echo "flink $v"; find pom.xml src -type f -print0 | sort -z | xargs -0 sha256sum; } | sha256sum | cut -c1-16)

if [[ -f $dest/fixture-job.jar && "$(cat "$dest/.pin" 2>/dev/null)" == "$pin" ]]; then
  echo "tools: fixture job for flink $v up to date ($dest/fixture-job.jar)"
  exit 0
fi
if ! command -v mvn >/dev/null 2>&1; then
  echo "tools: mvn not found: cannot build the fixture job" >&2
  exit 1
fi
echo "tools: building fixture job for flink $v (mvn -q package) ..."
start=$SECONDS
build=$cache/fixture/.build-$v
rm -rf "$build"
# (Debian's Maven prints bare colour resets even with -B -q: strip them.)
mvn -q -B -f "$here/pom.xml" -Dflink.version="$v" -Dfixture.buildDir="$build" package 2>&1 | sed -e 's/\x1b\[[0-9;]*m//g'
mkdir -p "$dest"
cp "$build/fixture-job.jar" "$dest/fixture-job.jar.tmp"
mv "$dest/fixture-job.jar.tmp" "$dest/fixture-job.jar"
echo "$pin" >"$dest/.pin"
rm -rf "$build"
echo "tools: built fixture job for flink $v in $((SECONDS - start))s ($dest/fixture-job.jar)"
