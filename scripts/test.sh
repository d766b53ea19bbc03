#!/usr/bin/env bash
# The test command: installs what is missing, builds with ASan + UBSan
# (build-asan/), starts a throwaway Postgres and runs every test with CTest,
# two at a time. SLUICE_SANITIZE=0 uses the plain Release build (build/).
# Meanwhile the fuzz targets build with clang and run 30 s each
# (scripts/fuzz.sh), in the background at a lower priority, so they add
# little to the wall time. They run on a full run only: not when arguments
# for CTest are given, nor with SLUICE_FUZZ=0 (SLUICE_FUZZ=1 forces them).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if [ "${SLUICE_SANITIZE:-1}" = 1 ]; then
  kind=asan; dir=build-asan
  export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0
  export UBSAN_OPTIONS=print_stacktrace=1
else
  kind=release; dir=build
fi
scripts/build.sh "$kind"
if [ ! -d tests/web/e2e/node_modules/playwright-core ] ||
   [ ! -d tests/web/e2e/node_modules/@readme/openapi-parser ]; then
  (cd tests/web/e2e && npm ci --no-audit --no-fund --loglevel=error)
fi
export SLUICE_TEST_OUTPUT="$PWD/$dir/test-output"
mkdir -p "$SLUICE_TEST_OUTPUT"
fuzz=${SLUICE_FUZZ:-$([ $# -eq 0 ] && echo 1 || echo 0)}
fuzz_pid=
if [ "$fuzz" = 1 ]; then
  fuzz_log=$SLUICE_TEST_OUTPUT/fuzz.log
  # Its own process group, so that an interrupted test command stops it too.
  setsid nice -n 10 scripts/fuzz.sh >"$fuzz_log" 2>&1 &
  fuzz_pid=$!
  trap 'kill -- -"$fuzz_pid" 2>/dev/null || true' EXIT
fi
status=0
scripts/with-postgres.sh ctest --test-dir "$dir" -j2 --output-on-failure --timeout 600 "$@" ||
  status=$?
if [ -n "$fuzz_pid" ]; then
  if wait "$fuzz_pid"; then
    grep '^fuzz ' "$fuzz_log" || true
  else
    cat "$fuzz_log"
    echo "fuzzing failed (log: $fuzz_log)"
    status=1
  fi
fi
exit "$status"
