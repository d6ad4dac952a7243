#!/usr/bin/env bash
# Switchboard benchmark suite: starts its own loopback cluster (redis-server
# + N nodes on free ports), runs the standard scenarios against 1, 2 and 4
# nodes with switchboard-bench, measures the Redis PUBLISH ceiling on the
# same redis-server, then runs the relay ramp again with 2 nodes on a 3-shard
# Redis Cluster, and writes results.json, summary.md and PNG plots.
#
#   scripts/bench.sh [--quick] [--cost] [--overload] [--resume-only] [--nodes "1 2 4"]
#                    [--no-redis-cluster] [--out DIR] [--build-dir DIR] [--no-build]
#
#   --quick      a short run (about a minute) with smaller numbers
#   --cost       only the cost per message (about a minute): CPU of the
#                nodes and of redis-server per message, cross-node and
#                same-node, side by side, then the same of the floor
#                (bench/floor.c), with perf profiles of a node and of a
#                floor relay
#   --cost-rate  msg/s per participant of the cost runs (default 40:
#                16 000 msg/s over 400 participants)
#   --overload   only the overload run: twice --cost-rate for 20 s on two
#                nodes, then a check run at --cost-rate (about a minute);
#                the full suite runs it at twice the two-node maximum
#   --overload-rate  msg/s per participant of the overload run (default
#                twice --cost-rate)
#   --nodes      node counts to run (default "1 2 4"; --quick: "1 2")
#   --no-redis-cluster  skip the 3-shard Redis Cluster run
#   --resume-only  only the resume scenario: relay over 3 nodes while one is
#                drained and restarted and another killed (about 30 s)
#   --out        where results go (default .run/bench/<date>)
#   --build-dir  build folder (default build/); built Release if needed
#   --no-build   use the binaries in the build folder as they are (to
#                compare two builds of different commits)
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
cost_only=0
overload_only=0
overload_rate=""
no_build=0
cost_rate=40
node_counts=""
out=""
build="$root/build"
redis_cluster=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --cost) cost_only=1 ;;
    --cost-rate) cost_rate=$2; shift ;;
    --overload) overload_only=1 ;;
    --overload-rate) overload_rate=$2; shift ;;
    --no-redis-cluster) redis_cluster=0 ;;
    --nodes) node_counts=$2; shift ;;
    --out) out=$2; shift ;;
    --build-dir) build=$2; shift ;;
    --resume-only) resume_only=1 ;;
    --no-build) no_build=1 ;;
    -h|--help) sed -n '2,34p' "$0"; exit 0 ;;
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
  ramp_rates=(5 10 15 20 25 30 35 40 45 50 60 70 80 100 120 140)
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
if [ $no_build -eq 0 ]; then
  log "building (Release) in $build"
  "$root/scripts/setup.sh" --build-dir "$build" --build-type Release --target switchboard >/dev/null
  cmake --build "$build" --target switchboard-bench switchboard-floor -j"$(nproc)" >/dev/null
fi
# the source the binaries were built from, read now: files may change while the suite runs
run_commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
run_dirty=false
[ -n "$(git -C "$root" status --porcelain -- node common 2>/dev/null)" ] && run_dirty=true
node_bin="$build/node/switchboard"
bench_bin="$build/bench/switchboard-bench"
floor_bin="$build/bench/switchboard-floor"

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

# ---- cost per message -----------------------------------------------------------------

# perf_profile NAME SECONDS [PID]: a call-graph profile of the first node
# (or of PID) while a run is going on, kept as perf report text (the
# perf.data is dropped).
perf_profile() {
  local name=$1 secs=$2 data="$work/$1.perf.data" pid=${3:-${node_pids[0]}}
  command -v perf >/dev/null || { log "  no perf: profile $name skipped"; return 0; }
  # syscalls and context switches of the node over the same seconds: they
  # hardly depend on what else runs on the machine
  perf stat -x, -e raw_syscalls:sys_enter,context-switches -p "$pid" \
    -o "$out/runs/$name.perf-stat.csv" -- sleep "$secs" >/dev/null 2>&1 &
  local stat_pid=$!
  perf record -q -g -F 1999 -p "$pid" -o "$data" -- sleep "$secs" >/dev/null 2>&1 || return 0
  wait "$stat_pid" || true
  {
    echo "# perf record -g -F 1999 -p <$(ps -o comm= -p "$pid")> -- sleep $secs; perf report --stdio --no-children"
    echo "# by object:"
    perf report -i "$data" --stdio --no-children --sort dso -g none --percent-limit 0.5 2>/dev/null \
      | grep -v '^#' | grep -v '^$'
    echo "# by symbol (self):"
    perf report -i "$data" --stdio --no-children --sort dso,sym -g none --percent-limit 0.3 \
      2>/dev/null | grep -v '^#' | grep -v '^$'
    echo "# call graph (caller view, >= 2 %):"
    perf report -i "$data" --stdio --children --sort sym -g caller,2,callee --percent-limit 5 \
      2>/dev/null | grep -v '^$' | head -n 1500
  } >"$out/runs/$name.perf.txt"
  rm -f "$data"
}

