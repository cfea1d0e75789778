#!/usr/bin/env bash
# Regenerates docs/ with tfplugindocs and the pinned terraform from `make tools`, whatever the
# caller's PATH holds: tfplugindocs reads the schema through `terraform providers schema -json`,
# and a newer CLI on the PATH (1.11+ knows write-only attributes) renders different docs than
# the one CI's docs-check uses.
set -euo pipefail
cache=${FLINK_TOOLS_CACHE:-$HOME/.cache/terraform-provider-flink}
[[ -x $cache/bin/terraform ]] || { echo "no pinned terraform in $cache/bin: run 'make tools'" >&2; exit 1; }
export PATH=$cache/bin:$PATH
cd "$(dirname "$0")"
terraform fmt -recursive ../../examples/
go run github.com/hashicorp/terraform-plugin-docs/cmd/tfplugindocs generate --provider-dir ../.. --provider-name flink
