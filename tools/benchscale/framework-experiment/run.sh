#!/usr/bin/env bash
# Runs make bench-scale's measurement with terraform-plugin-framework patched so that looking
# up one attribute by name does not copy the schema's attribute and block maps
# (lookup-without-copy.patch): how much of the provider's plan cost a framework fix would
# remove (BENCHMARKS.md). An experiment, never a build of the provider: it patches a copy of
# the framework from the module cache and builds a copy of this checkout against it.
#   tools/benchscale/framework-experiment/run.sh -sizes 50 -plans 3
set -euo pipefail
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
cd "$repo"
fw_version=$(go list -m -f '{{.Version}}' github.com/hashicorp/terraform-plugin-framework)
work=$(mktemp -d "${TMPDIR:-/tmp}/flink-framework-experiment-XXXX")
trap 'rm -rf "$work"' EXIT
echo "framework-experiment: terraform-plugin-framework $fw_version patched, in $work"
go mod download github.com/hashicorp/terraform-plugin-framework
cp -r "$(go env GOMODCACHE)/github.com/hashicorp/terraform-plugin-framework@$fw_version" "$work/framework"
chmod -R u+w "$work/framework"
patch -d "$work/framework" -p1 < tools/benchscale/framework-experiment/lookup-without-copy.patch
# The checkout as it is, uncommitted changes included.
tar --exclude=.git -cf - . | (mkdir "$work/repo" && cd "$work/repo" && tar -xf -)
cd "$work/repo"
go mod edit -replace "github.com/hashicorp/terraform-plugin-framework=$work/framework"
go run ./tools/benchscale "$@"
