#!/usr/bin/env bash
# Entrypoint of the test node's Flink image (tools/node-images.sh). Written for this project
# after the public contract of the official `flink` image:
#
#   standalone-job ARGS...  a JobManager of an application cluster (Flink's
#                           StandaloneApplicationClusterEntryPoint; ARGS as Flink's
#                           standalone-job.sh takes them: --jars, --job-classname, --job-id,
#                           --fromSavepoint, --allowNonRestoredState, -Dkey=value, job arguments)
#   jobmanager ARGS...      a JobManager of a session cluster (StandaloneSessionClusterEntrypoint)
#   taskmanager ARGS...     a TaskManager (TaskManagerRunner)
#   help                    this text (the image's default command)
#   anything else           run as a command (e.g. /bin/sh -c '...')
#
# Each Flink process starts as Flink's own start-foreground scripts (config.sh,
# standalone-job.sh / jobmanager.sh / taskmanager.sh, flink-console.sh) start it: JVM options
# from the configuration (env.java.opts.all, env.java.default-opts.*, env.java.opts.<role>), the
# memory flags and dynamic properties from BashJavaUtils, the classpath of lib/ with flink-dist
# last, log4j-console.properties, and `exec`, so the JVM replaces this script as the
# container's process and gets its signals.
#
# Configuration: $FLINK_CONF_DIR, by default /opt/flink/conf: config.yaml (Flink 1.19 on;
# flink-conf.yaml when there is no config.yaml) or flink-conf.yaml (Flink 1.18). The
# directory is only read; when something is to be added (the environment below), the
# configuration is copied to /tmp/flink-conf (Kubernetes mounts a ConfigMap read-only, and a
# writable mount must not grow with every container restart), changed there, and
# FLINK_CONF_DIR points there. Environment:
#
#   FLINK_PROPERTIES                   "key: value" lines added to the configuration (values
#                                      go through envsubst; a key already set is replaced)
#   JOB_MANAGER_RPC_ADDRESS            jobmanager.rpc.address (only when set: unlike the official
#                                      image, never the container's host name by default)
#   TASK_MANAGER_NUMBER_OF_TASK_SLOTS  taskmanager.numberOfTaskSlots
#   DISABLE_JEMALLOC=true              the Flink JVMs use glibc's malloc, not jemalloc
#   JVM_ARGS, FLINK_ENV_JAVA_OPTS, FLINK_ENV_JAVA_OPTS_JM, FLINK_ENV_JAVA_OPTS_TM, FLINK_LOG_DIR,
#   HADOOP_CLASSPATH, HADOOP_CONF_DIR, YARN_CONF_DIR: as for Flink's scripts
#
# Started as root, it runs itself again as the user flink (9999), as the official image does.
set -eo pipefail

export FLINK_HOME=${FLINK_HOME:-/opt/flink}
FLINK_LIB_DIR=${FLINK_LIB_DIR:-$FLINK_HOME/lib}
FLINK_OPT_DIR=${FLINK_OPT_DIR:-$FLINK_HOME/opt}
FLINK_PLUGINS_DIR=${FLINK_PLUGINS_DIR:-$FLINK_HOME/plugins}
FLINK_BIN_DIR=$FLINK_HOME/bin
export FLINK_LIB_DIR FLINK_OPT_DIR FLINK_PLUGINS_DIR FLINK_BIN_DIR
writable_conf=/tmp/flink-conf
utils_prefix=BASH_JAVA_UTILS_EXEC_RESULT:

