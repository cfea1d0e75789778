#!/usr/bin/env bash
# Builds the pinned binaries the tests run against into a cache outside the repository:
# terraform, tofu (1.10 and 1.11), etcd, kube-apiserver, kube-controller-manager (DESIGN.md §7),
# golangci-lint (make lint), then fetches real Flink and builds the fixture job (tools/flink.sh).
# Everything comes from the Go module proxy; a binary whose pin is unchanged is not rebuilt,
# so a second run is a no-op.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${FLINK_TOOLS_CACHE:-$HOME/.cache/terraform-provider-flink}
bin=$cache/bin
mkdir -p "$bin"

TERRAFORM_VERSION=1.8.5
GOLANGCI_LINT_VERSION=2.15.0

# build NAME PIN CMD...: runs CMD unless bin/NAME was built from the same PIN.
build() {
  local name=$1 pin=$2
  shift 2
  if [[ -x $bin/$name && "$(cat "$bin/.$name.pin" 2>/dev/null)" == "$pin" ]]; then
    echo "tools: $name up to date ($pin)"
    return
  fi
  echo "tools: building $name ($pin) ..."
  local start=$SECONDS
  "$@"
  echo "$pin" >"$bin/.$name.pin"
  echo "tools: built $name in $((SECONDS - start))s"
}

pin_of() { # a pin that changes whenever the module's go.mod/go.sum change
  cat "$here/$1/go.mod" "$here/$1/go.sum" | sha256sum | cut -c1-16
}

# Without the ldflag terraform reports itself as 1.8.5-dev. Later releases carry replace
# directives and cannot be built from the module proxy.
build terraform "v$TERRAFORM_VERSION" env GOBIN="$bin" CGO_ENABLED=0 go install -trimpath \
  -ldflags "-X github.com/hashicorp/terraform/version.dev=no" \
  "github.com/hashicorp/terraform@v$TERRAFORM_VERSION"

# golangci-lint's own go.mod pins its linters; built from source rather than downloaded as a
# release binary so that it is compiled by the same Go as the code it checks.
build golangci-lint "v$GOLANGCI_LINT_VERSION" env GOBIN="$bin" CGO_ENABLED=0 go install -trimpath \
  "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v$GOLANGCI_LINT_VERSION"

build etcd "$(pin_of etcd)" bash -c "cd '$here/etcd' && CGO_ENABLED=0 go build -trimpath -o '$bin/etcd' ."

build versitygw "$(pin_of s3)" bash -c \
  "cd '$here/s3' && CGO_ENABLED=0 go build -trimpath -o '$bin/versitygw' github.com/versity/versitygw/cmd/versitygw"

build kube-apiserver "$(pin_of kube)" bash -c \
  "cd '$here/kube' && CGO_ENABLED=0 go build -trimpath -o '$bin/kube-apiserver' k8s.io/kubernetes/cmd/kube-apiserver"

build kube-controller-manager "$(pin_of kube)" bash -c \
  "cd '$here/kube' && CGO_ENABLED=0 go build -trimpath -o '$bin/kube-controller-manager' k8s.io/kubernetes/cmd/kube-controller-manager"

# The real node of FLINK_RUNTIME=node (internal/acctest/node.go): kubelet, kube-scheduler and
# kube-proxy from the same Kubernetes release as the API server, and cluster DNS (CoreDNS with
# the plugins the node uses). containerd, runc, the CNI plugins, iptables and conntrack come
# from Debian's packages (.ci/run installs them); node_packages below names what is missing.
for b in kubelet kube-scheduler kube-proxy; do
  build "$b" "$(pin_of kube)" bash -c \
    "cd '$here/kube' && CGO_ENABLED=0 go build -trimpath -o '$bin/$b' k8s.io/kubernetes/cmd/$b"
done
build coredns "$(pin_of coredns)" bash -c "cd '$here/coredns' && CGO_ENABLED=0 go build -trimpath -o '$bin/coredns' ."

build tofu "$(pin_of tofu)-release" bash -c \
  "cd '$here/tofu' && CGO_ENABLED=0 go build -trimpath -ldflags \"-X github.com/opentofu/opentofu/version.dev=no\" -o '$bin/tofu' github.com/opentofu/opentofu/cmd/tofu"

# OpenTofu 1.11, the first release that keeps write-only arguments out of state: the write-only
# acceptance tests run with it (make testacc-tofu-writeonly). Built like 1.10 from its own
# wrapper module (tools/tofu111 repeats v1.11's godebug and replace directives); about 7
# minutes on 2 cores with an empty build cache.
build tofu-1.11 "$(pin_of tofu111)-release" bash -c \
  "cd '$here/tofu111' && CGO_ENABLED=0 go build -trimpath -ldflags \"-X github.com/opentofu/opentofu/version.dev=no\" -o '$bin/tofu-1.11' github.com/opentofu/opentofu/cmd/tofu"

# node_packages: the Debian packages the real node runs; missing ones are named, not fatal:
# only FLINK_RUNTIME=node needs them.
node_packages() {
  local missing=() c
  for c in containerd runc iptables conntrack nsenter; do
    command -v "$c" >/dev/null || missing+=("$c")
  done
  [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local ]] || missing+=("CNI plugins (/usr/lib/cni)")
  if ((${#missing[@]})); then
    echo "tools: the real node (FLINK_RUNTIME=node) needs ${missing[*]}:" \
      "apt-get install containerd runc containernetworking-plugins iptables conntrack util-linux"
  else
    echo "tools: real node packages present ($(containerd --version | cut -d' ' -f3), runc $(runc --version | sed -n '1s/.* //p'))"
  fi
}
node_packages

"$bin/terraform" version | sed -n 1p
"$bin/tofu" version | sed -n 1p
"$bin/tofu-1.11" version | sed -n 1p
"$bin/golangci-lint" version
echo "tools: ready in $bin"

# Real Flink (PyPI's apache-flink-libraries) and the fixture job built against it, for
# FLINK_RUNTIME=real tests: see tools/flink.sh.
"$here/flink.sh"

# Real checkpoint and savepoint _metadata files of every fetched Flink version, for the tests of
# internal/snapshots/metadata: see tools/metadata-fixtures.sh.
"$here/metadata-fixtures.sh"
"$here/node-images.sh"
