// The SQLite store: creating, reading and reconciling runs.

#include "core/sqlite/sqlite_store_impl.h"

namespace sluice::lite {

std::optional<RunRecord> SqliteStore::create_run(const NewRun& run, const Decider& decider,
                                                 Timestamp now) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, true);
  if (run.type == RunType::kScheduled || run.type == RunType::kBackfill) {
    Stmt s = stmt(
        "SELECT 1 FROM dag_runs WHERE dag_id = ? AND interval_start = ? "
        "AND run_type IN ('scheduled', 'backfill')");
    s.bind(run.dag_id, run.interval.start);
    if (s.step()) return std::nullopt;
  }
  {
    Stmt s = stmt("SELECT 1 FROM dag_runs WHERE dag_id = ? AND run_id = ?");
    s.bind(run.dag_id, run.run_id);
    if (s.step()) {
      throw ConflictError("DAG '" + run.dag_id + "' already has a run '" + run.run_id + "'");
    }
  }
  std::optional<Timestamp> started;
  if (run.state == RunState::kRunning) started = now;
  std::optional<Timestamp> ended;
  if (is_finished(run.state)) ended = now;
  stmt(
      "INSERT INTO dag_runs (dag_id, run_id, run_type, state, version_id, interval_start, "
      "interval_end, conf, backfill_id, created_at, started_at, ended_at) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .bind(run.dag_id, run.run_id, to_string(run.type), to_string(run.state), run.version_id,
            run.interval.start, run.interval.end, run.conf.dump(), run.backfill_id, now, started,
            ended)
      .run();
  int64_t run_pk = sqlite3_last_insert_rowid(db_);
  int rank = run_type_rank(run.type);
  for (const NewRun::Task& t : run.tasks) {
    stmt(
        "INSERT INTO task_instances (run_pk, dag_id, task_id, map_index, state, max_tries, "
        "pool, priority, queue, run_type_rank) VALUES (?, ?, ?, -1, 'none', ?, ?, ?, ?, ?)")
        .bind(run_pk, run.dag_id, t.task_id, t.max_tries, t.pool, t.priority, t.queue, rank)
        .run();
  }
  apply_decider(run_pk, decider, now);
  std::optional<RunRecord> out = run_by_pk_locked(run_pk);
  txn.commit();
  return out;
}

std::optional<RunRecord> SqliteStore::get_run(const std::string& dag_id,
                                              const std::string& run_id) {
  return read_one(
      kReadRun,
      std::string("SELECT ") + kRunColumns + " FROM dag_runs WHERE dag_id = ? AND run_id = ?",
      dag_id, run_id);
}

std::optional<RunRecord> SqliteStore::get_run_by_pk(int64_t run_pk) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, false);
  std::optional<RunRecord> out = run_by_pk_locked(run_pk);
  txn.commit();
  return out;
}

namespace {

/// The WHERE clause of `filter` (its text depends only on which filters are
/// set, so the statement cache holds at most 8 variants of each query).
std::string run_filter_where(const RunFilter& filter) {
  std::string sql = " WHERE 1 = 1";
  if (!filter.dag_id.empty()) sql += " AND dag_id = ?";
  if (filter.state) sql += " AND state = ?";
  if (filter.type) sql += " AND run_type = ?";
  return sql;
}

/// Binds run_filter_where's parameters from 1; returns the next index.
int bind_run_filter(Stmt& s, const RunFilter& filter) {
  int i = 1;
  if (!filter.dag_id.empty()) s.bind_at(i++, filter.dag_id);
  if (filter.state) s.bind_at(i++, to_string(*filter.state));
  if (filter.type) s.bind_at(i++, to_string(*filter.type));
  return i;
}

}  // namespace

std::vector<RunRecord> SqliteStore::list_runs(const RunFilter& filter) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string sql = std::string("SELECT ") + kRunColumns + " FROM dag_runs" + run_filter_where(filter);
  sql += filter.newest_created_first ? " ORDER BY id DESC LIMIT ? OFFSET ?"
                                     : " ORDER BY interval_start DESC, id DESC LIMIT ? OFFSET ?";
  Txn txn(this, false);
  std::vector<RunRecord> out;
  {
    Stmt s = stmt(sql);
    int i = bind_run_filter(s, filter);
    s.bind_at(i++, filter.limit);
    s.bind_at(i++, std::max(filter.offset, 0));
    while (s.step()) out.push_back(read_run(s));
  }
  txn.commit();
  return out;
}

int64_t SqliteStore::count_runs(const RunFilter& filter) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, false);
  int64_t count = 0;
  {
    Stmt s = stmt("SELECT COUNT(*) FROM dag_runs" + run_filter_where(filter));
    bind_run_filter(s, filter);
    if (s.step()) count = s.i64(0);
  }
  txn.commit();
  return count;
}

std::optional<RunRecord> SqliteStore::latest_interval_run(const std::string& dag_id) {
  return read_one(kReadRun,
                  std::string("SELECT ") + kRunColumns +
                      " FROM dag_runs WHERE dag_id = ? AND run_type IN ('scheduled', 'backfill') "
                      "ORDER BY interval_start DESC LIMIT 1",
                  dag_id);
}

std::vector<RunRecord> SqliteStore::list_unfinished_runs() {
  return read_all(kReadRun, std::string("SELECT ") + kRunColumns +
                                " FROM dag_runs WHERE state IN ('queued', 'running') ORDER BY id");
}

RunDecisions SqliteStore::reconcile_run(int64_t run_pk, const Decider& decider, Timestamp now) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, true);
  RunDecisions applied = apply_decider(run_pk, decider, now).decisions;
  txn.commit();
  return applied;
}

std::optional<RunRecord> SqliteStore::run_by_pk_locked(int64_t run_pk) {
  Stmt s = stmt(std::string("SELECT ") + kRunColumns + " FROM dag_runs WHERE id = ?");
  s.bind(run_pk);
  if (!s.step()) return std::nullopt;
  return read_run(s);
}

}  // namespace sluice::lite
