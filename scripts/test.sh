#!/usr/bin/env bash
# Sets up everything on a fresh Debian 12 machine, builds with warnings as
# errors, and runs every test: first the normal build (gcc), then the same
# suite built with clang under AddressSanitizer + UndefinedBehaviorSanitizer,
# where CTest also runs each fuzz target for 25 s (fuzz/README.md).
#
#   scripts/test.sh            both builds
#   scripts/test.sh --fast     the normal build only
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

fast=0
[ "${1:-}" = "--fast" ] && fast=1

run_suite() {
  local dir=$1 type=$2 cc=("${@:3}")
  echo "== build $type ($dir)"
  "$root/scripts/setup.sh" --build-dir "$dir" --build-type "$type" "${cc[@]}"
  echo "== test $type"
  (cd "$dir" && ctest --output-on-failure --timeout 900)
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_suite "$root/build" Release
[ $fast -eq 1 ] || run_suite "$root/build-asan" Asan --cc clang
echo "== all tests passed"