dist_jar() {
  local jars=("$FLINK_LIB_DIR"/flink-dist*.jar)
  [[ -f ${jars[0]} ]] || fail "no flink-dist jar in $FLINK_LIB_DIR"
  ((${#jars[@]} == 1)) || fail "several flink-dist jars in $FLINK_LIB_DIR: ${jars[*]}"
  echo "${jars[0]}"
}
flink_version() {
  local v
  v=$(basename "$(dist_jar)" .jar)
  echo "${v#flink-dist-}"
}
usage() {
  cat <<EOF
Usage: $(basename "$0") standalone-job|jobmanager|taskmanager [Flink arguments...]
       $(basename "$0") COMMAND [ARGS...]   (runs COMMAND)
Flink $(flink_version 2>/dev/null || echo '?') in $FLINK_HOME; configuration in ${FLINK_CONF_DIR:-$FLINK_HOME/conf}.
By default the Flink JVMs use jemalloc; DISABLE_JEMALLOC=true turns that off.
EOF
}

fail() {
  echo "$(basename "$0"): $*" >&2
  exit 1
}

if [[ $(id -u) == 0 ]] && id flink >/dev/null 2>&1; then
  exec setpriv --reuid=flink --regid=flink --init-groups -- "$0" "$@"
fi

case ${1:-help} in
standalone-job)
  service=standalonejob role=jobmanager utils_cmd=GET_JM_RESOURCE_PARAMS
  class=org.apache.flink.container.entrypoint.StandaloneApplicationClusterEntryPoint
  ;;
jobmanager)
  service=standalonesession role=jobmanager utils_cmd=GET_JM_RESOURCE_PARAMS
  class=org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint
  ;;
taskmanager)
  service=taskexecutor role=taskmanager utils_cmd=GET_TM_RESOURCE_PARAMS
  class=org.apache.flink.runtime.taskexecutor.TaskManagerRunner
  ;;
help | -h | --help)
  usage
  exit 0
  ;;
*)
  exec "$@"
  ;;
esac
shift
user_args=("$@")

