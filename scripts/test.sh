#!/usr/bin/env bash
# The test command: installs what is missing, builds with ASan + UBSan
# (build-asan/), starts a throwaway Postgres and runs every test with CTest,
# two at a time. SLUICE_SANITIZE=0 uses the plain Release build (build/).
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
if [ ! -d tests/web/e2e/node_modules/playwright-core ]; then
  (cd tests/web/e2e && npm ci --no-audit --no-fund --loglevel=error)
fi
export SLUICE_TEST_OUTPUT="$PWD/$dir/test-output"
mkdir -p "$SLUICE_TEST_OUTPUT"
scripts/with-postgres.sh ctest --test-dir "$dir" -j2 --output-on-failure --timeout 600 "$@"
