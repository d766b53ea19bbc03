#!/usr/bin/env bash
# Web UI benchmark: one DAG with 300 runs of 30 tasks each in a SQLite
# store, served by `sluice web`. Measures the requests the DAG page makes on
# load (the first grid page, then the DAG's detail), and the other pages'
# calls, median and p95 of N tries, against the target: the API calls under
# 200 ms. With chromium and tests/web/e2e/node_modules (npm ci) present,
# also the full page render in headless chromium (navigation to a painted
# grid and graph; target 300 ms), beside a reference measured in the same
# run (the small workers page) and the machine's load.
#
# Usage: bench/ui_bench.sh [TRIES]   (default 20)
#   SLUICE_BIN=path/to/sluice uses that binary instead of building build/.
#   RUNS=10000 TASKS=10 the store's size (default 300 runs x 30 tasks).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tries=${1:-20}
runs=${RUNS:-300}
tasks=${TASKS:-30}

if [ -n "${SLUICE_BIN:-}" ]; then
  sluice=$(cd "$(dirname "$SLUICE_BIN")" && pwd)/$(basename "$SLUICE_BIN")
else
  scripts/build.sh release sluice >/dev/null
  sluice=$root/build/sluice
fi
for tool in sqlite3 python3; do
  command -v "$tool" >/dev/null || { echo "ui_bench: $tool is needed (scripts/install-deps.sh)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/sluice-ui-bench.XXXXXX)
web_pid=
cleanup() {
  if [ -n "$web_pid" ]; then kill "$web_pid" 2>/dev/null || true; wait "$web_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
export SLUICE_DB="sqlite://$work/sluice.db" SLUICE_DAGS="$work/dags" SLUICE_API_TOKEN=
mkdir -p "$work/dags"

# --- the store: the DAG through the binary, then 10,000 runs in one SQL transaction
{
  echo "dag: bench"
  echo "description: ui_bench.sh, $runs runs x $tasks tasks"
  echo "schedule: \"@hourly\""
  echo "timezone: Europe/Berlin"
  echo "start_date: 2024-01-01"
  echo "tasks:"
  echo "  - {id: t0, type: shell, command: \"true\"}"
  for t in $(seq 1 $((tasks - 1))); do
    echo "  - {id: t$t, type: shell, command: \"true\", depends_on: [t$((t - 1))]}"
  done
} >"$work/dags/bench.yaml"
echo "ui_bench: filling the store ($runs runs x $tasks tasks)" >&2
fill_start=$(date +%s%N)
(cd "$work" && "$sluice" db migrate >/dev/null && "$sluice" trigger bench --date 2026-06-01 >/dev/null)
# The manual run made by `trigger` is the template for the other runs' tasks.
sqlite3 "$work/sluice.db" >/dev/null <<SQL
.timeout 10000
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $((runs - 2))),
  t AS (SELECT version_id, created_at FROM dag_runs WHERE dag_id = 'bench' LIMIT 1),
  r AS (SELECT i, 1704067200000 + i * 3600000 AS s FROM n)
INSERT INTO dag_runs (dag_id, run_id, run_type, state, version_id, interval_start, interval_end,
                      created_at, started_at, ended_at)
SELECT 'bench', 'scheduled__' || strftime('%Y-%m-%dT%H:%M:%SZ', r.s / 1000, 'unixepoch'),
       'scheduled', CASE WHEN r.i % 50 = 7 THEN 'failed' ELSE 'success' END, t.version_id,
       r.s, r.s + 3600000, r.s + 3600000, r.s + 3601000, r.s + 3601000 + $tasks * 2000
FROM r, t;
INSERT INTO task_instances (run_pk, dag_id, task_id, state, try_number, max_tries, queued_at,
                            started_at, ended_at, worker_id, exit_code)
SELECT r.id, 'bench', k.task_id,
       CASE WHEN r.state = 'failed' AND k.pos = $((tasks - 1)) THEN 'failed' ELSE 'success' END,
       1, 1, r.started_at + k.pos * 2000, r.started_at + k.pos * 2000,
       r.started_at + k.pos * 2000 + 1500, 'bench-worker', 0
FROM dag_runs r,
     (SELECT task_id, CAST(substr(task_id, 2) AS INTEGER) AS pos FROM task_instances
      WHERE run_pk = (SELECT min(id) FROM dag_runs WHERE dag_id = 'bench')) k
WHERE r.dag_id = 'bench' AND r.run_type = 'scheduled';
COMMIT;
ANALYZE;
SQL
fill_ms=$(( ($(date +%s%N) - fill_start) / 1000000 ))
counts=$(sqlite3 "$work/sluice.db" "SELECT (SELECT count(*) FROM dag_runs) || ' runs, ' || (SELECT count(*) FROM task_instances) || ' task instances'")
echo "ui_bench: store has $counts (filled in $fill_ms ms)" >&2

# --- the server
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$work" && exec "$sluice" web --port "$port" >"$work/web.log" 2>&1) &
web_pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
  if python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1] + '/healthz', timeout=1)" "$base" 2>/dev/null; then break; fi
  kill -0 "$web_pid" 2>/dev/null || { cat "$work/web.log" >&2; exit 1; }
  sleep 0.1
