#!/usr/bin/env bash
# Builds the container images of the real test node (containerd + kubelet), without a
# container engine, from Debian's packages, the Flink distributions tools/flink.sh fetched,
# the fixture job and programs of our own (tools/image). Called by tools/install.sh (make
# tools); can also be run on its own. Everything lands in
#
#   ${FLINK_TOOLS_CACHE:-~/.cache/terraform-provider-flink}/images/
#     base/                 Debian bookworm (debootstrap minbase) + OpenJDK 17 JRE and what
#                           Flink's start needs; user flink (uid/gid 9999)
#     pause.tar             registry.k8s.io/pause:3.10 (tools/image/pause, static)
#     flink-<version>.tar   docker.io/library/flink:<major.minor>-java17 and
#                           docker.io/library/flink:<version>-java17: base + /opt/flink (the
#                           distribution as fetched, plugins/ included) + the fixture job in
#                           /opt/flink/usrlib/fixture-job.jar + /docker-entrypoint.sh
#                           (tools/image/flink/docker-entrypoint.sh)
#
# as docker-save archives for `ctr -n NAMESPACE images import`. Each piece records the pin of
# its inputs and is rebuilt only when that changes, so a second run is a no-op.
#
# Environment:
#   NODE_FLINK_VERSIONS  Flink versions to build images for (default "1.20 2.3"); "2.3" is the
#                        newest fetched 2.3.x, as FLINK_VERSION matches them
#   NODE_DEBIAN_MIRROR   the Debian mirror debootstrap uses (default: the one apt uses)
#   NODE_IMAGES_SKIP=1   skip all of this
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cache=${FLINK_TOOLS_CACHE:-$HOME/.cache/terraform-provider-flink}
images=$cache/images
versions=${NODE_FLINK_VERSIONS:-"1.20 2.3"}

suite=bookworm
# On top of minbase (which has bash, coreutils, sed, grep, util-linux's setpriv, passwd):
# the JRE, CA certificates, ps/top for debugging, envsubst (FLINK_PROPERTIES), jemalloc (the
# official image's allocator), /etc/services and /etc/protocols.
base_packages=(openjdk-17-jre-headless ca-certificates procps gettext-base libjemalloc2 netbase)
java_home=/usr/lib/jvm/java-17-openjdk-amd64
flink_uid=9999
pause_tag=registry.k8s.io/pause:3.10

if [[ ${NODE_IMAGES_SKIP:-} == 1 ]]; then
  echo "tools: NODE_IMAGES_SKIP=1: not building the node images"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "tools: WARNING: 'go' not found: the node images are not built" >&2
  exit 0
fi
mkdir -p "$images"
# One build at a time (make tools and a test harness may both run this).
exec 9>"$images/.lock"
flock 9

hash_of() { sha256sum | cut -c1-16; }
up_to_date() { # up_to_date FILE PIN: FILE exists and was built from PIN
  [[ -e $1 && "$(cat "$1.pin" 2>/dev/null)" == "$2" ]]
}

# debian_mirror: the first Debian mirror apt is configured with.
debian_mirror() {
  local m
  m=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\)\/\{0,1\}$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 1p)
  [[ -n $m ]] || m=$(sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\{0,1\}\([^[:space:]]*\/debian\)\/\{0,1\}[[:space:]].*/\2/p' /etc/apt/sources.list 2>/dev/null | sed -n 1p)
  echo "${m:-http://deb.debian.org/debian}"
}

# unmount_under DIR: unmounts whatever an interrupted debootstrap left mounted below DIR.
unmount_under() {
  local m
  for m in $(awk -v d="$1/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
}

# build_base DEST MIRROR: the base root filesystem. Its text is part of the base's pin.
build_base() {
  local dest=$1 mirror=$2 tmp rootfs
  tmp=$(mktemp -d "$images/.base.XXXXXX")
  rootfs=$tmp/rootfs
  # shellcheck disable=SC2064 # expand now: the trap outlives this function's locals
  trap "unmount_under '$tmp'; rm -rf --one-file-system '$tmp'" EXIT
  if ! debootstrap --variant=minbase --components=main --include="$(
    IFS=,
    echo "${base_packages[*]}"
  )" "$suite" "$rootfs" "$mirror" >"$tmp/debootstrap.log" 2>&1; then
    echo "tools: debootstrap failed; last lines of its log:" >&2
    tail -n 30 "$tmp/debootstrap.log" >&2
    tail -n 30 "$rootfs/debootstrap/debootstrap.log" >&2 2>/dev/null || true
    return 1
  fi
  unmount_under "$tmp"
  chroot "$rootfs" groupadd --gid "$flink_uid" flink
  chroot "$rootfs" useradd --uid "$flink_uid" --gid flink --home-dir /opt/flink --no-create-home \
    --shell /bin/bash flink
  [[ -x $rootfs$java_home/bin/java ]] || {
    echo "tools: the base has no $java_home/bin/java" >&2
    return 1
  }
  # Small: no package lists or caches, documentation, manuals, translations or logs; /dev,
  # /etc/hostname and /etc/resolv.conf come from the container runtime.
  rm -rf --one-file-system "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/cache/debconf/*-old \
    "$rootfs"/var/cache/ldconfig/* "$rootfs"/var/log/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* \
    "$rootfs"/usr/share/info/* "$rootfs"/usr/share/lintian/* "$rootfs"/usr/share/locale/* "$rootfs"/dev/* \
    "$rootfs"/tmp/* "$rootfs"/var/tmp/* "$rootfs"/etc/hostname "$rootfs"/etc/resolv.conf "$rootfs"/debootstrap
  mkdir -p "$rootfs/opt"
  rm -rf --one-file-system "$dest"
  mv "$rootfs" "$dest"
  trap - EXIT
  rm -rf --one-file-system "$tmp"
}

