#!/usr/bin/env bash
# Store throughput on both backends: tasks claimed + finished per second with
# 1 and 4 claimer threads, next to the raw single-row commit rate of the same
# database measured in the same run; commits/task = raw rate / task rate
# (target: <= 4). Median of 3 runs each.
#
#   bench/store_bench.sh [--tasks N] [--raw-commits N] [--repeat N]
#
# Postgres: SLUICE_TEST_PG_URL when set, else a throwaway server from
# scripts/with-postgres.sh. Builds bench/store_bench.cc against
# build/libsluice_lib.a when that is up to date, else against the store
# sources (into build/bench, or SLUICE_BENCH_BUILD).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${SLUICE_BENCH_BUILD:-$root/build/bench}
mkdir -p "$out"
cxx="g++"
command -v ccache >/dev/null && cxx="ccache g++"
flags="-std=c++20 -O2 -DNDEBUG -I$root $(pkg-config --cflags libpqxx cpp-httplib)"
libs="$(pkg-config --libs libpqxx cpp-httplib sqlite3) -lpq -lyaml-cpp -ldate-tz -lssl -lcrypto -pthread"

# The library is used only when it is newer than the store's sources and
# migrations; a stale one would measure old code.
lib="$root/build/libsluice_lib.a"
use_lib=0
if [ -f "$lib" ] && [ -z "$(find "$root/core" "$root/migrations" -newer "$lib" -type f | head -1)" ]; then
  use_lib=1
fi
echo "store_bench: building" >&2
if [ "$use_lib" = 1 ]; then
  $cxx $flags "$root/bench/store_bench.cc" "$lib" $libs -o "$out/store_bench"
else
  cmake -DOUT="$out/migrations_data.cc" -DROOT="$root/migrations" \
    -P "$root/cmake/embed_migrations.cmake"
  objs=()
  for src in core/store.cc core/states.cc core/time.cc core/sqlite_store.cc \
             core/postgres_store.cc "$out/migrations_data.cc" bench/store_bench.cc; do
    case "$src" in /*) path="$src" ;; *) path="$root/$src" ;; esac
    obj="$out/$(basename "$src" .cc).o"
    $cxx $flags -c "$path" -o "$obj" &
    objs+=("$obj")
    # two compilers at a time at most
    if [ $(( ${#objs[@]} % 2 )) -eq 0 ]; then wait; fi
  done
  wait
  $cxx "${objs[@]}" $libs -o "$out/store_bench"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "store_bench: running (median of runs; each task = claim + finish)" >&2
"$out/store_bench" --db "sqlite://$tmp/bench.db" "$@"
if [ -n "${SLUICE_TEST_PG_URL:-}" ]; then
  "$out/store_bench" --db "$SLUICE_TEST_PG_URL" "$@"
else
  "$root/scripts/with-postgres.sh" sh -c '"$0" --db "$SLUICE_TEST_PG_URL" "$@"' \
    "$out/store_bench" "$@" | grep -v '^with-postgres:'
fi