# The CPU each part spends per message, side by side in one run on two
# nodes at --cost-rate: "cross", rooms split over the nodes (every message
# is one PUBLISH and one subscriber delivery), and "same", every room on
# one node (no Redis on the path). Node µs per delivered message is the
# nodes' CPU (both together) over the deliveries; redis µs per PUBLISH is
# redis-server's CPU over the publishes of the cross run. The profiles come
# from separate runs, so perf's own cost is not in the figures.
cost_relay() {  # name placement [extra args]
  local name=$1 placement=$2
  shift 2
  bench "$name" relay --rooms "$ramp_rooms" --participants 2 --rate "$cost_rate" \
    --placement "$placement" --warmup 1 --duration "$cost_s" --drain 3 --max-time 60 "$@"
}
cost_profiled() {  # name placement
  local name=$1 placement=$2 pid
  cost_relay "$name" "$placement" &
  pid=$!
  sleep 3
  perf_profile "$name" 4
  wait "$pid" || true
}
# The floor (bench/floor.c): two relays that make only the system calls a
# node must make, under a load of the same shape, on the same redis-server,
# right after the nodes' runs. Its ratios are the least any relay of this shape
# reaches on this machine.
cost_floor() {
  local ports relays=() pid
  mapfile -t ports < <("$bench_bin" ports 2)
  for pid in 0 1; do
    "$floor_bin" relay "${ports[$pid]}" "$redis_port" >>"$out/floor.log" 2>&1 &
    relays+=($!)
    started+=($!)
  done
  for _ in $(seq 1 50); do  # both listening
    (exec 3<>"/dev/tcp/127.0.0.1/${ports[0]}" 4<>"/dev/tcp/127.0.0.1/${ports[1]}") 2>/dev/null && break
    sleep 0.1
  done
  floor_load() {  # placement name
    timeout 60 "$floor_bin" load "${ports[0]},${ports[1]}" "$ramp_rooms" "$cost_rate" "$1" \
      1 "$cost_s" "$redis_pid" "${relays[@]}" >"$out/runs/$2.json" 2>>"$out/floor.log" || true
  }
  floor_load split floor-split
  floor_load room floor-room
  if [ "$cost_profile" = 1 ]; then
    floor_load room floor-room-profile &
    pid=$!
    sleep 3
    perf_profile floor-room-profile 4 "${relays[0]}"
    wait "$pid" || true
  fi
  for pid in "${relays[@]}"; do stop_pid "$pid"; done
}
cost_run() {
  log "== cost per message, 2 nodes, $cost_rate msg/s per participant"
  start_nodes 2
  cost_relay cost-cross split
  cost_relay cost-same room
  [ "$cost_profile" = 1 ] && cost_profiled cost-cross-profile split
  [ "$cost_profile" = 1 ] && cost_profiled cost-same-profile room
  stop_nodes
  cost_floor
  jq -n --slurpfile c "$out/runs/cost-cross.json" --slurpfile s "$out/runs/cost-same.json" '
    def node_us(r): ([r.common.cpu_window.nodes[].pct] | add) / 100 * 1e6
                    / (if r.relay.delivered_per_s > 0 then r.relay.delivered_per_s else 1 end);
    def redis_us(r): r.common.cpu_window.watched[0].pct / 100 * 1e6
                     / (if r.relay.cross_node_publishes_per_s > 0
                        then r.relay.cross_node_publishes_per_s else 1 end);
    def run(r): {offered_per_s: r.relay.offered_per_s, delivered_per_s: r.relay.delivered_per_s,
                 publishes_per_s: r.relay.cross_node_publishes_per_s, lost: r.relay.lost,
                 skipped: r.relay.skipped_backlog, p50_us: r.relay.latency_all.p50_us,
                 p99_us: r.relay.latency_all.p99_us,
                 node_pct: [r.common.cpu_window.nodes[].pct], redis_pct: r.common.cpu_window.watched[0].pct,
                 generator_pct: r.common.cpu_window.generator_pct,
                 machine_pct: r.common.cpu_window.machine_pct,
                 node_us_per_msg: (node_us(r) * 10 | round / 10)};
    $c[0] as $x | $s[0] as $y
    | (redis_us($x) * 10 | round / 10) as $redis
    | {cross: (run($x) + {redis_us_per_publish: $redis,
                          node_over_redis: (node_us($x) / redis_us($x) * 100 | round / 100)}),
       same: (run($y) + {node_over_redis_publish: (node_us($y) / redis_us($x) * 100 | round / 100)})}
  ' >"$out/runs/cost.json" 2>/dev/null || echo '{}' >"$out/runs/cost.json"
  # the floor's own ratios, and the nodes' cost over the floor's
  jq --slurpfile x "$out/runs/floor-split.json" --slurpfile y "$out/runs/floor-room.json" '
    . + {floor: {cross: ($x[0] + {ratio: ($x[0].relay_us_per_msg / $x[0].redis_us_per_publish
                                          * 100 | round / 100)}),
                 same: ($y[0] + {ratio_to_a_publish: ($y[0].relay_us_per_msg
                                  / $x[0].redis_us_per_publish * 100 | round / 100)}),
                 nodes_over_floor: {cross: (.cross.node_us_per_msg / $x[0].relay_us_per_msg
                                            * 100 | round / 100),
                                    same: (.same.node_us_per_msg / $y[0].relay_us_per_msg
                                           * 100 | round / 100)}}}
  ' "$out/runs/cost.json" >"$work/cost.json" 2>/dev/null && mv "$work/cost.json" "$out/runs/cost.json"
  log "  cross-node: $(jq -r '.cross | "\(.delivered_per_s|floor) msg/s, nodes \(.node_us_per_msg) us/msg, redis \(.redis_us_per_publish) us/PUBLISH, ratio \(.node_over_redis), p99 \(.p99_us) us, lost \(.lost)"' "$out/runs/cost.json")"
  log "  same-node:  $(jq -r '.same | "\(.delivered_per_s|floor) msg/s, nodes \(.node_us_per_msg) us/msg, ratio to a PUBLISH \(.node_over_redis_publish), p99 \(.p99_us) us, lost \(.lost)"' "$out/runs/cost.json")"
  log "  floor:      $(jq -r '.floor // empty | "cross \(.cross.relay_us_per_msg) us/msg, redis \(.cross.redis_us_per_publish) us/PUBLISH, ratio \(.cross.ratio), lost \(.cross.lost); same \(.same.relay_us_per_msg) us/msg, ratio to a PUBLISH \(.same.ratio_to_a_publish), lost \(.same.lost); nodes over floor: cross \(.nodes_over_floor.cross), same \(.nodes_over_floor.same)"' "$out/runs/cost.json")"
}

