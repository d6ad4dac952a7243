#!/bin/sh
# node-graph.sh - which module of node/ calls which, read from the object
# files of a build (default: build/), and whether calls go one way.
#
#   scripts/node-graph.sh [build-dir]
#
# An edge A -> B means A.c uses a function or variable defined in B.c. The
# Redis module (redis_bus.c and the other redis_*.c but redis_sentinel.c) is
# one unit: its files call each other by design. So are ws_session.c,
# ws_session_input.c and ws_session_output.c, one connection's state, and
# relay.c and relay_channel.c. Prints the edges, then each cycle found, and
# exits 1 if there is one.
set -eu
build=${1:-build}
objs=$(ls "$build"/node/CMakeFiles/*.dir/*.c.o 2>/dev/null || true)
[ -n "$objs" ] || { echo "no object files under $build/node: build first" >&2; exit 2; }
# Without nm every module would look alone, and alone means no cycle.
command -v nm >/dev/null || { echo "nm not found (binutils): cannot read the calls" >&2; exit 2; }

module() {
    basename "$1" .c.o |
        sed -E 's/^redis_(requests|resume|index|reaper|round|cluster|cluster_map|shard_link|bus_publish|scripts)$/redis_bus/; s/^ws_session_(input|output)$/ws_session/; s/^relay_channel$/relay/'
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for o in $objs; do
    m=$(module "$o")
    nm "$o" | awk -v m="$m" '$2 ~ /^[TDBR]$/ { print $3, m }' >>"$tmp/defs"
    nm "$o" | awk -v m="$m" '$1 == "U" { print m, $2 }' >>"$tmp/uses"
done
# module -> module, through the symbols each uses.
awk 'NR == FNR { def[$1] = $2; next }
     ($2 in def) && def[$2] != $1 { print $1, def[$2] }' "$tmp/defs" "$tmp/uses" |
    sort -u >"$tmp/edges"
grep -q '^main ' "$tmp/edges" || { echo "found no calls from main: cannot judge the graph" >&2; exit 2; }
awk '{ to[$1] = to[$1] " " $2 } END { for (m in to) print m " ->" to[m] }' "$tmp/edges" | sort
if tsort "$tmp/edges" >/dev/null 2>"$tmp/loops"; then
    echo "no cycle"
else
    echo "cycles:"
    grep -v 'input contains a loop' "$tmp/loops" | sed 's/^tsort: /  /'
    exit 1
fi
