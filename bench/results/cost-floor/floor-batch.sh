#!/bin/bash
# floor-batch.sh BUILD: the floor (bench/floor.c) with its turns spaced 0,
# 500 and 1000 µs apart (FLOOR_BATCH_US), twice each, alternating; a fresh
# redis-server and two relays per run, 200 rooms of 2 at 40 msg/s each.
B=${1:-build}
run() {
  read -r rp p1 p2 < <("$B/bench/switchboard-bench" ports 3 | tr '\n' ' ')
  redis-server --port "$rp" --bind 127.0.0.1 --save "" --appendonly no --logfile /dev/null &
  local rpid=$!
  sleep 0.3
  FLOOR_BATCH_US=$1 "$B/bench/switchboard-floor" relay "$p1" "$rp" & local a=$!
  FLOOR_BATCH_US=$1 "$B/bench/switchboard-floor" relay "$p2" "$rp" & local b=$!
  sleep 0.3
  for pl in split room; do
    printf 'FLOOR_BATCH_US=%s ' "$1"
    timeout 30 "$B/bench/switchboard-floor" load "$p1,$p2" 200 40 "$pl" 1 6 "$rpid" "$a" "$b" \
      | jq -c '{placement, relay_us_per_msg, redis_us_per_publish, p50_us, p99_us, lost}'
  done
  kill "$a" "$b" "$rpid"
  wait "$a" "$b" "$rpid" 2>/dev/null
}
for _ in 1 2; do for us in 0 500 1000; do run "$us"; done; done
