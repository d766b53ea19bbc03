// SqliteStore: data check results (CheckLedger).

#include "core/sqlite/sqlite_store_impl.h"

namespace sluice::lite {

void SqliteStore::insert_check_results_locked(const TaskResult& result, Timestamp now) {
  Stmt s = stmt(
      "INSERT INTO check_results (ti_id, try_number, seq, dag_id, run_id, task_id, map_index, "
      "interval_start, interval_end, name, kind, severity, status, actual, value, threshold, "
      "recorded_at) "
      "SELECT ti.id, ?, ?, ti.dag_id, r.run_id, ti.task_id, ti.map_index, r.interval_start, "
      "r.interval_end, ?, ?, ?, ?, ?, ?, ?, ?" +
      std::string(kTiFrom) + "WHERE ti.id = ?");
  for (const CheckResultRecord& c : result.checks) {
    s.bind(result.try_number, c.seq, c.name, c.kind, c.severity, c.status, c.actual, c.value,
           c.threshold, now, result.ti_id);
    s.run();
    s.reset();
  }
}

namespace {

/// The WHERE clause of a CheckResultFilter; its parameters are bound in the
/// order of the filter's fields.
constexpr const char* kCheckFilter =
    " WHERE dag_id = ? AND (? = '' OR task_id = ?) AND (? = '' OR name = ?) "
    "AND (? IS NULL OR ti_id = ?) AND (? IS NULL OR interval_start < ?) "
    "AND (? = 0 OR status = 'pass') ";

}  // namespace

std::vector<CheckResultRecord> SqliteStore::list_check_results(const CheckResultFilter& f) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, false);
  std::vector<CheckResultRecord> out;
  {
    Stmt s = stmt(
        "SELECT ti_id, try_number, dag_id, run_id, task_id, map_index, interval_start, "
        "interval_end, recorded_at, seq, name, kind, severity, status, actual, value, threshold "
        "FROM check_results" + std::string(kCheckFilter) +
        "ORDER BY interval_start DESC, ti_id DESC, try_number DESC, seq LIMIT ? OFFSET ?");
    s.bind(f.dag_id, f.task_id, f.task_id, f.name, f.name, f.ti_id, f.ti_id, f.before_interval,
           f.before_interval, f.passed_only ? 1 : 0, f.limit, f.offset);
    while (s.step()) {
      CheckResultRecord c;
      c.ti_id = s.i64(0);
      c.try_number = s.i32(1);
      c.dag_id = s.str(2);
      c.run_id = s.str(3);
      c.task_id = s.str(4);
      c.map_index = s.i32(5);
      c.interval_start = s.ts(6);
      c.interval_end = s.ts(7);
      c.recorded_at = s.ts(8);
      c.seq = s.i32(9);
      c.name = s.str(10);
      c.kind = s.str(11);
      c.severity = s.str(12);
      c.status = s.str(13);
      c.actual = s.str(14);
      c.value = s.opt_f64(15);
      c.threshold = s.str(16);
      out.push_back(std::move(c));
    }
  }
  txn.commit();
  return out;
}

int64_t SqliteStore::count_check_results(const CheckResultFilter& f) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, false);
  int64_t count = 0;
  {
    Stmt s = stmt("SELECT COUNT(*) FROM check_results" + std::string(kCheckFilter));
    s.bind(f.dag_id, f.task_id, f.task_id, f.name, f.name, f.ti_id, f.ti_id, f.before_interval,
           f.before_interval, f.passed_only ? 1 : 0);
    if (s.step()) count = s.i64(0);
  }
  txn.commit();
  return count;
}

}  // namespace sluice::lite
