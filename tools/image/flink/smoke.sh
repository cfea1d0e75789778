#!/usr/bin/env bash
# smoke.sh VERSION...: runs the Flink images tools/node-images.sh built in a containerd, as the
# test node will: imports $FLINK_TOOLS_CACHE/images/flink-<version>.tar, starts a
# `standalone-job` container running the fixture job and a `taskmanager` container beside it,
# both with the configuration bind-mounted read-only on /opt/flink/conf, waits until
# GET /jobs/overview shows the job RUNNING, stops both with SIGTERM and checks that they exit.
# Then it removes the containers and images again.
#
# Host networking, every Flink address on 127.0.0.1. Needs root and a running containerd:
#   SMOKE_CONTAINERD=/tmp/ctd/containerd.sock (default /run/containerd/containerd.sock)
#   SMOKE_NAMESPACE=imgtest (default imgtest; never a kubelet's k8s.io)
#   SMOKE_PROPERTIES=1: also sets FLINK_PROPERTIES and TASK_MANAGER_NUMBER_OF_TASK_SLOTS (the
#   configuration is then copied to a writable directory)
set -euo pipefail

cache=${FLINK_TOOLS_CACHE:-$HOME/.cache/terraform-provider-flink}
sock=${SMOKE_CONTAINERD:-/run/containerd/containerd.sock}
ns=${SMOKE_NAMESPACE:-imgtest}
[[ $ns != k8s.io ]] || {
  echo "smoke: not in k8s.io" >&2
  exit 1
}
ctr=(ctr --address "$sock" -n "$ns")
work=$(mktemp -d /tmp/flink-smoke.XXXXXX)
chmod 755 "$work"
failed=0

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_stopped ID SECONDS: waits for the task to stop; prints its status line.
wait_stopped() {
  local id=$1 deadline=$((SECONDS + $2)) status
  while ((SECONDS < deadline)); do
    status=$("${ctr[@]}" tasks ls | awk -v id="$id" '$1 == id { print $3 }')
    if [[ $status != RUNNING && $status != PAUSED ]]; then
      echo "${status:-gone}"
      return 0
    fi
    sleep 0.5
  done
  echo RUNNING
  return 1
}

cleanup_container() {
  "${ctr[@]}" tasks kill -s SIGKILL "$1" >/dev/null 2>&1 || true
  wait_stopped "$1" 10 >/dev/null || true
  "${ctr[@]}" tasks delete "$1" >/dev/null 2>&1 || true
  "${ctr[@]}" containers delete "$1" >/dev/null 2>&1 || true
}