step() { # step NAME: prints the time since the last step
  local now=$SECONDS
  echo "tools: $1 in $((now - step_start))s"
  step_start=$SECONDS
}

total_start=$SECONDS
step_start=$SECONDS

# --- the base root filesystem -----------------------------------------------------------------
base=$images/base
base_pin=$({
  echo "$suite ${base_packages[*]} $java_home $flink_uid"
  declare -f build_base
} | hash_of)
if up_to_date "$base" "$base_pin"; then
  echo "tools: image base up to date ($base_pin)"
else
  if [[ $(id -u) != 0 ]] || ! command -v debootstrap >/dev/null 2>&1; then
    echo "tools: WARNING: building the node images needs root and debootstrap: not built" >&2
    exit 0
  fi
  mirror=${NODE_DEBIAN_MIRROR:-$(debian_mirror)}
  echo "tools: building image base ($base_pin: debootstrap $suite from $mirror + ${base_packages[*]}) ..."
  rm -f "$base.pin"
  build_base "$base" "$mirror"
  echo "$base_pin" >"$base.pin"
  step "built image base ($(du -sh "$base" | cut -f1))"
fi

# --- the image writer -------------------------------------------------------------------------
tool=$images/bin/image
tool_pin=$(cat "$here/image/go.mod" "$here/image/go.sum" "$here/image/main.go" | hash_of)
if up_to_date "$tool" "$tool_pin"; then
  echo "tools: image writer up to date ($tool_pin)"
else
  mkdir -p "$images/bin"
  (cd "$here/image" && CGO_ENABLED=0 go build -trimpath -o "$tool" .)
  echo "$tool_pin" >"$tool.pin"
  step "built the image writer"
fi

# --- pause ------------------------------------------------------------------------------------
pause=$images/pause.tar
pause_pin=$(cat "$here/image/pause/"*.go | { cat; echo "$tool_pin $pause_tag"; } | hash_of)
if up_to_date "$pause" "$pause_pin"; then
  echo "tools: image $pause_tag up to date ($pause)"
else
  stage=$(mktemp -d "$images/.pause.XXXXXX")
  (cd "$here/image" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$stage/pause" ./pause)
  "$tool" -o "$pause.tmp" -tag "$pause_tag" -entrypoint /pause -user 65535:65535 -layer "$stage:/"
  mv "$pause.tmp" "$pause"
  echo "$pause_pin" >"$pause.pin"
  rm -rf "$stage"
  step "built image $pause_tag ($(du -h "$pause" | cut -f1))"
fi

# --- Flink ------------------------------------------------------------------------------------
# fetched_release VERSION: the fetched Flink release VERSION names (acctest.fetchedRelease):
# itself, or for a major.minor the newest fetched patch release of it.
fetched_release() {
  local v=$1 f newest=""
  while read -r f; do
    if [[ $f == "$v" || ($v != *.*.* && $f == "$v".*) ]]; then newest=$f; fi
  done < <(for d in "$cache"/flink/*/; do
    d=${d%/}
    d=${d##*/}
    [[ -f $cache/flink/$d/lib/flink-dist-$d.jar ]] && echo "$d"
  done | sort -t. -k1,1n -k2,2n -k3,3n)
  echo "$newest"
}

