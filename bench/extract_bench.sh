#!/usr/bin/env bash
# Extract loader benchmark: a generated 1,000,000-row, 8-column CSV loaded
#   - into Postgres by Sluice's extract (COPY) and by `psql -c "\copy ..."`,
#   - into SQLite by Sluice's extract (prepared inserts) and by `sqlite3 .import`,
# on the same file in the same run; prints rows/s side by side with the ratio.
#
# Usage: bench/extract_bench.sh [ROWS]
# Postgres comes from scripts/with-postgres.sh (a throwaway server) unless
# SLUICE_TEST_PG_URL is already set.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

if [ -z "${SLUICE_TEST_PG_URL:-}" ]; then
  exec "$root/scripts/with-postgres.sh" "$0" "$@"
fi

rows=${1:-1000000}
work=$(mktemp -d /tmp/sluice-extract-bench.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
psql_bin=psql
[ -n "${SLUICE_TEST_PG_BIN:-}" ] && [ -x "$SLUICE_TEST_PG_BIN/psql" ] && psql_bin="$SLUICE_TEST_PG_BIN/psql"

# ---- the driver: runs one extract task through ExtractExecutor -------------
cat >"$work/driver.cc" <<'CC'
#include <chrono>
#include <cstdio>
#include <iostream>

#include "core/config.h"
#include "core/dag.h"
#include "core/store.h"
#include "worker/extract_executor.h"
#include "worker/task_runner.h"

using namespace sluice;

struct StderrLog : LogWriter {
  void write(std::string_view text) override { std::cerr << text; }
};

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: driver URL TABLE CSV\n";
    return 2;
  }
  Config config;
  config.connections["wh"] = Connection::parse("wh", argv[1]);
  Dag dag;
  dag.id = "bench";
  Task task;
  task.id = "load";
  task.type = "extract";
  ExtractTask extract;
  extract.source = CsvSource{argv[3], ',', true};
  extract.target.conn = "wh";
  extract.target.table = argv[2];
  extract.target.mode = "append";
  task.spec = extract;
  RunRecord run;
  run.run_id = "manual__bench";
  nlohmann::json context = nlohmann::json::object();
  StderrLog log;
  std::atomic<bool> cancel{false};
  RealProcessLauncher launcher;
  TaskContext ctx{dag, task, run, 1, context, config, log, cancel, launcher};
  auto start = std::chrono::steady_clock::now();
  TaskOutcome outcome = ExtractExecutor().execute(ctx);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (outcome.status != TaskOutcome::Status::kSuccess) {
    std::cerr << "extract failed: " << outcome.error << "\n";
    return 1;
  }
  std::printf("%lld %.3f\n", static_cast<long long>(outcome.outputs["rows"].get<int64_t>()), seconds);
  return 0;
}
CC

echo "building the driver..." >&2
cd "$root"
# Linked against the release library (scripts/build.sh release), so that the
# driver runs the same code, built the same way, as the sluice binary.
scripts/build.sh release sluice_lib >&2
g++ -std=c++20 -O2 -DNDEBUG -I. $(pkg-config --cflags cpp-httplib libpqxx) \
  "$work/driver.cc" build/libsluice_lib.a -o "$work/driver" \
  $(pkg-config --libs cpp-httplib libpqxx libpq sqlite3) \
  -lyaml-cpp -ldate-tz -lssl -lcrypto -lz -pthread

# ---- the input: 8 columns, some quoted with delimiters and doubled quotes ------
echo "generating $rows rows..." >&2
awk -v n="$rows" 'BEGIN {
  srand(42);
  print "id,customer,email,amount,status,created_at,note,country";
  split("new,paid,shipped,refunded", st, ",");
  split("us,de,fr,jp,br", co, ",");
  for (i = 1; i <= n; i++) {
    note = (i % 10 == 0) ? "\"said \"\"hi\"\", then left, quickly\"" : "plain note " i;
    printf "%d,customer %d,user%d@example.com,%.2f,%s,2026-01-%02d 12:%02d:00,%s,%s\n",
      i, i % 5000, i, rand() * 1000, st[i % 4 + 1], i % 28 + 1, i % 60, note, co[i % 5 + 1];
  }
}' >"$work/data.csv"
size=$(du -h "$work/data.csv" | cut -f1)

columns='id TEXT, customer TEXT, email TEXT, amount TEXT, status TEXT, created_at TEXT, note TEXT, country TEXT'
now() { date +%s.%N; }
rate() { awk -v r="$1" -v s="$2" 'BEGIN { printf "%.0f", r / s }'; }

# ---- Postgres ------------------------------------------------------------------
pg="$SLUICE_TEST_PG_URL"
"$psql_bin" -q "$pg" -c "DROP TABLE IF EXISTS bench_psql; DROP TABLE IF EXISTS bench_sluice;
  CREATE TABLE bench_psql ($columns); CREATE TABLE bench_sluice ($columns);" >/dev/null
t0=$(now)
"$psql_bin" -q "$pg" -c "\\copy bench_psql FROM '$work/data.csv' WITH (FORMAT csv, HEADER true)"
t1=$(now)
psql_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
read -r sl_rows sl_s < <("$work/driver" "$pg" bench_sluice "$work/data.csv" 2>/dev/null)
pg_count=$("$psql_bin" -qtA "$pg" -c "SELECT (SELECT count(*) FROM bench_sluice) || ' ' || (SELECT count(*) FROM bench_psql)")
diff_rows=$("$psql_bin" -qtA "$pg" -c "SELECT count(*) FROM (SELECT * FROM bench_sluice EXCEPT ALL SELECT * FROM bench_psql) d")

# ---- SQLite --------------------------------------------------------------------
db_import="$work/import.db"
db_sluice="$work/sluice.db"
sqlite3 "$db_import" "CREATE TABLE bench ($columns);"
sqlite3 "$db_sluice" "CREATE TABLE bench ($columns);"
t0=$(now)
sqlite3 "$db_import" -cmd ".mode csv" ".import --skip 1 $work/data.csv bench"
t1=$(now)
import_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
read -r sq_rows sq_s < <("$work/driver" "sqlite://$db_sluice" bench "$work/data.csv" 2>/dev/null)
sq_import_count=$(sqlite3 "$db_import" "SELECT count(*) FROM bench")

echo
echo "input: $rows rows x 8 columns, $size"
printf '%-10s %-22s %12s %10s %12s %7s\n' target loader rows seconds rows/s ratio
printf '%-10s %-22s %12s %10.2f %12s %7s\n' postgres 'psql \copy' "${pg_count#* }" "$psql_s" "$(rate "$rows" "$psql_s")" ""
printf '%-10s %-22s %12s %10.2f %12s %6.0f%%\n' postgres 'sluice extract (COPY)' "$sl_rows" "$sl_s" \
  "$(rate "$sl_rows" "$sl_s")" "$(awk -v a="$psql_s" -v b="$sl_s" 'BEGIN { print 100 * a / b }')"
printf '%-10s %-22s %12s %10.2f %12s %7s\n' sqlite 'sqlite3 .import' "$sq_import_count" "$import_s" "$(rate "$rows" "$import_s")" ""
printf '%-10s %-22s %12s %10.2f %12s %6.0f%%\n' sqlite 'sluice extract (insert)' "$sq_rows" "$sq_s" \
  "$(rate "$sq_rows" "$sq_s")" "$(awk -v a="$import_s" -v b="$sq_s" 'BEGIN { print 100 * a / b }')"
echo "(ratio: sluice rows/s as a share of the reference tool's; target >= 80%)"
echo "postgres: rows in sluice's table not in psql's: $diff_rows"