smoke() {
  local v=$1 mm tar image conf rest rpc blob jm tm job jobid t0 status
  mm=$(cut -d. -f1-2 <<<"$v")
  tar=$cache/images/flink-$v.tar
  image=docker.io/library/flink:$mm-java17
  jm=smoke-jm-${v//./-} tm=smoke-tm-${v//./-}
  jobid=$(printf '%032x' "$RANDOM$RANDOM")
  rest=$(free_port) rpc=$(free_port) blob=$(free_port)
  conf=$work/conf-$v
  mkdir -p "$conf"
  local file=config.yaml
  case $v in 1.18.*) file=flink-conf.yaml ;; esac
  local opts
  opts=$(sed -n 's/^[[:space:]]*all: \(--add-.*\)/\1/p;s/^env.java.opts.all: //p' "$cache/flink/$v/conf/$file" | sed -n 1p)
  {
    echo "jobmanager.rpc.address: 127.0.0.1"
    echo "jobmanager.rpc.port: $rpc"
    echo "jobmanager.bind-host: 127.0.0.1"
    echo "rest.address: 127.0.0.1"
    echo "rest.bind-address: 127.0.0.1"
    echo "rest.port: $rest"
    echo "blob.server.port: $blob"
    echo "taskmanager.host: 127.0.0.1"
    echo "taskmanager.bind-host: 127.0.0.1"
    echo "taskmanager.rpc.port: 0"
    echo "taskmanager.data.port: 0"
    echo "taskmanager.numberOfTaskSlots: 1"
    echo "parallelism.default: 1"
    echo "jobmanager.memory.process.size: 1g"
    echo "taskmanager.memory.process.size: 1g"
    echo "taskmanager.memory.managed.size: 64m"
    echo "execution.checkpointing.interval: 1s"
    echo "cluster.registration.error-delay: 1000"
    echo "env.java.opts.all: $opts"
  } >"$conf/$file"
  cat >"$conf/log4j-console.properties" <<'EOF'
rootLogger.level = INFO
rootLogger.appenderRef.console.ref = ConsoleAppender
appender.console.name = ConsoleAppender
appender.console.type = Console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss,SSS} %-5p %-60c %x - %m%n
EOF
  chmod -R a+rX "$conf"

  echo "smoke: flink $v: importing $tar ..."
  t0=$SECONDS
  "${ctr[@]}" images import "$tar" >/dev/null
  echo "smoke: flink $v: imported in $((SECONDS - t0))s"

  local env=()
  if [[ ${SMOKE_PROPERTIES:-} == 1 ]]; then
    env=(--env "FLINK_PROPERTIES=metrics.fetcher.update-interval: 1000
smoke.property: \${HOSTNAME}" --env TASK_MANAGER_NUMBER_OF_TASK_SLOTS=2)
  fi
  local mount=(--mount "type=bind,src=$conf,dst=/opt/flink/conf,options=rbind:ro")
  local jars=(--jars local:///opt/flink/usrlib/fixture-job.jar)
  case $v in 1.18.*) jars=() ;; esac # no --jars: the job comes from usrlib
  t0=$SECONDS
  "${ctr[@]}" run -d --net-host "${mount[@]}" "${env[@]}" --log-uri "file://$work/$jm.log" "$image" "$jm" \
    /docker-entrypoint.sh standalone-job "${jars[@]}" --job-classname flinkplatform.fixture.CounterJob \
    --job-id "$jobid" -Dweb.submit.enable=false --rate 20 --keys 2 >/dev/null
  "${ctr[@]}" run -d --net-host "${mount[@]}" "${env[@]}" --log-uri "file://$work/$tm.log" "$image" "$tm" \
    /docker-entrypoint.sh taskmanager -Dtaskmanager.resource-id=smoke-tm >/dev/null

  local state="" deadline=$((SECONDS + 180))
  while ((SECONDS < deadline)); do
    # RUNNING with every task running (a job is RUNNING before its tasks are deployed)
    state=$(curl -sf "http://127.0.0.1:$rest/jobs/overview" | python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"]
print(",".join(x["jid"] + "=" + (x["state"] if x["tasks"]["running"] == x["tasks"]["total"] else x["state"] + "(tasks %d/%d)" % (x["tasks"]["running"], x["tasks"]["total"])) for x in j))' 2>/dev/null || true)
    [[ $state == "$jobid=RUNNING" ]] && break
    sleep 1
  done
  echo "smoke: flink $v: /jobs/overview: ${state:-no answer}, all tasks running, $((SECONDS - t0))s after the containers started"
  if [[ $state != "$jobid=RUNNING" ]]; then
    failed=1
    tail -n 40 "$work/$jm.log" "$work/$tm.log" >&2 || true
  else
    curl -sf "http://127.0.0.1:$rest/taskmanagers" | python3 -c 'import json,sys; print("smoke: taskmanagers:", [t["id"] for t in json.load(sys.stdin)["taskmanagers"]])'
  fi
  "${ctr[@]}" tasks exec --exec-id ps "$jm" ps -o user,pid,args -e | cut -c1-150 | sed 's/^/smoke: jm: /' || true

  for id in "$tm" "$jm"; do
    t0=$SECONDS
    "${ctr[@]}" tasks kill -s SIGTERM "$id"
    if status=$(wait_stopped "$id" 60); then
      local code
      # ctr reports a non-zero exit code only as a warning
      code=$("${ctr[@]}" tasks delete "$id" 2>&1 | sed -n 's/.*non-zero exit code \([0-9]*\).*/\1/p')
      code=${code:-0}
      echo "smoke: flink $v: $id stopped on SIGTERM in $((SECONDS - t0))s ($status, exit code $code)"
    else
      echo "smoke: flink $v: $id did NOT stop within 60s of SIGTERM" >&2
      failed=1
    fi
    cleanup_container "$id"
  done
  grep -m1 "Starting standalonejob" "$work/$jm.log" || true
  grep -m1 -E "JVM_ARGS|jvm_params" "$work/$jm.log" | cut -c1-200 || true
  "${ctr[@]}" images rm "$image" "docker.io/library/flink:$v-java17" >/dev/null
}

for v in "$@"; do
  smoke "$v"
done
echo "smoke: logs in $work"
exit $failed
