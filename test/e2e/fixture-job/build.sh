#!/usr/bin/env bash
# build.sh FLINK_VERSION: builds the fixture job against Flink FLINK_VERSION (Flink jars from
# Maven Central, scope provided) into
#
#   ${FLINK_TOOLS_CACHE:-~/.cache/terraform-provider-flink}/fixture/<version>/<pin>/fixture-job.jar
#
# where <pin> is a hash of the version and the sources, and prints that path (its only line on
# stdout; progress goes to stderr). A jar built from the same sources and version is not
# rebuilt. One directory per pin: worktrees with different fixture sources share the cache
# without rebuilding over each other's jar. The jar holds the entry classes
# flinkplatform.fixture.CounterJob, CounterJobPlus, CounterJobMinus, CounterJobNoUids and
# CounterJobNoUidsV2.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
v=${1:?usage: build.sh FLINK_VERSION}
cache=${FLINK_TOOLS_CACHE:-$HOME/.cache/terraform-provider-flink}
pin=$(cd "$here" && { echo "flink $v"; find pom.xml src -type f -print0 | sort -z | xargs -0 sha256sum; } | sha256sum | cut -c1-16)
dest=$cache/fixture/$v/$pin
jar=$dest/fixture-job.jar

if [[ -f $jar ]]; then
  echo "tools: fixture job for flink $v up to date ($jar)" >&2
  echo "$jar"
  exit 0
fi
if ! command -v mvn >/dev/null 2>&1; then
  echo "tools: mvn not found: cannot build the fixture job" >&2
  exit 1
fi
echo "tools: building fixture job for flink $v (mvn -q package) ..." >&2
start=$SECONDS
mkdir -p "$cache/fixture"
# A build directory of its own: two builds at once must not clean each other's.
build=$(mktemp -d "$cache/fixture/.build-$v.XXXXXX")
trap 'rm -rf "$build"' EXIT
# Flink 1.18's flink-dist lacks the DataGen source the job uses: the jar carries it (pom.xml).
profiles=()
case "$v" in 1.18.*) profiles=(-Pbundle-datagen) ;; esac
# (Debian's Maven prints bare colour resets even with -B -q: strip them.)
mvn -q -B -f "$here/pom.xml" "${profiles[@]}" -Dflink.version="$v" -Dfixture.buildDir="$build" package 2>&1 | sed -e 's/\x1b\[[0-9;]*m//g' >&2
mkdir -p "$dest"
cp "$build/fixture-job.jar" "$jar.tmp.$$"
mv "$jar.tmp.$$" "$jar"
echo "tools: built fixture job for flink $v in $((SECONDS - start))s ($jar)" >&2
echo "$jar"
