#!/usr/bin/env bash
# Installs everything Switchboard needs on Debian 12 and builds it.
#
#   scripts/setup.sh [--deps-only] [--build-dir DIR] [--build-type TYPE] [--target T] [--cc CC]
#
# --cc clang also installs clang with its sanitizer and libFuzzer runtimes
# and builds with it (the sanitizer build and the fuzz targets, see
# fuzz/README.md); a build directory configured with another compiler is
# configured afresh.
#
# Idempotent: packages already installed are not reinstalled, and the
# libwebsockets build in .deps/ is reused once it exists. Debian 12 ships
# libwebsockets without libevent support, so we build Debian's own source package (4.1.6) as a static
# library with libevent enabled, with the patches in scripts/lws-patches/
# applied (each says why). The build is redone when those patches change.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
deps_only=0
build_dir="$root/build"
build_type=Release
target=()
cc=
while [ $# -gt 0 ]; do
  case "$1" in
    --deps-only) deps_only=1 ;;
    --build-dir) build_dir=$2; shift ;;
    --build-type) build_type=$2; shift ;;
    --target) target=(--target "$2"); shift ;;
    --cc) cc=$2; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "setup: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)

packages=(build-essential cmake pkg-config dpkg-dev libhiredis-dev libevent-dev
          libjansson-dev uuid-dev libcriterion-dev libssl-dev zlib1g-dev
          redis-server haproxy curl docker-compose jq)
# Only for --cc clang: the images and the Release build do without them.
if [ "$cc" = clang ]; then
  packages+=(clang libclang-rt-14-dev libfuzzer-14-dev)
fi

# Node.js and npm run the OpenAPI validator of the tests (tests/openapi/);
# a node already on PATH, from Debian or not, will do.
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# redis-server's package starts a system instance on 6379; the project starts
# its own instances on ports it chooses, so the packaged one is left alone.

lws_prefix="$root/.deps/lws"
lws_patches="$root/scripts/lws-patches"
lws_stamp="$lws_prefix/switchboard-patches.sha256"
patches_digest() {
  cat "$lws_patches"/*.patch | sha256sum | cut -d' ' -f1
}

enable_deb_src() {
  # Add deb-src to the sources apt already uses, whatever their host is.
  local f changed=0
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    if grep -q '^Types:.*\bdeb\b' "$f" && ! grep -q '^Types:.*deb-src' "$f"; then
      "${sudo_cmd[@]}" sed -i -E 's/^Types:[[:space:]]*deb[[:space:]]*$/Types: deb deb-src/' "$f"
      changed=1
    fi
  done
  if [ -f /etc/apt/sources.list ] && grep -q '^deb ' /etc/apt/sources.list \
     && ! grep -q '^deb-src ' /etc/apt/sources.list; then
    grep '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' | "${sudo_cmd[@]}" tee -a /etc/apt/sources.list >/dev/null
    changed=1
  fi
  if [ $changed -eq 1 ] || ! apt-cache showsrc libwebsockets >/dev/null 2>&1 \
     || [ -z "$(apt-cache showsrc libwebsockets 2>/dev/null)" ]; then
    "${sudo_cmd[@]}" apt-get update -qq
  fi
}

build_lws() {
  local work="$root/.deps/src"
  rm -rf "$work" && mkdir -p "$work"
  enable_deb_src
  (cd "$work" && apt-get source -qq libwebsockets >/dev/null 2>&1 || (cd "$work" && apt-get source libwebsockets))
  local src
  src=$(find "$work" -maxdepth 1 -mindepth 1 -type d -name 'libwebsockets-*' | head -n 1)
  [ -n "$src" ] || { echo "setup: apt-get source libwebsockets produced no source tree" >&2; exit 1; }
  local p
  for p in "$lws_patches"/*.patch; do
    patch -s -p1 -d "$src" <"$p" || { echo "setup: $p does not apply" >&2; exit 1; }
  done
  # Installed beside the old copy and swapped in at the end, so a build
  # that fails halfway leaves the previous one usable.
  local staging="$lws_prefix.new"
  rm -rf "$staging"
  cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$staging" -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
    -DLWS_WITH_LIBEVENT=ON -DLWS_WITH_EVLIB_PLUGINS=OFF \
    -DLWS_WITH_SHARED=OFF -DLWS_WITH_STATIC=ON \
    -DLWS_WITHOUT_TESTAPPS=ON -DLWS_WITHOUT_TEST_SERVER=ON -DLWS_WITHOUT_TEST_CLIENT=ON \
    -DLWS_WITHOUT_TEST_PING=ON -DLWS_WITH_MINIMAL_EXAMPLES=OFF \
    -DLWS_WITH_SSL=ON -DLWS_WITH_HTTP2=OFF -DLWS_IPV6=ON \
    -DDISABLE_WERROR=ON >"$work/cmake.log" 2>&1 || { tail -n 40 "$work/cmake.log"; exit 1; }
  cmake --build "$work/build" -j"$(nproc)" >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log"; exit 1; }
  cmake --install "$work/build" >/dev/null
  patches_digest >"$staging/switchboard-patches.sha256"
  rm -rf "$lws_prefix" && mv "$staging" "$lws_prefix"
  rm -rf "$work"
}

if [ ! -f "$lws_prefix/lib/libwebsockets.a" ] \
   || [ "$(cat "$lws_stamp" 2>/dev/null)" != "$(patches_digest)" ]; then
  echo "setup: building libwebsockets with libevent support into .deps/lws"
  build_lws
fi
lws_arg=(-DLWS_PREFIX="$lws_prefix")

[ $deps_only -eq 1 ] && exit 0

# CMake takes CC only when it first configures a build directory and keeps
# that compiler; for another one the directory starts afresh.
if [ -n "$cc" ]; then
  cached=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$build_dir/CMakeCache.txt" 2>/dev/null || true)
  if [ -n "$cached" ] && [ "$(readlink -f "$cached")" != "$(readlink -f "$(command -v "$cc")")" ]; then
    echo "setup: $build_dir was configured with $cached; configuring it afresh with $cc"
    rm -rf "$build_dir/CMakeCache.txt" "$build_dir/CMakeFiles"
  fi
  export CC=$cc
fi
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE="$build_type" "${lws_arg[@]}" >/dev/null
cmake --build "$build_dir" -j"$(nproc)" "${target[@]}"
