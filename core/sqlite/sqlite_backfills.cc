// The SQLite store: backfills and their intervals.

#include "core/sqlite/sqlite_store_impl.h"

namespace sluice::lite {

int64_t SqliteStore::create_backfill(const BackfillRecord& b,
                                     const std::vector<BackfillIntervalRecord>& intervals) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, true);
  stmt(
      "INSERT INTO backfills (dag_id, range_from, range_to, reprocess, max_active_runs, "
      "backwards, conf, state, created_at, total_runs) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)")
      .bind(b.dag_id, b.range_from, b.range_to, b.reprocess, b.max_active_runs, b.backwards ? 1 : 0,
            b.conf.dump(), b.created_at, b.total_runs)
      .run();
  int64_t id = sqlite3_last_insert_rowid(db_);
  for (const BackfillIntervalRecord& i : intervals) {
    stmt(
        "INSERT INTO backfill_intervals (backfill_id, interval_start, interval_end, action, "
        "reason, run_pk) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(id, i.interval.start, i.interval.end, i.action, i.reason, i.run_pk)
        .run();
  }
  txn.commit();
  return id;
}

std::optional<BackfillRecord> SqliteStore::get_backfill(int64_t id) {
  return read_one(read_backfill,
                  std::string("SELECT ") + kBackfillColumns + " FROM backfills WHERE id = ?", id);
}

std::vector<BackfillRecord> SqliteStore::list_backfills(const std::string& dag_id,
                                                        bool running_only, int limit) {
  return read_all(read_backfill,
                  std::string("SELECT ") + kBackfillColumns +
                      " FROM backfills WHERE (? = '' OR dag_id = ?) "
                      "AND (? = 0 OR state = 'running') ORDER BY id DESC LIMIT ?",
                  dag_id, dag_id, running_only ? 1 : 0, limit);
}

std::vector<BackfillIntervalRecord> SqliteStore::list_backfill_intervals(int64_t backfill_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, false);
  std::vector<BackfillIntervalRecord> out;
  {
    Stmt s = stmt(
        "SELECT i.interval_start, i.interval_end, i.action, i.reason, i.run_pk, r.run_id, "
        "r.state FROM backfill_intervals i LEFT JOIN dag_runs r ON r.id = i.run_pk "
        "WHERE i.backfill_id = ? ORDER BY i.interval_start");
    s.bind(backfill_id);
    while (s.step()) {
      BackfillIntervalRecord i;
      i.interval = DataInterval{s.ts(0), s.ts(1)};
      i.action = s.str(2);
      i.reason = s.str(3);
      i.run_pk = s.opt_i64(4);
      i.run_id = s.str(5);
      if (!s.is_null(6)) i.run_state = run_state_of(s.str(6));
      out.push_back(std::move(i));
    }
  }
  txn.commit();
  return out;
}

std::string SqliteStore::update_backfill_interval(int64_t backfill_id, Timestamp interval_start,
                                                  const std::string& action,
                                                  const std::string& reason,
                                                  std::optional<int64_t> run_pk) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, true);
  stmt(
      "UPDATE backfill_intervals SET action = ?, reason = ?, run_pk = ? "
      "WHERE backfill_id = ? AND interval_start = ?")
      .bind(action, reason, run_pk, backfill_id, interval_start)
      .run();
  std::string state;
  {
    Stmt s = stmt("SELECT state FROM backfills WHERE id = ?");
    s.bind(backfill_id);
    if (!s.step()) throw NotFoundError("no backfill " + std::to_string(backfill_id));
    state = s.str(0);
  }
  txn.commit();
  return state;
}

bool SqliteStore::update_backfill(int64_t id, const std::string& state, int total_runs,
                                  int succeeded_runs, int failed_runs, Timestamp now) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, true);
  bool finished = state != "running";
  stmt(
      "UPDATE backfills SET state = ?, total_runs = ?, succeeded_runs = ?, failed_runs = ?, "
      "finished_at = CASE WHEN ? THEN ? ELSE NULL END WHERE id = ? AND state = 'running'")
      .bind(state, total_runs, succeeded_runs, failed_runs, finished ? 1 : 0, now, id)
      .run();
  bool changed = sqlite3_changes(db_) > 0;
  txn.commit();
  return changed;
}

bool SqliteStore::rerun_for_backfill(int64_t run_pk, int64_t backfill_id,
                                     const nlohmann::json& conf, Timestamp now) {
  (void)now;
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, true);
  std::optional<RunRecord> run = run_by_pk_locked(run_pk);
  if (!run) throw NotFoundError("no run " + std::to_string(run_pk));
  if (!is_finished(run->state)) return false;
  stmt(
      "UPDATE task_instances SET state = 'none', max_tries = try_number + max_tries, "
      "queued_at = NULL, started_at = NULL, ended_at = NULL, next_try_at = NULL, "
      "first_started_at = NULL, worker_id = NULL, exit_code = NULL, error = '', "
      "marked_at = NULL, marked_by = '', run_type_rank = 1 WHERE run_pk = ?")
      .bind(run_pk)
      .run();
  stmt(
      "UPDATE dag_runs SET state = 'queued', started_at = NULL, ended_at = NULL, "
      "backfill_id = ?, conf = CASE WHEN ? THEN conf ELSE ? END WHERE id = ?")
      .bind(backfill_id, conf.empty() ? 1 : 0, conf.dump(), run_pk)
      .run();
  txn.commit();
  return true;
}

std::vector<RunRecord> SqliteStore::list_interval_runs(const std::string& dag_id, Timestamp from,
                                                       Timestamp to) {
  return read_all(kReadRun,
                  std::string("SELECT ") + kRunColumns +
                      " FROM dag_runs WHERE dag_id = ? AND run_type IN ('scheduled', 'backfill') "
                      "AND interval_start >= ? AND interval_start <= ? ORDER BY interval_start",
                  dag_id, from, to);
}

}  // namespace sluice::lite
