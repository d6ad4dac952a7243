#!/usr/bin/env bash
# Sets up everything on a fresh Debian 12 machine, builds with warnings as
# errors, and runs every test: first the normal build (gcc), then the same
# suite built with clang under AddressSanitizer + UndefinedBehaviorSanitizer,
# where CTest also runs each fuzz target for 25 s (fuzz/README.md). The
# browser test (tests/browser) needs Debian's chromium and Node.js:
# installed here, as they are for the tests only (not in the images); CTest
# installs the playwright-core of tests/browser/package-lock.json (npm ci).
#
#   scripts/test.sh            both builds
#   scripts/test.sh --fast     the normal build only
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

fast=0
[ "${1:-}" = "--fast" ] && fast=1

browser_deps() {
  local sudo_cmd=() missing=() p
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
  dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q "install ok installed" || missing+=(chromium)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "test: installing ${missing[*]}"
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

run_suite() {
  local dir=$1 type=$2 cc=("${@:3}")
  echo "== build $type ($dir)"
  "$root/scripts/setup.sh" --build-dir "$dir" --build-type "$type" "${cc[@]}"
  echo "== test $type"
  (cd "$dir" && ctest --output-on-failure --timeout 900)
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

browser_deps
run_suite "$root/build" Release
[ $fast -eq 1 ] || run_suite "$root/build-asan" Asan --cc clang
echo "== all tests passed"
