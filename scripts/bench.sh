#!/usr/bin/env bash
# Switchboard benchmark suite: starts its own loopback cluster (redis-server
# + N nodes on free ports), runs the standard scenarios against 1, 2 and 4
# nodes with switchboard-bench, measures the Redis PUBLISH ceiling on the
# same redis-server, then runs the relay ramp again with 2 nodes on a 3-shard
# Redis Cluster, and writes results.json, summary.md and PNG plots.
#
#   scripts/bench.sh [--quick] [--nodes "1 2 4"] [--no-redis-cluster] [--out DIR] [--build-dir DIR]
#                    [--resume-only]
#
#   --quick      a short run (about a minute) with smaller numbers
#   --nodes      node counts to run (default "1 2 4"; --quick: "1 2")
#   --no-redis-cluster  skip the 3-shard Redis Cluster run
#   --resume-only  only the resume scenario: relay over 3 nodes while one is
#                drained and restarted and another killed (about 30 s)
#   --out        where results go (default .run/bench/<date>)
#   --build-dir  build folder (default build/); built Release if needed
#
# Bounded in time: every switchboard-bench run has --max-time, and the
# whole suite gives up after SUITE_MAX_S. Loopback only. Stops only the
# processes it started, by pid (also written to pidfiles in its temporary
# folder while they run). Raises the descriptor limit it needs where
# the machine allows it and reports the limit where it does not.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

quick=0
resume_only=0
node_counts=""
out=""
build="$root/build"
redis_cluster=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --no-redis-cluster) redis_cluster=0 ;;
    --nodes) node_counts=$2; shift ;;
    --out) out=$2; shift ;;
    --build-dir) build=$2; shift ;;
    --resume-only) resume_only=1 ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "bench: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

SUITE_MAX_S=${SUITE_MAX_S:-1500}
suite_start=$(date +%s)
if [ $quick -eq 1 ]; then
  node_counts=${node_counts:-"1 2"}
  ramp_rates=(5 10 20 40 60 80)     # msgs/s per participant, 400 participants
  step_s=2; half_s=4; mesh_s=3; join_per_node=2000; cap_series=(5000); hold_s=5
else
  node_counts=${node_counts:-"1 2 4"}
  ramp_rates=(5 10 15 20 25 30 35 40 45 50 60 70 80 100)
  # hold 40 s: longer than the node's 20 s ping interval after the ramp, so
  # every connection has been pinged once (steady-state memory and CPU)
  # capacity at several sizes shows how idle cost grows; the last asks for
  # 100 000 and gets what the descriptor limit allows
  step_s=4; half_s=10; mesh_s=8; join_per_node=5000; cap_series=(5000 10000 100000); hold_s=40
