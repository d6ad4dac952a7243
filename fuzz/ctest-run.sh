#!/usr/bin/env bash
# Runs one fuzz target for CTest:
#
#   fuzz/ctest-run.sh BINARY CORPUS SECONDS ARTIFACTS [DICT]
#
# The corpus is copied to a temporary directory, so what libFuzzer adds
# never lands in the repository. A crash, leak, timeout or failed check
# fails the test; the input that caused it stays in ARTIFACTS and is printed
# with the commands that reproduce it and keep it (see fuzz/README.md).
set -euo pipefail
bin=$1 corpus=$2 seconds=$3 artifacts=$4 dict=${5:-}
name=$(basename "$bin")

work=$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -R "$corpus" "$work/corpus"
rm -rf "$artifacts" && mkdir -p "$artifacts"

args=(-max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1
      -artifact_prefix="$artifacts/")
[ -n "$dict" ] && args+=(-dict="$dict")

if "$bin" "${args[@]}" "$work/corpus"; then
  exit 0
fi

echo
echo "== $name failed; the input that did it:"
for f in "$artifacts"/*; do
  [ -f "$f" ] || continue
  echo "-- $f ($(stat -c %s "$f") bytes), base64:"
  base64 -w 76 "$f" | head -n 40
  echo "   reproduce: $bin $f"
  echo "   keep it:   cp $f $corpus/<what-it-is>   (and a unit test, see fuzz/README.md)"
done
exit 1
