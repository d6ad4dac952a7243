#!/bin/bash
# syscalls.sh BUILD PLACEMENT: the first node's system calls, context
# switches and CPU (perf stat) per message over 4 s of a 2-node relay at
# 16 000 msg/s (200 rooms of 2, 40 msg/s each). PLACEMENT: room (every room
# on one node) or split (rooms split over the nodes).
B=$1 pl=$2 gen=${GEN:-build}/bench/switchboard-bench
read -r rp n1 n2 < <("$gen" ports 3 | tr '\n' ' ')
redis-server --port "$rp" --bind 127.0.0.1 --save "" --appendonly no --logfile /dev/null &
rpid=$!
sleep 0.3
pids=()
for p in "$n1" "$n2"; do
  "$B/node/switchboard" --host 127.0.0.1 --port "$p" --redis-url "redis://127.0.0.1:$rp/0" \
    --node-id "n$p" --rate-limit 0 --http-rate-limit 0 --max-connections-per-ip 0 --max-rooms 0 \
    --log-level warn >/dev/null 2>&1 &
  pids+=($!)
done
sleep 0.5
"$gen" relay --target "127.0.0.1:$n1" --target "127.0.0.1:$n2" --rooms 200 --participants 2 \
  --rate 40 --placement "$pl" --warmup 1 --duration 8 --drain 2 --quiet --json >/dev/null 2>&1 &
bp=$!
sleep 4
stat=$(mktemp)
perf stat -x, -e 'syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_read,syscalls:sys_enter_write,raw_syscalls:sys_enter,context-switches,task-clock' \
  -p "${pids[0]}" -o "$stat" -- sleep 4 >/dev/null 2>&1
wait "$bp"
kill "${pids[@]}" "$rpid"
wait "${pids[@]}" "$rpid" 2>/dev/null
# the node reads 8 000 messages a second and delivers 8 000
awk -F, -v pl="$pl" -v b="$B" 'BEGIN {m = 8000 * 4}
  /task-clock/ {cpu = $1}
  !/task-clock/ && $1 ~ /^[0-9]+$/ {n = $3; sub(/syscalls:sys_enter_/, "", n);
                                    sub(/raw_syscalls:sys_enter/, "all syscalls", n); v[n] = $1 / m; o[++k] = n}
  END {printf "%s %s:", b, pl; for (i = 1; i <= k; i++) printf " %s %.2f", o[i], v[o[i]];
       printf "; CPU %.1f us/msg\n", cpu * 1000 / m}' "$stat"
rm -f "$stat"
