#!/usr/bin/env bash
# Backfill benchmark (issue G): a year of a daily 5-task DAG of `true` tasks
# (365 runs, 1,825 tasks) with --max-active-runs 8, `sluice standalone` on
# SQLite (release build). Prints the total time of `backfill --wait` and the
# time per run and per task.
#
# Usage: bench/backfill_bench.sh [YEAR]      (default 2025)
# SLUICE_BIN=path/to/sluice uses that binary instead of building build/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
year=${1:-2025}

if [ -n "${SLUICE_BIN:-}" ]; then
  sluice=$SLUICE_BIN
else
  scripts/build.sh release sluice >/dev/null
  sluice=$root/build/sluice
fi
work=$(mktemp -d /tmp/sluice-backfill-bench.XXXXXX)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

mkdir -p "$work/dags"
cat >"$work/dags/year.yaml" <<'YAML'
dag: year
schedule: "@daily"
start_date: 2000-01-01
paused: true
tasks:
  - {id: extract, type: shell, command: "true"}
  - {id: clean, type: shell, command: "true", depends_on: [extract]}
  - {id: enrich, type: shell, command: "true", depends_on: [extract]}
  - {id: check, type: shell, command: "true", depends_on: [extract]}
  - {id: load, type: shell, command: "true", depends_on: [clean, enrich, check]}
YAML
cat >"$work/sluice.yaml" <<YAML
db: "sqlite://$work/sluice.db"
dags: dags
YAML

cd "$work"
"$sluice" db migrate >/dev/null
"$sluice" standalone --port "$(free_port)" --slots 8 >"$work/standalone.log" 2>&1 &
pid=$!
# The DAG is in the store once `backfill --dry-run` sees it.
for _ in $(seq 100); do
  "$sluice" backfill year --from "$year-01-01" --to "$year-01-01" --dry-run >/dev/null 2>&1 && break
  sleep 0.1
done

start=$(date +%s.%N)
"$sluice" backfill year --from "$year-01-01" --to "$year-12-31" --max-active-runs 8 --wait \
  >"$work/backfill.out"
end=$(date +%s.%N)

runs=$("$sluice" runs list year --state success --limit 1000 --json |
       python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
python3 - "$start" "$end" "$runs" <<'PY'
import sys
start, end, runs = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
total = end - start
print(f"backfill of {runs} daily runs x 5 tasks = {runs * 5} tasks, --max-active-runs 8, "
      f"standalone --slots 8, SQLite")
print(f"  total      {total:8.2f} s")
print(f"  per run    {total / max(runs, 1) * 1000:8.1f} ms")
print(f"  per task   {total / max(runs * 5, 1) * 1000:8.1f} ms")
PY
tail -1 "$work/backfill.out"