done

# --- API timings, as the browser asks
python3 - "$base" "$tries" "$runs" "$tasks" <<'PY'
import http.client, json, re, statistics, sys, time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

base, tries, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
host = urlparse(base)

def fetch(path):
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
    start = time.perf_counter()
    conn.request("GET", path, headers={"Accept": "application/json"})
    res = conn.getresponse()
    body = res.read()
    ms = (time.perf_counter() - start) * 1000
    conn.close()
    if res.status != 200:
        sys.exit(f"ui_bench: GET {path} answered {res.status}: {body[:200]!r}")
    return ms, len(body)

pool = ThreadPoolExecutor(max_workers=6)  # as many connections as a browser opens
def parallel(paths):
    start = time.perf_counter()
    list(pool.map(fetch, paths))
    return (time.perf_counter() - start) * 1000

last = (runs - 1) // 25 * 25
conn = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
conn.request("GET", "/")
index = conn.getresponse().read().decode()
conn.close()
static = ["/" + name for name in re.findall(r'(?:src|href)="([a-z_]+\.(?:js|css))"', index)]
conn = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
conn.request("GET", f"/api/v1/dags/bench/grid?limit=25&offset=0")
marker = json.loads(conn.getresponse().read()).get("marker", "")
conn.close()
api = "/api/v1/dags/bench"
cases = [
    ("DAG detail   GET /dags/bench", lambda: fetch(api)[0]),
    ("grid page 1  GET /dags/bench/grid?limit=25", lambda: fetch(api + "/grid?limit=25&offset=0")[0]),
    (f"grid last    GET /dags/bench/grid?offset={last}", lambda: fetch(f"{api}/grid?limit=25&offset={last}")[0]),
    ("runs list    GET /dags/bench/runs?limit=100", lambda: fetch(api + "/runs?limit=100")[0]),
    ("runs, failed GET /runs?dag=bench&state=failed", lambda: fetch("/api/v1/runs?dag=bench&state=failed&limit=100")[0]),
    ("DAG list     GET /dags", lambda: fetch("/api/v1/dags")[0]),
    ("DAG page load (static files, the grid, then the detail)",
     lambda: parallel(["/"] + static) + fetch(api + "/grid?limit=25&offset=0")[0] + fetch(api)[0]),
    ("DAG page poll (the grid since the last answer, every 1.5 s)",
     lambda: fetch(api + "/grid?limit=25&offset=0&since=" + marker)[0]),
]

def p95(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]

grid_bytes = fetch(api + "/grid?limit=25&offset=0")[1]
print(f"Web UI, one DAG with {runs} runs x {int(sys.argv[4])} tasks on SQLite, {tries} tries each "
      f"(grid page: {grid_bytes} bytes)")
print(f"  {'request':<58} {'median':>8} {'p95':>8}   target")
worst = 0.0
for name, run in cases:
    for _ in range(2):
        run()  # warm up: page cache, prepared statements, DAG cache
    times = [run() for _ in range(tries)]
    med, high = statistics.median(times), p95(times)
    target = "< 200 ms" if name.startswith("DAG page") else ""
    if "page load" in name:
        worst = high
    print(f"  {name:<58} {med:7.1f}ms {high:7.1f}ms   {target}")
print(f"  DAG page load p95 {worst:.1f} ms: {'within' if worst < 200 else 'OVER'} the 200 ms target")
PY

# --- optional: the full render in headless chromium
chromium=${CHROMIUM:-/usr/bin/chromium}
e2e=$root/tests/web/e2e
if [ -x "$chromium" ] && [ -d "$e2e/node_modules/playwright-core" ] && command -v node >/dev/null; then
  (cd "$e2e" && CHROMIUM="$chromium" node ui_bench_render.mjs "$base/#/dag/bench" "$tries" "$base/#/workers")
else
  echo "  browser render: skipped (needs $chromium, node and npm ci in tests/web/e2e)"
fi
