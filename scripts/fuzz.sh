#!/usr/bin/env bash
# A longer fuzzing campaign than the 25 s CTest gives each target.
#
#   scripts/fuzz.sh [TARGET|all] [SECONDS] [-- LIBFUZZER-FLAGS...]
#
# TARGET is a file name of fuzz/ without .c (client_msg, envelope, config,
# url_origin, ids, http_parse, json_members, rfc6455); all (the default)
# runs each in turn. SECONDS (default 600) is per target. Builds the clang
# sanitizer build (build-asan) if needed. New inputs go to
# .fuzz/<target>/corpus, which later campaigns resume from;
# fuzz/corpus/<target>/ is read, never written. Crashes land in
# .fuzz/<target>/ with the steps to keep them. SB_FUZZ_WORK moves .fuzz.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

which=${1:-all}
seconds=${2:-600}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] && [ "$1" != "--" ] && shift
[ "${1:-}" = "--" ] && shift
extra=("$@")
build="$root/build-asan"
work=${SB_FUZZ_WORK:-$root/.fuzz}

targets=()
for f in fuzz/*.c; do
  name=$(basename "$f" .c)
  case "$name" in fuzz_util|members_ref|replay_main) continue ;; esac
  targets+=("$name")
done
if [ "$which" != all ]; then
  which=${which#fuzz_}
  [ -f "fuzz/$which.c" ] || { echo "fuzz: no target $which (have: ${targets[*]})" >&2; exit 2; }
  targets=("$which")
fi
case "$seconds" in ''|*[!0-9]*) echo "fuzz: SECONDS must be a whole number" >&2; exit 2 ;; esac

"$root/scripts/setup.sh" --build-dir "$build" --build-type Asan --cc clang --target fuzzers >/dev/null

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
for t in "${targets[@]}"; do
  bin="$build/fuzz/fuzz_$t"
  dir="$work/$t"
  mkdir -p "$dir/corpus"
  args=(-max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$dir/")
  [ -f "fuzz/$t.dict" ] && args+=(-dict="fuzz/$t.dict")
  echo "== fuzz_$t for ${seconds}s (log: $dir/log)"
  # The first directory receives new inputs; the seeds are only read.
  if "$bin" "${args[@]}" "${extra[@]}" "$dir/corpus" "fuzz/corpus/$t" >"$dir/log" 2>&1; then
    echo "   ok: $(grep -o 'cov: [0-9]*' "$dir/log" | tail -n 1), $(ls "$dir/corpus" | wc -l) inputs in $dir/corpus"
  else
    failed+=("$t")
    tail -n 30 "$dir/log"
    for f in "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-*; do
      [ -f "$f" ] || continue
      cat <<MSG
-- found: $f
   reproduce:  $bin $f
   minimize:   $bin -minimize_crash=1 -runs=100000 $f
   keep it:    cp <minimized file> fuzz/corpus/$t/<what-it-is>, fix the bug, and add a
               unit test in tests/unit/ that feeds the same bytes (fuzz/README.md).
MSG
    done
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "== failed: ${failed[*]}"
  exit 1
fi
echo "== no failure. To keep inputs that add coverage, merge them into the seeds:"
echo "   $build/fuzz/fuzz_<target> -merge=1 fuzz/corpus/<target> $work/<target>/corpus"
