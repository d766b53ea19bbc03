#!/usr/bin/env bash
# Configures and builds Sluice. Usage: scripts/build.sh [release|asan] [TARGET...]
# (default release, every target; `sluice` builds the binary alone).
# The build goes to build/ (release) or build-asan/ (ASan + UBSan).
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-release}
shift $(( $# > 0 ? 1 : 0 ))
case "$kind" in
  release) dir=build; flags=(-DCMAKE_BUILD_TYPE=Release) ;;
  # -g1: line tables for sanitizer reports, without the cost of full debug info.
  asan) dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O0 -g1" -DSLUICE_SANITIZE=ON) ;;
  *) echo "usage: scripts/build.sh [release|asan] [TARGET...]" >&2; exit 1 ;;
esac
# Let ccache cache objects built with precompiled headers.
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
cmake -S . -B "$dir" -G Ninja "${flags[@]}" >/dev/null
targets=()
[ $# -eq 0 ] || targets=(--target "$@")
cmake --build "$dir" -j "$(nproc)" "${targets[@]}"
