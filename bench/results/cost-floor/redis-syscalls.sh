#!/bin/bash
# redis-syscalls.sh: redis-server's system calls and context switches per
# PUBLISH over 4 s of the cross run under the nodes, then 4 s of the floor's
# cross run, in one `scripts/bench.sh --cost` (perf stat on redis-server).
root=$(cd "$(dirname "$0")/../../.." && pwd)
out=$(mktemp -d)
COST_PROFILE=0 COST_S=8 "$root/scripts/bench.sh" --cost --no-build --out "$out" >/dev/null 2>&1 &
bp=$!
stat4() {  # label
  local r
  r=$(pgrep -n redis-server)
  perf stat -x, -e raw_syscalls:sys_enter,context-switches -p "$r" -o "$out/$1.csv" -- sleep 4 \
    >/dev/null 2>&1
  awk -F, -v l="$1" '$1 ~ /^[0-9]+$/ {v[$3] = $1 / (16000 * 4)}
    END {printf "%s: %.2f system calls and %.2f context switches per PUBLISH\n", l,
         v["raw_syscalls:sys_enter"], v["context-switches"]}' "$out/$1.csv"
}
for _ in $(seq 1 300); do pgrep -f "switchboard-bench relay.*placement split" >/dev/null && break; sleep 0.1; done
sleep 3
stat4 "under the nodes"
for _ in $(seq 1 600); do pgrep -f "switchboard-floor load.*split" >/dev/null && break; sleep 0.1; done
sleep 2
stat4 "under the floor"
wait "$bp"
grep -E "cross-node|floor:" "$out/suite.log" | cut -d' ' -f3-
rm -rf "$out"