# ---- overload ---------------------------------------------------------------------------

# metric_sum NAME: a /metrics sample summed over the current nodes.
metric_sum() {
  local t sum=0 v
  for t in "${node_targets[@]}"; do
    [ "$t" = --target ] && continue
    v=$(curl -s --max-time 5 "http://$t/metrics" | awk -v n="$1" '$1 == n { print $2 }')
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}
subscriber_ids() {  # Redis's ids of the nodes' subscriber links
  redis-cli -p "$redis_port" CLIENT LIST | grep 'name=sbsub:' | awk '{ print $1 }' | sort \
    | tr '\n' ' ' || true
}

# Twice the maximum for 20 s on two nodes: nothing may be lost (a message
# is delivered, or its sender was held back by TCP and skipped it), no
# subscriber link may be dropped by Redis (same link ids, no reconnect),
# and the nodes must relay the maximum cleanly right after.
overload_run() {  # rate per participant, rate of the check run after it
  local rate=$1 after_rate=$2 subs_before subs_after rec_before rec_after pauses
  log "== overload, 2 nodes, $rate msg/s per participant for 20 s"
  start_nodes 2
  sleep 1
  subs_before=$(subscriber_ids)
  rec_before=$(metric_sum switchboard_redis_reconnects_total)
  bench overload relay --rooms "$ramp_rooms" --participants 2 --rate "$rate" \
    --warmup 1 --duration 20 --drain 20 --max-time 120
  rec_after=$(metric_sum switchboard_redis_reconnects_total)
  pauses=$(metric_sum switchboard_overload_pauses_total)
  subs_after=$(subscriber_ids)
  bench overload-after relay --rooms "$ramp_rooms" --participants 2 --rate "$after_rate" \
    --warmup 1 --duration 5 --drain 5 --max-time 60
  stop_nodes
  jq -n --slurpfile o "$out/runs/overload.json" --slurpfile a "$out/runs/overload-after.json" \
    --arg sb "$subs_before" --arg sa "$subs_after" --argjson rb "$rec_before" \
    --argjson ra "$rec_after" --argjson pauses "$pauses" '
    {offered_per_s: $o[0].relay.offered_per_s, sent_per_s: $o[0].relay.sent_per_s,
     delivered_per_s: $o[0].relay.delivered_per_s, sent: $o[0].relay.sent,
     received: $o[0].relay.received, lost: $o[0].relay.lost,
     skipped_by_senders: $o[0].relay.skipped_backlog, errors: $o[0].common.errors.total,
     p99_us: $o[0].relay.latency_all.p99_us, max_us: $o[0].relay.latency_all.max_us,
     subscriber_links_same: ($sb == $sa and $sb != ""), redis_reconnects: ($ra - $rb),
     input_pauses: $pauses,
     after: {offered_per_s: $a[0].relay.offered_per_s, delivered_per_s: $a[0].relay.delivered_per_s,
             lost: $a[0].relay.lost, skipped: $a[0].relay.skipped_backlog,
             p99_us: $a[0].relay.latency_all.p99_us}}
  ' >"$out/runs/overload-summary.json" 2>/dev/null || echo '{}' >"$out/runs/overload-summary.json"
  log "  overload: $(jq -r '"offered \(.offered_per_s), sent \(.sent_per_s|floor)/s, delivered \(.delivered_per_s|floor)/s, lost \(.lost), skipped by senders \(.skipped_by_senders), same subscriber links \(.subscriber_links_same), reconnects \(.redis_reconnects), input pauses \(.input_pauses)"' "$out/runs/overload-summary.json")"
  log "  after: $(jq -r '.after | "\(.delivered_per_s|floor)/s of \(.offered_per_s), lost \(.lost), skipped \(.skipped), p99 \(.p99_us) us"' "$out/runs/overload-summary.json")"
}

