#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (build-fuzz/) and runs
# each for SLUICE_FUZZ_SECONDS (default 30) on a copy of its seed corpus, so
# runs never change the committed corpus. Fails when a target crashes, hangs
# (10 s on one input) or runs out of memory (2 GB), and names the input that
# did it, kept in build-fuzz/artifacts/. Usage: scripts/fuzz.sh [TARGET...]
# (targets: dag_loader http_request; default both). SLUICE_FUZZ_SECONDS=0
# only builds them.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${SLUICE_FUZZ_SECONDS:-30}
if ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
  echo "fuzz: SLUICE_FUZZ_SECONDS must be a whole number of seconds, not '$seconds'" >&2
  exit 1
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(dag_loader http_request)

export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
# -O1 and line tables: libFuzzer's usual trade of speed, build time and stacks.
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DSLUICE_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -gline-tables-only" >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]/%/_fuzz}"
# libFuzzer reads -max_total_time=0 as no limit at all.
[ "$seconds" -gt 0 ] || exit 0

work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
artifacts=$PWD/build-fuzz/artifacts
mkdir -p "$artifacts"
# The test command's sanitizer settings are not the fuzzers': leaks count here.
export ASAN_OPTIONS=detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1

failed=0
for target in "${targets[@]}"; do
  corpus=$work/$target
  mkdir -p "$corpus"
  cp tests/fuzz/corpus/"$target"/* "$corpus"/
  if [ "$target" = dag_loader ]; then
    # Every example and test DAG is a seed too.
    for f in dags/*.yaml tests/dags/valid/*.yaml tests/dags/invalid/*.yaml; do
      cp "$f" "$corpus/${f//\//_}"
    done
  fi
  log=$work/$target.log
  started=$SECONDS
  # TMPDIR: the HTTP target's store goes where this script cleans up.
  if TMPDIR=$work build-fuzz/"${target}"_fuzz -max_total_time="$seconds" -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/$target-" \
      "$corpus" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz $target: ${runs:-?} inputs in $((SECONDS - started)) s, no crash"
  else
    failed=1
    echo "fuzz $target: FAILED" >&2
    grep -v -E '^#[0-9]+.*(NEW|REDUCE|pulse)' "$log" | tail -n 60 >&2
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    if [ -n "$artifact" ]; then
      echo "fuzz $target: the input is in $artifact; rerun it with" \
           "build-fuzz/${target}_fuzz $artifact" >&2
    fi
  fi
done
exit "$failed"
