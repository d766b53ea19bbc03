#!/usr/bin/env bash
# The test command: installs what is missing, builds with ASan + UBSan, starts a
# throwaway Postgres and runs every test with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh asan
if [ ! -d tests/web/e2e/node_modules/playwright-core ]; then
  (cd tests/web/e2e && npm ci --no-audit --no-fund --loglevel=error)
fi
export SLUICE_TEST_OUTPUT="$PWD/build-asan/test-output"
mkdir -p "$SLUICE_TEST_OUTPUT"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1
scripts/with-postgres.sh ctest --test-dir build-asan -j2 --output-on-failure --timeout 600 "$@"