# ---- the run ------------------------------------------------------------------------

log "results in $out"
cost_s=${COST_S:-6}
cost_profile=${COST_PROFILE:-1}
if [ $resume_only -eq 1 ]; then
  resume_run
  log "done in $(( $(date +%s) - suite_start )) s: $out/runs/resume.txt, $out/runs/resume.json"
  exit 0
fi
if [ $overload_only -eq 1 ]; then
  overload_run "${overload_rate:-$((2 * cost_rate))}" "$cost_rate"
  exit 0
fi
if [ $cost_only -eq 1 ]; then
  cost_run
  log "done in $(( $(date +%s) - suite_start )) s: $out/runs/cost.json, $out/runs/*.perf.txt"
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

over_time || cost_run
# twice the two-node maximum the ramp found (else twice the cost rate)
max2=$(cat "$out/runs/n2-ramp-best" 2>/dev/null || echo "$cost_rate")
[ "$max2" != 0 ] || max2=$cost_rate
over_time || overload_run $((2 * max2)) "$max2"
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
 "commit":"$run_commit",
 "node_tree_dirty":$run_dirty,
 "quick":$([ $quick -eq 1 ] && echo true || echo false)}
EOF
"$root/scripts/bench-report.sh" "$out"
log "done in $(( $(date +%s) - suite_start )) s: $out/summary.md, $out/results.json, $out/*.png"
