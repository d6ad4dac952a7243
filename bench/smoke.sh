#!/usr/bin/env bash
# Smoke test of switchboard-bench, run by CTest: a real redis-server and two
# real nodes on free loopback ports, then a short run of each mode with
# --json --require-clean, and checks on the JSON (zero loss, sane counts).
#
#   bench/smoke.sh SWITCHBOARD_BIN BENCH_BIN
#
# Stops only what it started, by pid. Ends with "N passed, M failed".
set -uo pipefail

node_bin=${1:?usage: smoke.sh SWITCHBOARD_BIN BENCH_BIN}
bench_bin=${2:?usage: smoke.sh SWITCHBOARD_BIN BENCH_BIN}
work=$(mktemp -d "${TMPDIR:-/tmp}/sb-bench-smoke.XXXXXX")
pids=()
passed=0
failed=0

stop_all() {
  local pid
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  pids=()
}

cleanup() {
  stop_all
  rm -rf "$work"
}
trap cleanup EXIT

ok() { echo "ok   - $1"; passed=$((passed + 1)); }
not_ok() { echo "FAIL - $1"; failed=$((failed + 1)); }

# json_true FILE EXPR: EXPR is a jq boolean expression over the result.
json_true() {
  local file=$1 expr=$2
  if command -v jq >/dev/null 2>&1; then
    [ "$(jq -r "$expr" "$file" 2>/dev/null)" = "true" ]
  else
    python3 - "$file" "$expr" <<'EOF'
import json, re, sys
doc = json.load(open(sys.argv[1]))
expr = sys.argv[2]
# the jq subset used below: .a.b[0].c paths, ==, >, !=, and, null
def path(m):
    out = 'doc'
    for key, idx in re.findall(r'\.([A-Za-z_]\w*)|\[(\d+)\]', m.group(1)):
        out += "['%s']" % key if key else '[%s]' % idx
    return out
py = re.sub(r'(?<![\w\]\)])(\.[A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[\d+\])*)', path, expr)
py = py.replace('null', 'None')
sys.exit(0 if eval(py) else 1)
EOF
  fi
}

check() {  # name file expr
  if json_true "$2" "$3"; then ok "$1"; else not_ok "$1 ($3)"; fi
}

read -r redis_port node_a node_b < <("$bench_bin" ports 3 | tr '\n' ' ')
[ -n "${node_b:-}" ] || { echo "FAIL - no free ports"; echo "0 passed, 1 failed"; exit 1; }

redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
  --logfile "$work/redis.log" &
pids+=($!)
for _ in $(seq 1 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done

start_node() {  # name port; sets started_pid
  "$node_bin" --host 127.0.0.1 --port "$2" --redis-url "redis://127.0.0.1:$redis_port/0" \
    --node-id "$1" --log-level warn --http-rate-limit 0 --max-connections-per-ip 0 \
    --max-rooms 0 >"$work/$1.log" 2>&1 &
  started_pid=$!
  pids+=("$started_pid")
}
start_node smoke-a "$node_a"
pid_a=$started_pid
start_node smoke-b "$node_b"
pid_b=$started_pid
targets=(--target "127.0.0.1:$node_a" --target "127.0.0.1:$node_b")

run() {  # name, then bench arguments
  local name=$1
  shift
  if "$bench_bin" "$@" "${targets[@]}" --json --require-clean --quiet --max-time 60 \
       >"$work/$name.json" 2>"$work/$name.err"; then
    ok "$name: exits 0 with --require-clean"
  else
    not_ok "$name: exit status $?"
    sed 's/^/    /' "$work/$name.err"
  fi
}

run relay relay --rooms 20 --participants 3 --rate 20 --warmup 0.5 --duration 2 --drain 3
check "relay: messages expected" "$work/relay.json" '.relay.expected > 500'
check "relay: zero loss" "$work/relay.json" '.relay.lost == 0 and .relay.received == .relay.expected'
check "relay: no duplicates or reordering" "$work/relay.json" '.relay.duplicated == 0 and .relay.reordered == 0'
check "relay: both nodes used" "$work/relay.json" '.relay.nodes[1].participants == 30'
check "relay: cross-node latency measured" "$work/relay.json" '.relay.latency_cross_node.count > 100 and .relay.latency_cross_node.p99_us > 0'
check "relay: same-node latency measured" "$work/relay.json" '.relay.latency_same_node.count > 100'
check "relay: no errors" "$work/relay.json" '.common.errors.total == 0'

run join join --clients 400 --room-size 4 --concurrency 32
check "join: all joined" "$work/join.json" '.join.joined == 400 and .join.failed == 0'
check "join: time to connected measured" "$work/join.json" '.join.time_to_connected.count == 400'
check "join: user-joined seen by the others" "$work/join.json" '.join.user_joined_seen.count == 600'

run capacity capacity --connections 600 --hold 1 --sample-rooms 20 --source-ips 2 \
  --node-pid "$pid_a" --node-pid "$pid_b"
check "capacity: all connected" "$work/capacity.json" '.capacity.joined == 600'
check "capacity: relay check lost nothing" "$work/capacity.json" '.capacity.check.lost == 0 and .capacity.check.received > 0'
check "capacity: node memory read" "$work/capacity.json" '.capacity.rss_per_connection_kib != null and .capacity.nodes[0].rss_after_kib > 0'

# The floor relay (floor.c), on the same redis-server: everything arrives,
# across relays and on one.
floor_bin=$(dirname "$bench_bin")/switchboard-floor
read -r floor_a floor_b < <("$bench_bin" ports 2 | tr '\n' ' ')
"$floor_bin" relay "$floor_a" "$redis_port" 2>"$work/floor-a.log" &
floor_pid_a=$!
"$floor_bin" relay "$floor_b" "$redis_port" 2>"$work/floor-b.log" &
floor_pid_b=$!
pids+=("$floor_pid_a" "$floor_pid_b")
for _ in $(seq 1 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$floor_a" 4<>"/dev/tcp/127.0.0.1/$floor_b") 2>/dev/null && break
  sleep 0.1
done
redis_pid=${pids[0]}
for placement in split room; do
  timeout 30 "$floor_bin" load "$floor_a,$floor_b" 20 20 "$placement" 0.5 1 "$redis_pid" \
    "$floor_pid_a" "$floor_pid_b" >"$work/floor-$placement.json" 2>"$work/floor-$placement.err"
  check "floor $placement: all delivered" "$work/floor-$placement.json" \
    '.lost == 0 and .delivered_per_s > 700 and .relay_us_per_msg > 0'
done
check "floor split: Redis carried it" "$work/floor-split.json" '.redis_us_per_publish > 0'

# The nodes must stop cleanly and, under sanitizers, report nothing.
for pid in "$pid_a" "$pid_b"; do kill -TERM "$pid" 2>/dev/null; done
for name_pid in "smoke-a:$pid_a" "smoke-b:$pid_b"; do
  name=${name_pid%%:*}
  pid=${name_pid##*:}
  status=0
  for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  wait "$pid" 2>/dev/null || status=$?
  if [ "$status" -eq 0 ] && ! grep -qE "Sanitizer|runtime error" "$work/$name.log"; then
    ok "$name: stopped cleanly"
  else
    not_ok "$name: exit status $status"
    tail -n 20 "$work/$name.log" | sed 's/^/    /'
  fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