fi
ramp_rooms=200
out=${out:-"$root/.run/bench/$(date -u +%Y%m%dT%H%M%SZ)"}
mkdir -p "$out/runs"
log() { printf '%s bench: %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$out/suite.log" >&2; }

# ---- dependencies and build ---------------------------------------------------

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-benchmark >/dev/null || need+=(redis-tools)
command -v jq >/dev/null || need+=(jq)
command -v gnuplot >/dev/null || need+=(gnuplot-nox)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    "${need[@]}" >/dev/null
fi
log "building (Release) in $build"
"$root/scripts/setup.sh" --build-dir "$build" --build-type Release --target switchboard >/dev/null
cmake --build "$build" --target switchboard-bench -j"$(nproc)" >/dev/null
node_bin="$build/node/switchboard"
bench_bin="$build/bench/switchboard-bench"

# ---- descriptor limit ----------------------------------------------------------

cap_conns=${cap_series[-1]}
fd_want=$((cap_conns + 4096))
fd_hard_before=$(ulimit -Hn)
if [ "$fd_hard_before" != unlimited ] && [ "$fd_hard_before" -lt "$fd_want" ]; then
  ulimit -Hn "$fd_want" 2>/dev/null || prlimit --pid $$ --nofile="$fd_want:$fd_want" 2>/dev/null || true
fi
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
fd_limit=$(ulimit -n)
fd_raised=false
[ "$fd_limit" != "$fd_hard_before" ] && fd_raised=true
if [ "$fd_limit" != unlimited ] && [ "$fd_limit" -lt "$fd_want" ]; then
  log "descriptor limit is $fd_limit (hard limit $fd_hard_before, cannot be raised here:" \
      "no CAP_SYS_RESOURCE); capacity is limited to about $((fd_limit - 100)) connections per process"
fi

# ---- processes we start ---------------------------------------------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/sb-bench.XXXXXX")
started=()
stop_pid() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local pid
  for pid in "${started[@]}"; do stop_pid "$pid"; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

over_time() { [ $(( $(date +%s) - suite_start )) -ge "$SUITE_MAX_S" ]; }

read -r redis_port < <("$bench_bin" ports 1)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
  --logfile "$work/redis.log" &
redis_pid=$!
started+=("$redis_pid")
echo "$redis_pid" >"$work/redis.pid"
for _ in $(seq 1 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
watch_pids=("$redis_pid")            # the Redis processes whose CPU is reported
redis_args=(--redis-url "redis://127.0.0.1:$redis_port/0")

node_pids=()
node_targets=()
node_ports=()
start_node() {  # index (from 1) port id log: one node, its pid in node_pids[index - 1]
  "$node_bin" --host 127.0.0.1 --port "$2" \
    "${redis_args[@]}" --node-id "$3" \
    --rate-limit 0 --http-rate-limit 0 --max-connections-per-ip 0 --max-rooms 0 \
    --log-level warn "${node_extra[@]}" >"$4" 2>&1 &
  node_pids[$(($1 - 1))]=$!
  started+=($!)
  echo $! >"$work/node-$1.pid"
}
node_extra=()
start_nodes() {  # count
  local i ports
  node_pids=()
  node_targets=()
  mapfile -t ports < <("$bench_bin" ports "$1")
  node_ports=("${ports[@]}")
  for i in $(seq 1 "$1"); do
    start_node "$i" "${ports[$((i - 1))]}" "bench-n$i" "$out/node-$1-$i.log"
    node_targets+=(--target "127.0.0.1:${ports[$((i - 1))]}")
  done
}
stop_nodes() {
  local pid
  for pid in "${node_pids[@]}"; do stop_pid "$pid"; done
  node_pids=()
  rm -f "$work"/node-*.pid
}

# bench NAME MODE ARGS...: one switchboard-bench run against the current
# nodes; the JSON goes to runs/NAME.json, the table to runs/NAME.txt.
bench() {
  local name=$1 mode=$2
  shift 2
  local watch=() pid
  for pid in "${watch_pids[@]}"; do watch+=(--watch-pid "$pid"); done
  for pid in "${node_pids[@]}"; do watch+=(--node-pid "$pid"); done
  "$bench_bin" "$mode" "${node_targets[@]}" "${watch[@]}" --json --quiet "$@" \
    >"$out/runs/$name.json" 2>"$out/runs/$name.txt" || true
  [ -s "$out/runs/$name.json" ] || echo '{}' >"$out/runs/$name.json"
}
jget() { jq -r "$2" "$out/runs/$1.json"; }

# ---- scenarios --------------------------------------------------------------------

# A ramp step is sustained when nothing was lost or skipped, deliveries kept
# up with what was offered and the tail latency stayed bounded.
step_ok() {
  jq -e '.relay != null and .relay.lost == 0 and .relay.skipped_backlog == 0
         and .common.errors.total == 0 and .relay.sent_per_s >= 0.97 * .relay.offered_per_s
         and .relay.latency_all.p99_us < 100000' "$out/runs/$1.json" >/dev/null 2>&1
}

relay_ramp() {  # nodes [run-name prefix, default n<nodes>]
  local n=$1 p=${2:-n$1} rate best="" name
  for rate in "${ramp_rates[@]}"; do
    over_time && break
    name="$p-ramp-$rate"
    bench "$name" relay --rooms "$ramp_rooms" --participants 2 --rate "$rate" \
      --warmup 1 --duration "$step_s" --drain 3 --max-time 60
    if step_ok "$name"; then
      best=$rate
      log "  relay ramp $p: $rate msg/s per participant sustained" \
          "($(jget "$name" '.relay.delivered_per_s | floor') deliveries/s," \
          "p99 $(jget "$name" '.relay.latency_all.p99_us') us)"
    else
      log "  relay ramp $p: $rate msg/s per participant NOT sustained" \
          "(lost $(jget "$name" '.relay.lost'), skipped $(jget "$name" '.relay.skipped_backlog')," \
          "p99 $(jget "$name" '.relay.latency_all.p99_us') us)"
      sleep 3   # let the nodes and Redis drain what piled up
      break
    fi
  done
  echo "${best:-0}" >"$out/runs/$p-ramp-best"
}

relay_half() {  # nodes [run-name prefix]
  local n=$1 p=${2:-n$1} best half
  best=$(cat "$out/runs/$p-ramp-best")
  [ "$best" != 0 ] || return 0
  half=$(awk -v b="$best" 'BEGIN { printf "%.2f", b / 2 }')
  bench "$p-half" relay --rooms "$ramp_rooms" --participants 2 --rate "$half" \
    --warmup 2 --duration "$half_s" --drain 5 --max-time 120 --cdf-out "$out/runs/$p-half.cdf"
  log "  relay at half the max ($p, $half msg/s per participant):" \
      "p99 $(jget "$p-half" '.relay.latency_all.p99_us') us, lost $(jget "$p-half" '.relay.lost')"
}

# A Redis Cluster of 3 masters without replicas (three shards: a replica
# would only add its own CPU on these shared cores), on ports of its own.
# The CPU reported is each master's.
start_redis_cluster() {
  local ports i addrs=() seeds=""
  mapfile -t ports < <("$bench_bin" ports 6)
  watch_pids=()
  for i in 0 1 2; do
    mkdir -p "$work/rc$i"
    redis-server --port "${ports[$i]}" --bind 127.0.0.1 --cluster-enabled yes \
      --cluster-port "${ports[$((i + 3))]}" --cluster-config-file "$work/rc$i/nodes.conf" \
      --cluster-node-timeout 2000 --dir "$work/rc$i" --save "" --appendonly no \
      --logfile "$work/rc$i/redis.log" &
    watch_pids+=($!)
    started+=($!)
    addrs+=("127.0.0.1:${ports[$i]}")
    seeds=${seeds:+$seeds,}127.0.0.1:${ports[$i]}
  done
  for i in 0 1 2; do
    for _ in $(seq 1 50); do redis-cli -p "${ports[$i]}" ping >/dev/null 2>&1 && break; sleep 0.1; done
  done
  redis-cli --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes >"$work/rc-create.log" 2>&1
  for i in 0 1 2; do
    for _ in $(seq 1 100); do
      redis-cli -p "${ports[$i]}" cluster info | grep -q cluster_state:ok && break
      sleep 0.1
    done
  done
  redis_args=(--redis-cluster "$seeds")
  log "== 2 nodes on a 3-shard Redis Cluster (masters $seeds)"
}

relay_mesh() {  # nodes: rooms of 6, a call where everybody signals everybody
  local n=$1
  bench "n$n-mesh" relay --rooms 50 --participants 6 --rate 5 --directed 50 \
    --warmup 1 --duration "$mesh_s" --drain 5 --max-time 120 --cdf-out "$out/runs/n$n-mesh.cdf"
  log "  mesh rooms of 6 (n=$n): $(jget "n$n-mesh" '.relay.delivered_per_s | floor') deliveries/s," \
      "p99 same $(jget "n$n-mesh" '.relay.latency_same_node.p99_us') us," \
      "cross $(jget "n$n-mesh" '.relay.latency_cross_node.p99_us') us"
}

join_run() {  # nodes
  local n=$1 clients
  clients=$((join_per_node * n))
  bench "n$n-join" join --clients "$clients" --room-size 4 --concurrency $((16 * n)) --max-time 180
  log "  join (n=$n, $clients clients): $(jget "n$n-join" '.join.joins_per_s | floor') joins/s," \
      "p99 to connected $(jget "n$n-join" '.join.time_to_connected.p99_us') us"
}

capacity_run() {  # connections; on one fresh node, so its RSS starts from nothing
  local conns=$1
  start_nodes 1
  bench "n1-capacity-$conns" capacity --connections "$conns" --hold "$hold_s" --source-ips 8 \
    --concurrency 256 --sample-rooms 200 --max-time 600
  stop_nodes
  log "  capacity ($conns asked): $(jget "n1-capacity-$conns" '.capacity.joined') connections," \
      "$(jget "n1-capacity-$conns" '.capacity.rss_per_connection_kib') KiB RSS each," \
      "idle CPU $(jget "n1-capacity-$conns" '.capacity.node_idle_cpu_pct')%," \
      "check lost $(jget "n1-capacity-$conns" '.capacity.check.lost')," \
      "check p99 $(jget "n1-capacity-$conns" '.capacity.check.latency.p99_us') us"
}

# Resuming under node loss: 3 nodes, 150 rooms of 3 (one member per node),
# 10 msg/s each; 4 s in, node 1 is drained (SIGTERM) and started again on
# its port, 8 s in node 2 is killed (SIGKILL). Every participant that loses
# its socket reconnects to the next node with its token. Reported: every
# message delivered, or counted missed (its receiver was told), the rest
# lost; and the time from a socket's loss to its resumed `connected`.
wait_ready() {  # port
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$1/readyz" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}
resume_run() {
  local name=resume pid1 pid2
  node_extra=(--heartbeat-ttl 3)
  start_nodes 3
  for port in "${node_ports[@]}"; do wait_ready "$port" || log "a node is not ready"; done
  local watch=(--watch-pid "$redis_pid")
  "$bench_bin" relay "${node_targets[@]}" "${watch[@]}" --json --quiet --resume \
    --rooms 150 --participants 3 --rate 10 --warmup 1 --duration 14 --drain 10 --max-time 90 \
    >"$out/runs/$name.json" 2>"$out/runs/$name.txt" &
  local bench_pid=$!
  sleep 5
  pid1=${node_pids[0]}
  log "  resume: SIGTERM to bench-n1 (pid $pid1), then started again on its port"
  kill -TERM "$pid1"
  for _ in $(seq 1 200); do kill -0 "$pid1" 2>/dev/null || break; sleep 0.05; done
  start_node 1 "${node_ports[0]}" bench-n1b "$out/node-resume-1b.log"
  wait_ready "${node_ports[0]}" || log "bench-n1b is not ready"
  sleep 3
  pid2=${node_pids[1]}
  log "  resume: SIGKILL to bench-n2 (pid $pid2)"
  kill -KILL "$pid2"
  wait "$pid2" 2>/dev/null || true
  wait "$bench_pid" || true
  [ -s "$out/runs/$name.json" ] || echo '{}' >"$out/runs/$name.json"
  stop_nodes
  node_extra=()
  log "  resume: $(jget "$name" '.relay.sent') sent, $(jget "$name" '.relay.received') delivered," \
      "$(jget "$name" '.relay.resume.messages_missed') missed (told), $(jget "$name" '.relay.lost') lost," \
      "$(jget "$name" '.relay.duplicated') duplicated; $(jget "$name" '.relay.resume.resumed') resumes," \
      "$(jget "$name" '.relay.resume.refused') refused; socket lost -> resumed p50" \
      "$(jget "$name" '.relay.resume.resume_time.p50_us') us, p99 $(jget "$name" '.relay.resume.resume_time.p99_us') us"
}

# Redis's own PUBLISH rate: pipelined, payload the mean envelope size of the
# relay mix (client message + sender_id/room_id + envelope header).
redis_ceiling() {
  local size payload
  size=$(jq -r '(.common.ws_messages.bytes_out / .common.ws_messages.out) + 130 | floor' \
           "$out/runs/n1-half.json" 2>/dev/null || echo 1000)
  [[ "$size" =~ ^[0-9]+$ ]] || size=1000
  payload=$(head -c "$size" /dev/zero | tr '\0' 'x')
  redis-benchmark -h 127.0.0.1 -p "$redis_port" -P 16 -n "$([ $quick -eq 1 ] && echo 200000 || echo 1000000)" \
    --csv PUBLISH 'sb:room:{ceiling}' "$payload" 2>/dev/null \
    | awk -F'","' 'NF > 1 { gsub(/"/, "", $2); print $2 }' | tail -n 1 >"$out/runs/redis-ceiling.rps"
  echo "$size" >"$out/runs/redis-ceiling.size"
  log "redis-benchmark PUBLISH -P 16, $size-byte payload: $(cat "$out/runs/redis-ceiling.rps") per second"
}

# ---- the run ------------------------------------------------------------------------

log "results in $out"
if [ $resume_only -eq 1 ]; then
  resume_run
  log "done in $(( $(date +%s) - suite_start )) s: $out/runs/resume.txt, $out/runs/resume.json"
  exit 0
fi
log "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')," \
    "load average $(cut -d' ' -f1-3 /proc/loadavg)"
for n in $node_counts; do
  over_time && { log "suite time is up; skipping the rest"; break; }
  log "== $n node(s)"
  start_nodes "$n"
  relay_ramp "$n"
  relay_half "$n"
  relay_mesh "$n"
  [ "$n" = 1 ] && redis_ceiling
  join_run "$n"
  stop_nodes
  [ "$n" = 1 ] && ! over_time && resume_run
  if [ "$n" = 1 ]; then
    for conns in "${cap_series[@]}"; do
      over_time || capacity_run "$conns"
    done
  fi
done

if [ "$redis_cluster" -eq 1 ] && ! over_time; then
  start_redis_cluster
  start_nodes 2
  relay_ramp 2 c2
  relay_half 2 c2
  stop_nodes
fi

cat >"$out/machine.json" <<EOF
{"date":"$(date -u +%Y-%m-%dT%H:%M:%SZ)","cores":$(nproc),
 "cpu":"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')",
 "kernel":"$(uname -r)","mem_gib":$(awk '/MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo),
 "fd_limit":"$fd_limit","fd_hard_before":"$fd_hard_before","fd_raised":$fd_raised,
 "load_after":"$(cut -d' ' -f1-3 /proc/loadavg)",
 "commit":"$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)",
 "node_tree_dirty":$([ -n "$(git -C "$root" status --porcelain -- node common 2>/dev/null)" ] && echo true || echo false),
 "quick":$([ $quick -eq 1 ] && echo true || echo false)}
EOF
"$root/scripts/bench-report.sh" "$out"
log "done in $(( $(date +%s) - suite_start )) s: $out/summary.md, $out/results.json, $out/*.png"
