#!/usr/bin/env bash
# Turns the runs of scripts/bench.sh into results.json, summary.md (tables and
# targets, met or missed) and PNG plots. Reads and writes only DIR.
#
#   scripts/bench-report.sh DIR
set -euo pipefail
dir=${1:?usage: bench-report.sh DIR}
runs="$dir/runs"

load() { [ -s "$1" ] && cat "$1" || echo 'null'; }

# ---- results.json --------------------------------------------------------------

node_counts=$(ls "$runs" | sed -nE 's/^n([0-9]+)-ramp-best$/\1/p' | sort -n | tr '\n' ' ')
{
  echo '{"machine":'
  load "$dir/machine.json"
  printf ',"redis_ceiling":{"payload_bytes":%s,"publish_per_s":%s}' \
    "$(cat "$runs/redis-ceiling.size" 2>/dev/null || echo null)" \
    "$(cat "$runs/redis-ceiling.rps" 2>/dev/null || echo null)"
  printf ',"cost":'
  load "$runs/cost.json"
  printf ',"overload":'
  load "$runs/overload-summary.json"
  echo ',"by_nodes":{'
  first=1
  for n in $node_counts; do
    [ $first -eq 1 ] || echo ','
    first=0
    best=$(cat "$runs/n$n-ramp-best")
    printf '"%s":{"max_rate_per_participant":%s,"ramp":[' "$n" "$best"
    sep=""
    for f in $(ls "$runs" | sed -nE "s/^n$n-ramp-([0-9.]+)\.json$/\1/p" | sort -n); do
      printf '%s{"rate":%s,"result":' "$sep" "$f"
      load "$runs/n$n-ramp-$f.json"
      printf '}'
      sep=","
    done
    printf '],"max":'
    load "$runs/n$n-ramp-$best.json"
    for s in half mesh join; do
      printf ',"%s":' "$s"
      load "$runs/n$n-$s.json"
    done
    # capacity runs, smallest first; "capacity" is the largest
    caps=$(ls "$runs" | sed -nE "s/^n$n-capacity-([0-9]+)\.json$/\1/p" | sort -n)
    printf ',"capacity_series":['
    sep=""
    for c in $caps; do printf '%s' "$sep"; load "$runs/n$n-capacity-$c.json"; sep=","; done
    printf '],"capacity":'
    last_cap=$(echo $caps | awk '{ print $NF }')
    if [ -n "$last_cap" ]; then load "$runs/n$n-capacity-$last_cap.json"; else echo null; fi
    echo '}'
  done
  echo '}'
  # 2 nodes on a 3-shard Redis Cluster: the relay ramp, CPU per shard.
  if [ -s "$runs/c2-ramp-best" ]; then
    best=$(cat "$runs/c2-ramp-best")
    printf ',"redis_cluster":{"shards":3,"nodes":2,"max_rate_per_participant":%s,"max":' "$best"
    load "$runs/c2-ramp-$best.json"
    printf ',"half":'
    load "$runs/c2-half.json"
    echo '}'
  fi
  echo '}'
} | jq . >"$dir/results.json.tmp"

