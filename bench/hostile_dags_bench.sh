#!/usr/bin/env bash
# A DAG folder of 450 hostile files and 5 valid DAGs (issue 21, items 11-12;
# the files come from tests/core/hostile_dag_corpus.cc, seed 21): how long
# `sluice dags validate` takes on it and its peak memory, and, for `sluice
# standalone` started on it, how long until the 5 valid DAGs are loaded and
# until their runs have succeeded. Target: the valid DAGs load within 5 s.
#
# Usage: bench/hostile_dags_bench.sh
#   SLUICE_BIN=path/to/sluice and SLUICE_TESTS=path/to/sluice_tests use those
#   binaries instead of building build/.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${SLUICE_BIN:-}" ]; then
  sluice=$(cd "$(dirname "$SLUICE_BIN")" && pwd)/$(basename "$SLUICE_BIN")
  tests=${SLUICE_TESTS:-$(dirname "$sluice")/sluice_tests}
else
  scripts/build.sh release >/dev/null
  sluice=$PWD/build/sluice
  tests=$PWD/build/sluice_tests
fi
for tool in python3 curl; do
  command -v "$tool" >/dev/null || { echo "hostile_dags_bench: $tool is needed" >&2; exit 1; }
done

work=$(mktemp -d /tmp/sluice-hostile-bench.XXXXXX)
standalone_pid=
cleanup() {
  if [ -n "$standalone_pid" ]; then
    # A second signal ends running tasks (hostile DAGs that load hold sensors).
    kill "$standalone_pid" 2>/dev/null || true
    sleep 0.5
    kill "$standalone_pid" 2>/dev/null || true
    wait "$standalone_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "hostile_dags_bench: writing the corpus" >&2
SLUICE_HOSTILE_FILES=450 SLUICE_HOSTILE_CORPUS="$work/dags" "$tests" \
  --gtest_filter=HostileDagFolderTest.ValidDagsLoadAndEveryErrorNamesFileAndLine >/dev/null
files=$(find "$work/dags" -name '*.yaml' | wc -l)
size=$(du -sm "$work/dags" | cut -f1)

# --- dags validate: every file is parsed and reported
start=$(date +%s%N)
/usr/bin/env time -f "%M %U" -o "$work/validate.rss" "$sluice" dags validate "$work/dags" \
  >"$work/validate.out" 2>&1 || true
end=$(date +%s%N)
validate_ms=$(( (end - start) / 1000000 ))
read -r validate_kb validate_cpu <<<"$(tail -1 "$work/validate.rss")"
validate_mb=$(( validate_kb / 1024 ))
summary=$(tail -1 "$work/validate.out")

# --- standalone: the valid DAGs load and run while the rest is parsed
export SLUICE_DB="sqlite://$work/sluice.db" SLUICE_DAGS="$work/dags" SLUICE_API_TOKEN=
(cd "$work" && "$sluice" db migrate >/dev/null)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start=$(date +%s%N)
(cd "$work" && exec "$sluice" standalone --port "$port" >"$work/standalone.log" 2>&1) &
standalone_pid=$!
python3 - "$port" "$start" <<'PY' >"$work/standalone.times"
import json, sys, time, urllib.request

port, start_ns = int(sys.argv[1]), int(sys.argv[2])
def get(path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return json.load(r)
    except Exception:
        return None
loaded_ms = succeeded_ms = None
deadline = time.time() + 300
ids = [f"valid_dag_{i}" for i in range(5)]
while time.time() < deadline and succeeded_ms is None:
    elapsed = (time.time_ns() - start_ns) // 1000000
    if loaded_ms is None and all(get(f"/api/v1/dags/{d}") for d in ids):
        loaded_ms = elapsed
    if loaded_ms is not None:
        runs = [get(f"/api/v1/dags/{d}/runs") or [] for d in ids]
        if all(r and r[0]["state"] == "success" for r in runs):
            succeeded_ms = elapsed
    time.sleep(0.05)
print(loaded_ms if loaded_ms is not None else -1, succeeded_ms if succeeded_ms is not None else -1)
PY
read -r loaded_ms succeeded_ms <"$work/standalone.times"
rss_mb=$(( $(awk '/VmHWM/ {print $2}' "/proc/$standalone_pid/status" 2>/dev/null || echo 0) / 1024 ))

printf 'DAG folder: %d files, %d MB (450 hostile, 5 valid)\n' "$files" "$size"
printf '  dags validate:  %6d ms (%s s of CPU), peak %d MB, %s\n' "$validate_ms" "$validate_cpu" \
  "$validate_mb" "$summary"
printf '  standalone:     valid DAGs loaded after %d ms (target: <= 5000 ms), their runs succeeded after %d ms, peak %d MB so far\n' \
  "$loaded_ms" "$succeeded_ms" "$rss_mb"