# image_conf VERSION DIST OUT: the image's default configuration: the distribution's, bound to
# every interface as the official image's is (rest.address, rest.bind-address,
# jobmanager.bind-host and taskmanager.bind-host 0.0.0.0, no taskmanager.host), and a
# log4j-console.properties that logs to the console.
image_conf() {
  local v=$1 dist=$2 out=$3
  mkdir -p "$out"
  if [[ -f $dist/conf/flink-conf.yaml ]]; then
    sed -e 's/^rest.address: localhost/rest.address: 0.0.0.0/' \
      -e 's/^rest.bind-address: localhost/rest.bind-address: 0.0.0.0/' \
      -e 's/^jobmanager.bind-host: localhost/jobmanager.bind-host: 0.0.0.0/' \
      -e 's/^taskmanager.bind-host: localhost/taskmanager.bind-host: 0.0.0.0/' \
      -e '/^taskmanager.host: localhost/d' "$dist/conf/flink-conf.yaml" >"$out/flink-conf.yaml"
  else
    local result
    result=$(java -classpath "$dist/bin/bash-java-utils.jar:$dist/lib/flink-dist-$v.jar" \
      org.apache.flink.runtime.util.bash.BashJavaUtils UPDATE_AND_GET_FLINK_CONFIGURATION --configDir "$dist/conf" \
      -repKV rest.address,localhost,0.0.0.0 -repKV rest.bind-address,localhost,0.0.0.0 \
      -repKV jobmanager.bind-host,localhost,0.0.0.0 -repKV taskmanager.bind-host,localhost,0.0.0.0 \
      -rmKV taskmanager.host=localhost 2>&1)
    if ! grep -q '^BASH_JAVA_UTILS_EXEC_RESULT:' <<<"$result"; then
      echo "tools: BashJavaUtils could not rewrite Flink $v's configuration:" >&2
      echo "$result" >&2
      return 1
    fi
    sed -n 's/^BASH_JAVA_UTILS_EXEC_RESULT://p' <<<"$result" >"$out/config.yaml"
  fi
  cp "$here/image/flink/log4j-console.properties" "$out/"
}

# build_flink VERSION DIST JAR OUT: the Flink image. Its text is part of each image's pin.
build_flink() {
  local v=$1 dist=$2 jar=$3 out=$4 mm stage
  mm=$(cut -d. -f1-2 <<<"$v")
  stage=$(mktemp -d "$images/.flink-$v.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$stage'" EXIT
  # Owned by flink as in the official image: usrlib/ (the job), log/ (log4j's file appender,
  # when a configuration has one), conf/ (the default configuration, written over by the
  # entrypoint unless a read-only ConfigMap is mounted there).
  mkdir -p "$stage/flink/usrlib" "$stage/flink/log" "$stage/entry"
  cp "$jar" "$stage/flink/usrlib/fixture-job.jar"
  image_conf "$v" "$dist" "$stage/flink/conf"
  install -m 0755 "$here/image/flink/docker-entrypoint.sh" "$stage/entry/docker-entrypoint.sh"
  "$tool" -o "$out.tmp" -tag "docker.io/library/flink:$mm-java17" -tag "docker.io/library/flink:$v-java17" \
    -entrypoint /docker-entrypoint.sh -cmd help -workdir /opt/flink -user "$flink_uid" \
    -env "PATH=/opt/flink/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    -env "JAVA_HOME=$java_home" -env FLINK_HOME=/opt/flink -env LANG=C.UTF-8 \
    -layer "$base:/:keep" \
    -layer "$dist:/opt/flink:$flink_uid:$flink_uid" \
    -layer "$stage/flink:/opt/flink:$flink_uid:$flink_uid" \
    -layer "$stage/entry:/"
  mv "$out.tmp" "$out"
  trap - EXIT
  rm -rf "$stage"
}

flink_built=()
for want in $versions; do
  v=$(fetched_release "$want")
  if [[ -z $v ]]; then
    echo "tools: WARNING: Flink $want is not fetched into $cache/flink (tools/flink.sh): no image for it" >&2
    continue
  fi
  dist=$cache/flink/$v
  if ! jar=$("$root/test/e2e/fixture-job/build.sh" "$v" 2>"$images/.fixture-$v.log"); then
    echo "tools: WARNING: the fixture job for Flink $v does not build (test/e2e/fixture-job/build.sh): no image for it" >&2
    tail -n 20 "$images/.fixture-$v.log" >&2
    continue
  fi
  rm -f "$images/.fixture-$v.log"
  out=$images/flink-$v.tar
  pin=$({
    echo "$base_pin $tool_pin $v"
    declare -f build_flink image_conf
    cat "$here/image/flink/docker-entrypoint.sh" "$here/image/flink/log4j-console.properties"
    (cd "$dist" && find . -printf '%p %s %T@ %m %l\n' | LC_ALL=C sort)
    sha256sum <"$jar"
  } | hash_of)
  if up_to_date "$out" "$pin"; then
    echo "tools: image flink:$v-java17 up to date ($out)"
  else
    rm -f "$out.pin"
    build_flink "$v" "$dist" "$jar" "$out"
    echo "$pin" >"$out.pin"
    step "built image flink:$v-java17 ($(du -h "$out" | cut -f1))"
  fi
  flink_built+=("$v")
done
echo "tools: node images ready in $images (flink ${flink_built[*]:-none}; $((SECONDS - total_start))s)"