# Targets, evaluated on the figures above.
jq '
  def fmt(x): if x == null then "n/a" else (x * 100 | round / 100) end;
  . as $r
  | ($r.redis_ceiling.publish_per_s) as $ceiling
  | [ $r.by_nodes | to_entries[] | select(.key != "1") ] as $multi
  | .targets = (
      [ ($r.by_nodes["1"].capacity.capacity // null) as $c
        | { name: "100 000 idle WebSockets on one node",
            target: "100000 connections",
            measured: (if $c then "\($c.joined) connections (fd limit \($r.machine.fd_limit))" else "not run" end),
            met: ($c != null and $c.joined >= 100000) },
        ( ($r.by_nodes["1"].capacity.capacity // null) as $c
        | { name: "node RSS growth per idle connection",
            target: "<= 4 KiB",
            measured: (if $c then "\(fmt($c.rss_per_connection_kib)) KiB after a \($c.hold_s | round) s hold (\(fmt($c.rss_per_connection_connected_kib)) KiB right after connecting), \($c.joined) connections" else "not run" end),
            met: ($c != null and $c.rss_per_connection_kib != null and $c.rss_per_connection_kib <= 4) }) ]
      + [ $multi[] | .key as $n | .value.half.relay as $h
          | { name: "cross-node relay p99 at half the max sustained rate, zero loss (\($n) nodes)",
              target: "p99 <= 2 ms, 0 lost",
              measured: (if $h then "p99 \(fmt($h.latency_cross_node.p99_us / 1000)) ms, \($h.lost) lost at \(fmt($h.cross_node_delivered_per_s)) msg/s" else "not run" end),
              met: ($h != null and $h.latency_cross_node.p99_us <= 2000 and $h.lost == 0) } ]
      + [ $multi[] | .key as $n | .value.max.relay as $m
          | { name: "cross-node relay throughput vs redis-benchmark PUBLISH (\($n) nodes)",
              target: ">= 50 % of \($ceiling)/s",
              measured: (if $m and $ceiling then "\($m.cross_node_publishes_per_s | floor)/s = \(fmt(100 * $m.cross_node_publishes_per_s / $ceiling)) %" else "not run" end),
              met: ($m != null and $ceiling != null and $m.cross_node_publishes_per_s >= 0.5 * $ceiling) } ]
      + [ ($r.cost.cross // null) as $c
          | { name: "cross-node at \($c.offered_per_s // "?") msg/s: node CPU per message vs redis-server CPU per PUBLISH, p99, loss",
              target: "<= 1.5 x, p99 <= 2 ms, 0 lost",
              measured: (if $c then "\($c.node_us_per_msg) vs \($c.redis_us_per_publish) us = \($c.node_over_redis) x, p99 \(fmt($c.p99_us / 1000)) ms, \($c.lost) lost\(if $r.cost.floor.cross.ratio then " (floor: \($r.cost.floor.cross.ratio) x)" else "" end)" else "not run" end),
              met: ($c != null and $c.node_over_redis <= 1.5 and $c.p99_us <= 2000 and $c.lost == 0) } ]
      + [ ($r.cost.same // null) as $c
          | { name: "same-node relay: node CPU per message vs redis-server CPU per PUBLISH",
              target: "<= 1 x",
              measured: (if $c then "\($c.node_us_per_msg) us = \($c.node_over_redis_publish) x (p99 \(fmt($c.p99_us / 1000)) ms, \($c.lost) lost)\(if $r.cost.floor.same.ratio_to_a_publish then " (floor: \($r.cost.floor.same.ratio_to_a_publish) x)" else "" end)" else "not run" end),
              met: ($c != null and $c.node_over_redis_publish <= 1) } ]
      + [ ($r.overload // null) as $o
          | { name: "overload: 2 x the max for 20 s, then relay at the max",
              target: "0 lost, no subscriber dropped, clean afterwards",
              measured: (if $o and $o.offered_per_s then "\($o.offered_per_s) msg/s offered, \($o.delivered_per_s | floor)/s delivered, \($o.lost) lost, \($o.skipped_by_senders) held back at the senders, subscriber links kept: \($o.subscriber_links_same), reconnects \($o.redis_reconnects), input pauses \($o.input_pauses); after: \($o.after.delivered_per_s | floor)/s, \($o.after.lost) lost, \($o.after.skipped) skipped, p99 \(fmt($o.after.p99_us / 1000)) ms" else "not run" end),
              met: ($o != null and $o.lost == 0 and $o.subscriber_links_same and $o.redis_reconnects == 0 and $o.after.lost == 0 and $o.after.skipped == 0) } ]
      + [ $r.by_nodes | to_entries[] | .key as $n | .value.join.join as $j
          | { name: "joins per node, p99 time to connected (\($n) nodes)",
              target: ">= 5000/s per node, p99 <= 20 ms",
              measured: (if $j then "\($j.joins_per_s_per_node | floor)/s per node, p99 \(fmt($j.time_to_connected.p99_us / 1000)) ms" else "not run" end),
              met: ($j != null and $j.joins_per_s_per_node >= 5000 and $j.time_to_connected.p99_us <= 20000) } ]
    )
' "$dir/results.json.tmp" >"$dir/results.json"
rm -f "$dir/results.json.tmp"

# ---- summary.md ------------------------------------------------------------------

jq -r '
  def ms(us): if us == null then "–" else ((us / 10 | round) / 100 | tostring) end;
  def n0(x): if x == null then "–" else (x | floor | tostring) end;
  def pct(x): if x == null or x < 0 then "–" else ((x | round | tostring) + " %") end;
  def r2(x): if x == null then "–" else ((x * 100 | round) / 100 | tostring) end;
  .machine as $m
  | "Machine: \($m.cores) cores (\($m.cpu)), \($m.mem_gib) GiB, Linux \($m.kernel); shared by the generator, redis-server and the nodes. Descriptor limit \($m.fd_limit). \($m.date), commit \($m.commit)\(if $m.node_tree_dirty then " with uncommitted changes in node/ or common/" else "" end)\(if $m.quick then ", --quick" else "" end).\n",
    "Redis ceiling: `redis-benchmark -P 16 PUBLISH` with a \(.redis_ceiling.payload_bytes)-byte payload: **\(n0(.redis_ceiling.publish_per_s))/s**.\n",
    "### Relay: rooms of 2, participants split over the nodes (200 rooms, 15 % SDP, 50 % directed)\n",
    "| nodes | max sustained | deliveries/s | cross-node/s | p99 at max | at half: p50 / p99 / p99.9 / max | lost | CPU at max: gen / nodes / redis / whole machine |",
    "|---|---|---|---|---|---|---|---|",
    (.by_nodes | to_entries[] | .key as $n | .value as $v | $v.max.relay as $x | $v.half.relay as $h
     | "| \($n) | \($v.max_rate_per_participant) msg/s x 400 | \(n0($x.delivered_per_s)) | \(n0($x.cross_node_delivered_per_s)) | \(ms($x.latency_all.p99_us)) ms | \(ms($h.latency_all.p50_us)) / \(ms($h.latency_all.p99_us)) / \(ms($h.latency_all.p999_us)) / \(ms($h.latency_all.max_us)) ms | \(n0($h.lost)) | \(pct($v.max.common.cpu_window.generator_pct)) / \([$v.max.common.cpu_window.nodes[]?.pct] | map(round | tostring) | join("+")) % / \(pct($v.max.common.cpu_window.watched[0].pct)) / \(pct($v.max.common.cpu_window.machine_pct)) |"),
    (if .redis_cluster then
       "\n### Relay on a 3-shard Redis Cluster (2 nodes), beside one Redis\n",
       "| Redis | max sustained | deliveries/s | p99 at max | at half: p50 / p99 | lost | Redis CPU at max, per shard | nodes / whole machine |",
       "|---|---|---|---|---|---|---|---|",
       (.by_nodes["2"] as $v | select($v) | $v.max.relay as $x | $v.half.relay as $h
        | "| one | \($v.max_rate_per_participant) msg/s x 400 | \(n0($x.delivered_per_s)) | \(ms($x.latency_all.p99_us)) ms | \(ms($h.latency_all.p50_us)) / \(ms($h.latency_all.p99_us)) ms | \(n0($h.lost)) | \(pct($v.max.common.cpu_window.watched[0].pct)) | \([$v.max.common.cpu_window.nodes[]?.pct] | map(round | tostring) | join("+")) % / \(pct($v.max.common.cpu_window.machine_pct)) |"),
       (.redis_cluster as $v | $v.max.relay as $x | $v.half.relay as $h
        | "| cluster, 3 shards | \($v.max_rate_per_participant) msg/s x 400 | \(n0($x.delivered_per_s)) | \(ms($x.latency_all.p99_us)) ms | \(ms($h.latency_all.p50_us)) / \(ms($h.latency_all.p99_us)) ms | \(n0($h.lost)) | \([$v.max.common.cpu_window.watched[]?.pct] | map(round | tostring) | join(" + ")) % | \([$v.max.common.cpu_window.nodes[]?.pct] | map(round | tostring) | join("+")) % / \(pct($v.max.common.cpu_window.machine_pct)) |")
     else empty end),
    "\n### Mesh: 50 rooms of 6, 5 msg/s per participant\n",
    "| nodes | deliveries/s | same-node p50 / p99 | cross-node p50 / p99 | lost |",
    "|---|---|---|---|---|",
    (.by_nodes | to_entries[] | .value.mesh.relay as $x
     | "| \(.key) | \(n0($x.delivered_per_s)) | \(ms($x.latency_same_node.p50_us)) / \(ms($x.latency_same_node.p99_us)) ms | \(ms($x.latency_cross_node.p50_us)) / \(ms($x.latency_cross_node.p99_us)) ms | \(n0($x.lost)) |"),
    "\n### Join: rooms of 4, 16 joins in flight per node\n",
    "| nodes | clients | joins/s | per node | to `connected` p50 / p99 | `user-joined` seen p99 | CPU: gen / nodes / redis / whole machine |",
    "|---|---|---|---|---|---|---|",
    (.by_nodes | to_entries[] | .value.join as $v | $v.join as $j
     | "| \(.key) | \(n0($j.clients)) | \(n0($j.joins_per_s)) | \(n0($j.joins_per_s_per_node)) | \(ms($j.time_to_connected.p50_us)) / \(ms($j.time_to_connected.p99_us)) ms | \(ms($j.user_joined_seen.p99_us)) ms | \(pct($v.common.cpu_window.generator_pct)) / \([$v.common.cpu_window.nodes[]?.pct] | map(round | tostring) | join("+")) % / \(pct($v.common.cpu_window.watched[0].pct)) / \(pct($v.common.cpu_window.machine_pct)) |"),
    "\n### Capacity: idle connections on one node, rooms of 2–10\n",
    "| asked | connections | ramp | node RSS per connection: connected / after the hold | node CPU while idle | relay check after the hold | its latency p50 / p99 |",
    "|---|---|---|---|---|---|---|",
    (.by_nodes["1"].capacity_series[]?.capacity as $c
     | "| \($c.requested) | \($c.joined) | \(n0($c.joins_per_s)) joins/s | \(r2($c.rss_per_connection_connected_kib)) / \(r2($c.rss_per_connection_kib)) KiB | \(r2($c.node_idle_cpu_pct)) % of a core over \($c.hold_s | round) s | \($c.check.received)/\($c.check.expected) delivered in \($c.check.rooms) rooms, \($c.check.lost) lost | \(ms($c.check.latency.p50_us)) / \(ms($c.check.latency.p99_us)) ms |"),
    "\n### Cost per message: 2 nodes, 200 rooms of 2, side by side in one run\n",
    "| run | delivered/s | PUBLISH/s | nodes CPU (% of a core) | redis CPU | nodes µs per message | redis µs per PUBLISH | ratio | p50 / p99 | lost |",
    "|---|---|---|---|---|---|---|---|---|---|",
    (.cost // {} | with_entries(select(.key == "cross" or .key == "same")) | to_entries[]
     | .key as $k | .value as $c
     | "| \($k) | \(n0($c.delivered_per_s)) | \(n0($c.publishes_per_s)) | \($c.node_pct | map(round | tostring) | join("+")) | \(r2($c.redis_pct)) % | \($c.node_us_per_msg) | \(if $k == "cross" then $c.redis_us_per_publish else "–" end) | \(if $k == "cross" then $c.node_over_redis else $c.node_over_redis_publish end) | \(ms($c.p50_us)) / \(ms($c.p99_us)) ms | \(n0($c.lost)) |"),
    (.cost.floor // null | select(.) | .cross as $x | .same as $y
     | "\nThe floor (`bench/floor.c`, two relays that make only the system calls a node must make), right after, on the same redis-server: cross \($x.relay_us_per_msg) µs per message against redis-server'"'"'s \($x.redis_us_per_publish) µs per PUBLISH = \($x.ratio) ×, p99 \(ms($x.p99_us)) ms, \(n0($x.lost)) lost; same \($y.relay_us_per_msg) µs = \($y.ratio_to_a_publish) × a PUBLISH. The nodes cost \(.nodes_over_floor.cross) × the floor cross and \(.nodes_over_floor.same) × same.\n"),
    "\n### Targets\n",
    "| target | wanted | measured | |",
    "|---|---|---|---|",
    (.targets[] | "| \(.name) | \(.target) | \(.measured) | \(if .met then "met" else "**missed**" end) |")
' "$dir/results.json" >"$dir/summary.md"

# ---- plots ----------------------------------------------------------------------------

plot_data="$dir/plot-throughput.dat"
jq -r '.redis_ceiling.publish_per_s as $c | .by_nodes | to_entries[]
       | "\(.key) \(.value.max.relay.delivered_per_s // 0) \(.value.max.relay.cross_node_publishes_per_s // 0) \(.value.join.join.joins_per_s // 0) \($c // 0)"' \
  "$dir/results.json" >"$plot_data"

ceiling=$(jq -r '.redis_ceiling.publish_per_s // 0 | floor' "$dir/results.json")
gnuplot <<EOF
set terminal pngcairo size 900,560 font "sans,10"
set output "$dir/throughput.png"
set title "Max sustained relay rate and join rate against node count\n(2 cores shared by generator, Redis and nodes; redis-benchmark PUBLISH ceiling: $ceiling/s)"
set xlabel "nodes"
set ylabel "per second"
set key bottom right
set grid
set xtics 1
set yrange [0:*]
set style data linespoints
plot "$plot_data" using 1:2 title "relay deliveries/s at the max sustained rate" lw 2 pt 7, \
     "" using 1:3 title "of which crossed nodes (one Redis PUBLISH each)" lw 2 pt 5, \
     "" using 1:4 title "joins/s (all nodes together)" lw 2 pt 9
EOF

# Latency CDFs at half the max sustained rate: same-node for one node,
# cross-node for more; and the mesh rooms of the largest run, both kinds.
plots=""
for n in $node_counts; do
  kind=cross; [ "$n" = 1 ] && kind=same
  f="$runs/n$n-half.cdf.$kind"
  [ -s "$f" ] && plots+="\"$f\" using 1:(100*\$2) title \"relay, $n node(s), $kind-node\" lw 2 with steps, "
done
last=$(echo $node_counts | awk '{ print $NF }')
for kind in same cross; do
  f="$runs/n$last-mesh.cdf.$kind"
  [ -s "$f" ] && plots+="\"$f\" using 1:(100*\$2) title \"mesh of 6, $last nodes, $kind-node\" lw 2 dt 2 with steps, "
done
if [ -n "$plots" ]; then
  gnuplot <<EOF
set terminal pngcairo size 900,560 font "sans,10"
set output "$dir/latency.png"
set title "End-to-end relay latency at half the max sustained rate (CDF)"
set xlabel "latency, ms (log scale)"
set ylabel "messages delivered within, %"
set logscale x
set grid
set key bottom right
set yrange [0:100]
plot ${plots%, }
EOF
fi
jq -r '.by_nodes["1"].capacity_series[]?.capacity | "\(.joined) \(.node_idle_cpu_pct) \(.rss_per_connection_kib)"' \
  "$dir/results.json" >"$dir/plot-capacity.dat"
if [ "$(wc -l <"$dir/plot-capacity.dat")" -gt 1 ]; then
  gnuplot <<EOF
set terminal pngcairo size 900,560 font "sans,10"
set output "$dir/idle-cpu.png"
set title "One node holding idle WebSockets: CPU over a 40 s hold (pings every 20 s) and memory"
set xlabel "idle connections"
set ylabel "node CPU, % of one core"
set y2label "node RSS per connection, KiB"
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set grid
set key top left
plot "$dir/plot-capacity.dat" using 1:2 title "CPU while idle" lw 2 pt 7 with linespoints, \
     "" using 1:3 axes x1y2 title "RSS per connection" lw 2 pt 5 with linespoints
EOF
fi

# p99 latency against the offered rate, every ramp step of every node count.
ramp_plots=""
for n in $node_counts; do
  jq -r --arg n "$n" '.by_nodes[$n].ramp[] | .result.relay // empty
    | "\(.delivered_per_s) \(.latency_all.p50_us / 1000) \(.latency_all.p99_us / 1000)"' \
    "$dir/results.json" >"$dir/plot-ramp-$n.dat"
  [ -s "$dir/plot-ramp-$n.dat" ] && ramp_plots+="\"$dir/plot-ramp-$n.dat\" using 1:3 title \"$n node(s), p99\" lw 2 pt 7 with linespoints, \"$dir/plot-ramp-$n.dat\" using 1:2 title \"$n node(s), p50\" lw 1 dt 2 pt 6 with linespoints, "
done
if [ -n "$ramp_plots" ]; then
  gnuplot <<EOF
set terminal pngcairo size 900,560 font "sans,10"
set output "$dir/latency-vs-load.png"
set title "Relay latency against load (rooms of 2 split over the nodes; each point a 4 s step)"
set xlabel "deliveries per second"
set ylabel "latency, ms (log scale)"
set logscale y
set grid
set key top left
plot ${ramp_plots%, }
EOF
fi
echo "bench-report: wrote $dir/results.json, $dir/summary.md and $(cd "$dir" && ls *.png | tr '\n' ' ')"
