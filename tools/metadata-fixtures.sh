#!/usr/bin/env bash
# Generates real checkpoint and savepoint _metadata files, written by real Flink, for the tests
# of internal/snapshots/metadata (docs/design.md §8). Called by tools/install.sh (make tools)
# right after tools/flink.sh; can also be run on its own.
#
# For every Flink version that tools/flink.sh fetched (a directory of the tool cache's flink/
# with a .pin file), test/metadata-fixtures is built against that version's own flink-dist jar
# (mvn -q package) and run in one JVM: it runs a small job on in-process MiniClusters, one per
# state backend or checkpoint setting, and copies the _metadata of the snapshots they take to
#
#   ${FLINK_TOOLS_CACHE:-~/.cache/terraform-provider-flink}/metadata/<version>/<pin>/<variant>-<kind>/_metadata
#
# beside expected.json (what the job configured, what each snapshot is) and generate.log (each
# run's time, Flink's errors). <pin> is a hash of the generator's sources, which the Go tests
# compute the same way (metadata_test.go, generatorPin): a version already generated from the
# same sources is skipped, so a second run is a no-op, and worktrees with different generator
# sources do not overwrite each other's files.
#
# Environment:
#   FLINK_TOOLS_SKIP_FLINK=1  skip (as tools/flink.sh does: no Flink, nothing to generate from)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
src=$root/test/metadata-fixtures
cache=${FLINK_TOOLS_CACHE:-$HOME/.cache/terraform-provider-flink}

if [[ ${FLINK_TOOLS_SKIP_FLINK:-} == 1 ]]; then
  echo "tools: FLINK_TOOLS_SKIP_FLINK=1: no metadata fixtures"
  exit 0
fi
fetched=()
for dir in "$cache"/flink/*/; do
  v=$(basename "$dir")
  if [[ -f $dir/.pin && -f $dir/lib/flink-dist-$v.jar ]]; then
    fetched+=("$v")
  fi
done
if [[ ${#fetched[@]} -eq 0 ]]; then
  echo "tools: no Flink fetched: no metadata fixtures"
  exit 0
fi
for cmd in java mvn; do
  if ! command -v "$cmd" >/dev/null 2>&1; then
    # Flink was fetched, so its tests expect the fixtures: fail rather than let them fail later.
    echo "tools: '$cmd' not found: cannot generate the metadata fixtures" >&2
    exit 1
  fi
done

# The pin: sha256 over "sha256sum" lines of pom.xml and src/, in byte order of their paths.
pin=$(cd "$src" && { find pom.xml src -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; } | sha256sum | cut -c1-16)

# generate VERSION: builds the generator against Flink VERSION and runs it.
generate() {
  local v=$1
  local home=$cache/flink/$v
  local dest=$cache/metadata/$v/$pin
  if [[ -f $dest/expected.json ]]; then
    echo "tools: metadata fixtures for flink $v up to date ($dest)"
    return
  fi
  echo "tools: generating metadata fixtures for flink $v ..."
  local start=$SECONDS
  mkdir -p "$cache/metadata/$v"
  rm -rf "$cache/metadata/$v"/.build.* # left by an interrupted run
  # A directory of its own: an interrupted run leaves no half-written fixtures behind, and two
  # runs at once do not clean each other's.
  local build
  build=$(mktemp -d "$cache/metadata/$v/.build.XXXXXX")
  # (Debian's Maven prints bare colour resets even with -B -q: strip them.)
  mvn -q -B -f "$src/pom.xml" -Dflink.version="$v" -Dflink.home="$home" -Dfixtures.buildDir="$build/target" package 2>&1 |
    sed -e 's/\x1b\[[0-9;]*m//g' >&2
  # The JVM options the distribution itself starts Flink with on Java 17 (--add-opens ...).
  local opts
  mapfile -t opts < <(grep -hoE -- '--add-(opens|exports)=[^ ]+' "$home"/conf/* | sort -u)
  mkdir -p "$build/out"
  # A short-lived JVM: C1 only and the serial collector start faster and keep to fewer threads
  # (half the time on a busy 2-core machine).
  if ! java "${opts[@]}" -Xmx768m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp "$build/target/metadata-fixtures.jar:$home/lib/*" \
    flinkplatform.metadatafixtures.GenerateFixtures "$build/out" "$v" >"$build/out/generate.log" 2>&1; then
    echo "tools: generating metadata fixtures for flink $v failed; the end of its log ($build/out/generate.log):" >&2
    tail -n 40 "$build/out/generate.log" >&2
    return 1
  fi
  if [[ ! -e $dest ]]; then
    mv "$build/out" "$dest"
  fi
  rm -rf "$build"
  echo "tools: generated metadata fixtures for flink $v in $((SECONDS - start))s ($dest)"
}

start=$SECONDS
for v in "${fetched[@]}"; do
  generate "$v"
done
echo "tools: metadata fixtures ready in $cache/metadata ($((SECONDS - start))s)"