# --- the distribution -------------------------------------------------------------------------
FLINK_DIST=$(dist_jar)
version=$(flink_version)
major=${version%%.*}
minor=${version#*.}
minor=${minor%%.*}
# Flink 1.18 reads only flink-conf.yaml (a flat "key: value" file); from 1.19 on config.yaml
# (standard YAML), or flink-conf.yaml when there is no config.yaml.
standard_yaml=true
if ((major == 1 && minor < 19)); then standard_yaml=false; fi

# runs BashJavaUtils as Flink's bash-java-utils.sh does: java -classpath
# bin/bash-java-utils.jar:flink-dist BashJavaUtils COMMAND --configDir DIR ARGS...; the output
# (stdout and stderr) goes to stdout.
bash_java_utils() {
  local cmd=$1 dir=$2
  shift 2
  "$JAVA_RUN" -classpath "$FLINK_BIN_DIR/bash-java-utils.jar:$FLINK_DIST" \
    org.apache.flink.runtime.util.bash.BashJavaUtils "$cmd" --configDir "$dir" "$@" 2>&1 | tail -n 1000 || true
}
utils_results() { sed -n "s/^$utils_prefix//p"; }

# --- Java ---------------------------------------------------------------------------------------
src_conf=${FLINK_CONF_DIR:-$FLINK_HOME/conf}
conf_file_in() { # the configuration file Flink reads in directory $1
  if [[ $standard_yaml == false ]]; then
    echo "$1/flink-conf.yaml"
  elif [[ ! -e $1/config.yaml && -e $1/flink-conf.yaml ]]; then
    echo "$1/flink-conf.yaml"
  else
    echo "$1/config.yaml"
  fi
}
# A flat key of the file itself (as Flink's readFromConfigFile: env.java.home must be flat).
read_file_key() {
  local key=$1 default=$2 file=$3 value=""
  if [[ -r $file ]]; then value=$(sed -n "s/^[ ]*${key}[ ]*: \([^#]*\).*$/\1/p" "$file" | sed "s/^ *//;s/ *$//" | tail -n 1); fi
  echo "${value:-$default}"
}
java_home=$(read_file_key env.java.home "" "$(conf_file_in "$src_conf")")
JAVA_HOME=${java_home:-$JAVA_HOME}
export JAVA_HOME
if [[ -n $JAVA_HOME && -d $JAVA_HOME ]]; then JAVA_RUN=$JAVA_HOME/bin/java; else JAVA_RUN=java; fi

if [[ ${DISABLE_JEMALLOC:-false} == false ]]; then
  for so in "/usr/lib/$(uname -m)-linux-gnu/libjemalloc.so.2" /usr/lib/x86_64-linux-gnu/libjemalloc.so.2; do
    if [[ -f $so ]]; then
      export LD_PRELOAD=${LD_PRELOAD:+$LD_PRELOAD:}$so
      break
    fi
  done
fi

# --- the configuration ------------------------------------------------------------------------
# What the environment adds: keys and values, in order.
add_keys=() add_values=()
add() {
  add_keys+=("$1")
  add_values+=("$2")
}
if [[ -n ${JOB_MANAGER_RPC_ADDRESS:-} ]]; then add jobmanager.rpc.address "$JOB_MANAGER_RPC_ADDRESS"; fi
if [[ -n ${TASK_MANAGER_NUMBER_OF_TASK_SLOTS:-} ]]; then add taskmanager.numberOfTaskSlots "$TASK_MANAGER_NUMBER_OF_TASK_SLOTS"; fi
if [[ -n ${FLINK_PROPERTIES:-} ]]; then
  while IFS= read -r line || [[ -n $line ]]; do
    line=${line%$'\r'}
    [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
    [[ $line == *:* ]] || fail "FLINK_PROPERTIES: '$line' is not 'key: value'"
    key=${line%%:*} value=${line#*:}
    key=$(sed 's/^[[:space:]]*//;s/[[:space:]]*$//' <<<"$key")
    value=$(sed 's/^[[:space:]]*//;s/[[:space:]]*$//' <<<"$value" | envsubst)
    [[ -n $key ]] || fail "FLINK_PROPERTIES: '$line' has no key"
    add "$key" "$value"
  done <<<"$FLINK_PROPERTIES"
fi

FLINK_CONF_DIR=$src_conf
if ((${#add_keys[@]})); then
  # Never written where it is mounted: a copy, changed.
  rm -rf "$writable_conf"
  mkdir -p "$writable_conf"
  for f in "$src_conf"/*; do
    if [[ -e $f ]]; then cp -RL "$f" "$writable_conf/"; fi
  done
  chmod -R u+w "$writable_conf"
  FLINK_CONF_DIR=$writable_conf
  conf_file=$(conf_file_in "$FLINK_CONF_DIR")
  if [[ $conf_file == */config.yaml ]]; then
    # As the official image (config-parser-utils.sh): Flink rewrites its file with the keys set.
    dynamic=()
    for i in "${!add_keys[@]}"; do dynamic+=("-D${add_keys[i]}=${add_values[i]}"); done
    [[ -e $conf_file ]] || : >"$conf_file"
    out=$(bash_java_utils UPDATE_AND_GET_FLINK_CONFIGURATION "$FLINK_CONF_DIR" "${dynamic[@]}")
    result=$(utils_results <<<"$out")
    [[ -n $result ]] || fail "could not add to the configuration; BashJavaUtils said:
$out"
    echo "$result" >"$conf_file"
  else
    # flink-conf.yaml: a key already there is replaced, a new one appended (the last of a key
    # wins in this format).
    [[ -e $conf_file ]] || : >"$conf_file"
    for i in "${!add_keys[@]}"; do
      key=${add_keys[i]} value=${add_values[i]}
      escaped=$(sed 's/[][\.*^$/]/\\&/g' <<<"$key")
      if grep -Eq "^[[:space:]]*${escaped}[[:space:]]*:" "$conf_file"; then
        sed -i "/^[[:space:]]*${escaped}[[:space:]]*:/d" "$conf_file"
      fi
      printf '%s: %s\n' "$key" "$value" >>"$conf_file"
    done
  fi
  echo "$(basename "$0"): configuration $src_conf with ${add_keys[*]} added, in $FLINK_CONF_DIR"
fi
export FLINK_CONF_DIR
conf_file=$(conf_file_in "$FLINK_CONF_DIR")

# read_conf KEY DEFAULT: a configuration value as Flink's config.sh reads it: from the
# flattened configuration BashJavaUtils prints (standard YAML), or from the file (1.18).
if [[ $conf_file == */config.yaml ]]; then
  out=$(bash_java_utils UPDATE_AND_GET_FLINK_CONFIGURATION "$FLINK_CONF_DIR" -flatten)
  flat_conf=$(utils_results <<<"$out")
  [[ -n $flat_conf || ! -s $conf_file ]] || fail "could not read $conf_file; BashJavaUtils said:
$out"
  read_conf() {
    local value
    value=$(grep "^[ ]*${1}[ ]*:" <<<"$flat_conf" | cut -d ':' -f2- | sed "s/^ *//;s/ *$//" | tail -n 1 || true)
    echo "${value:-$2}"
  }
else
  read_conf() { read_file_key "$1" "$2" "$conf_file"; }
fi
unquote() { sed -e 's/^"//' -e 's/"$//' <<<"$1"; }

# --- JVM options (config.sh, then the role's script) --------------------------------------------
if [[ -z ${FLINK_ENV_JAVA_OPTS:-} ]]; then
  default_opts=""
  if [[ $standard_yaml == true ]]; then default_opts=$(read_conf env.java.default-opts.all ""); fi
  opts=$(read_conf env.java.opts.all "")
  [[ -n $opts ]] || opts=$(read_conf env.java.opts "")
  FLINK_ENV_JAVA_OPTS="-XX:+IgnoreUnrecognizedVMOptions $(unquote "$default_opts${default_opts:+ }$opts")"
  java_spec=$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$JAVA_HOME/release" 2>/dev/null || true)
  if [[ -z $java_spec ]]; then
    java_spec=$("$JAVA_RUN" -XshowSettings:properties 2>&1 | grep java.specification.version | cut -d= -f2 | tr -d '[:space:]' || true)
    java_spec=${java_spec##*.}
  fi
  if ((${java_spec:-0} > 17)); then
    FLINK_ENV_JAVA_OPTS="$FLINK_ENV_JAVA_OPTS -Djava.security.manager=allow"
  fi
fi
role_opts() { # env.java.default-opts.ROLE (1.19 on) and env.java.opts.ROLE
  local d=""
  if [[ $standard_yaml == true ]]; then d=$(read_conf "env.java.default-opts.$1" ""); fi
  unquote "$d${d:+ }$(read_conf "env.java.opts.$1" "")"
}
if [[ $role == jobmanager ]]; then
  [[ -n ${FLINK_ENV_JAVA_OPTS_JM:-} ]] || FLINK_ENV_JAVA_OPTS_JM=$(role_opts jobmanager)
  FLINK_ENV_JAVA_OPTS="$FLINK_ENV_JAVA_OPTS $FLINK_ENV_JAVA_OPTS_JM"
else
  # taskmanager.sh: G1 when no JVM options are set at all
  if [[ -z ${FLINK_ENV_JAVA_OPTS_TM:-} ]]; then FLINK_ENV_JAVA_OPTS_TM=$(role_opts taskmanager); fi
  if [[ -z ${FLINK_ENV_JAVA_OPTS// /} && -z ${FLINK_ENV_JAVA_OPTS_TM// /} ]]; then JVM_ARGS="${JVM_ARGS:-} -XX:+UseG1GC"; fi
  FLINK_ENV_JAVA_OPTS="$FLINK_ENV_JAVA_OPTS $FLINK_ENV_JAVA_OPTS_TM"
fi
export ROOT_LOG_LEVEL=${ROOT_LOG_LEVEL:-$(read_conf env.log.level INFO)}
export MAX_LOG_FILE_NUMBER=${MAX_LOG_FILE_NUMBER:-$(read_conf env.log.max 10)}
FLINK_LOG_DIR=${FLINK_LOG_DIR:-$(read_conf env.log.dir "$FLINK_HOME/log")}
export FLINK_LOG_DIR

# --- memory: BashJavaUtils (parseJmArgsAndExportLogs / taskmanager.sh) ----------------------------
out=$(bash_java_utils "$utils_cmd" "$FLINK_CONF_DIR" "${user_args[@]}")
mapfile -t results < <(utils_results <<<"$out")
if ((${#results[@]} < 1 || ${#results[@]} > 2)); then
  fail "could not get the JVM parameters and dynamic configuration ($utils_cmd); BashJavaUtils said:
$out"
fi
jvm_params=${results[0]}
dynamic_params=${results[1]:-}
JVM_ARGS="${JVM_ARGS:-} $jvm_params"
export FLINK_INHERITED_LOGS="
${FLINK_INHERITED_LOGS:-}

$utils_cmd extraction logs:
jvm_params: $jvm_params
dynamic_configs: $dynamic_params
logs: $(grep -v "^$utils_prefix" <<<"$out" || true)
"

# --- arguments (standalone-job.sh, jobmanager.sh, taskmanager.sh) ---------------------------------
# shellcheck disable=SC2206 # the dynamic properties are "-D key=value" words, as the scripts split them
dynamic=($dynamic_params)
case $service in
standalonejob) args=(--configDir "$FLINK_CONF_DIR" "${dynamic[@]}" "${user_args[@]}") ;;
standalonesession)
  args=("${dynamic[@]}" --configDir "$FLINK_CONF_DIR")
  # Flink 2 has no --executionMode any more
  if ((major == 1)); then args+=(--executionMode cluster); fi
  args+=("${user_args[@]}")
  ;;
taskexecutor) args=("${user_args[@]}" --configDir "$FLINK_CONF_DIR" "${dynamic[@]}") ;;
esac

# --- the classpath (constructFlinkClassPath: lib/*.jar sorted, flink-dist last) -------------------
classpath=""
while IFS= read -r -d '' jar; do
  [[ $jar == "$FLINK_DIST" ]] || classpath+="$jar:"
done < <(find "$FLINK_LIB_DIR" ! -type d -name '*.jar' -print0 | sort -z)
classpath+=$FLINK_DIST
[[ -n ${HADOOP_CONF_DIR:-} ]] || HADOOP_CONF_DIR=$(read_conf env.hadoop.conf.dir "")
[[ -n ${YARN_CONF_DIR:-} ]] || YARN_CONF_DIR=$(read_conf env.yarn.conf.dir "")
for extra in "${HADOOP_CLASSPATH:-}" "${HADOOP_CONF_DIR:-}" "${YARN_CONF_DIR:-}"; do
  if [[ -n $extra ]]; then classpath+=":$extra"; fi
done

# --- flink-console.sh ---------------------------------------------------------------------------
FLINK_IDENT_STRING=${FLINK_IDENT_STRING:-${USER:-$(id -un 2>/dev/null || echo flink)}}
HOSTNAME=${HOSTNAME:-$(hostname)}
FLINK_LOG_PREFIX="$FLINK_LOG_DIR/flink-$FLINK_IDENT_STRING-$service-0-$HOSTNAME"
log_setting=(
  "-Dlog.file=$FLINK_LOG_PREFIX.log"
  "-Dlog4j.configuration=file:$FLINK_CONF_DIR/log4j-console.properties"
  "-Dlog4j.configurationFile=file:$FLINK_CONF_DIR/log4j-console.properties"
  "-Dlogback.configurationFile=file:$FLINK_CONF_DIR/logback-console.xml"
)
# Flink expands variables in the options ("Evaluate user options for local variable expansion").
FLINK_ENV_JAVA_OPTS=$(eval echo "$FLINK_ENV_JAVA_OPTS")
echo "Starting $service (Flink $version) as a console application on host $HOSTNAME."
# shellcheck disable=SC2086 # JVM_ARGS and FLINK_ENV_JAVA_OPTS are word lists, as in flink-console.sh
exec "$JAVA_RUN" $JVM_ARGS $FLINK_ENV_JAVA_OPTS "${log_setting[@]}" -classpath "$classpath" "$class" "${args[@]}"
