// The SQLite store: the run queue (claim, finish, clear, mark, cancel).

#include "core/sqlite/sqlite_store_impl.h"

namespace sluice::lite {

std::vector<TaskInstanceRecord> SqliteStore::list_task_instances(int64_t run_pk) {
  return read_all(
      read_ti, std::string("SELECT ") + kTiColumns + kTiFrom + "WHERE ti.run_pk = ? ORDER BY ti.id",
      run_pk);
}

std::optional<TaskInstanceRecord> SqliteStore::get_task_instance(int64_t ti_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, false);
  std::optional<TaskInstanceRecord> out = ti_locked(ti_id);
  txn.commit();
  return out;
}

std::vector<ClaimedTask> SqliteStore::claim_tasks(const ClaimRequest& request) {
  std::lock_guard<std::mutex> lock(mu_);
  if (request.queues.empty() || request.max_tasks <= 0) return {};
  Txn txn(this, true);
  std::vector<ClaimedTask> out = claim_locked(request);
  txn.commit();
  return out;
}

std::vector<ClaimedTask> SqliteStore::claim_locked(const ClaimRequest& request) {
  if (request.queues.empty() || request.max_tasks <= 0) return {};
  std::map<std::string, int> pool_size = pools_locked();
  std::unordered_map<std::string, int64_t> pool_used;                     // running slots per pool
  std::unordered_map<std::string, std::pair<int64_t, int64_t>> dag_load;  // running, limit
  std::vector<int64_t> chosen;
  {
    std::string sql =
        "SELECT id, dag_id, pool, pool_slots FROM task_instances "
        "WHERE state = 'queued' AND queue IN (" +
        placeholders(request.queues.size()) +
        ") ORDER BY run_type_rank, priority DESC, queued_at, id";
    Stmt s = stmt(sql);
    for (size_t i = 0; i < request.queues.size(); ++i) {
      s.bind_at(static_cast<int>(i + 1), request.queues[i]);
    }
    while (static_cast<int>(chosen.size()) < request.max_tasks && s.step()) {
      std::string dag_id = s.str(1);
      std::string pool = s.str(2);
      int64_t slots = s.i64(3);
      auto used = pool_used.find(pool);
      if (used == pool_used.end()) used = pool_used.emplace(pool, running_pool_slots(pool)).first;
      auto size = pool_size.find(pool);
      int64_t capacity = size == pool_size.end() ? kDefaultPoolSlots : size->second;
      if (used->second + slots > capacity) continue;
      auto load = dag_load.find(dag_id);
      if (load == dag_load.end()) load = dag_load.emplace(dag_id, dag_load_of(dag_id)).first;
      if (load->second.first >= load->second.second) continue;
      used->second += slots;
      load->second.first += 1;
      chosen.push_back(s.i64(0));
    }
  }
  std::vector<ClaimedTask> out;
  std::unordered_map<int64_t, RunRecord> runs;
  for (int64_t id : chosen) {
    stmt(
        "UPDATE task_instances SET state = 'running', try_number = try_number + 1, "
        "started_at = ?, first_started_at = COALESCE(first_started_at, ?), worker_id = ?, "
        "ended_at = NULL, exit_code = NULL, error = '' WHERE id = ? AND state = 'queued'")
        .bind(request.now, request.now, request.worker_id, id)
        .run();
    std::optional<TaskInstanceRecord> ti = ti_locked(id);
    if (!ti) continue;
    auto run = runs.find(ti->run_pk);
    if (run == runs.end()) {
      std::optional<RunRecord> r = run_by_pk_locked(ti->run_pk);
      if (!r) continue;
      run = runs.emplace(ti->run_pk, std::move(*r)).first;
    }
    out.push_back(ClaimedTask{std::move(*ti), run->second});
  }
  return out;
}

FinishOutcome SqliteStore::finish_task(const TaskResult& result, const Decider& decider) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, true);
  std::optional<int64_t> run_pk;
  std::string finished_task;
  std::string finished_dag;
  {
    std::string rendered = result.rendered.is_null() ? std::string() : result.rendered.dump();
    Stmt s = stmt(
        "UPDATE task_instances SET state = ?, exit_code = ?, outputs = ?, "
        "rendered = COALESCE(?, rendered), error = ?, next_try_at = ?, ended_at = ? "
        "WHERE id = ? AND state = 'running' AND try_number = ? AND (? = '' OR worker_id = ?) "
        "RETURNING run_pk, task_id, dag_id");
    s.bind(to_string(result.state), result.exit_code, result.outputs.dump(), nullptr, result.error,
           result.next_try_at, result.ended_at, result.ti_id, result.try_number, result.worker_id,
           result.worker_id);
    if (!rendered.empty()) s.bind_at(4, rendered);
    if (s.step()) {
      run_pk = s.i64(0);
      finished_task = s.str(1);
      finished_dag = s.str(2);
    }
    s.run();
  }
  if (!run_pk) {
    std::optional<TaskInstanceRecord> now_ti = ti_locked(result.ti_id);
    if (!now_ti) throw NotFoundError("no task instance " + std::to_string(result.ti_id));
    throw ConflictError("task instance " + std::to_string(result.ti_id) + " (" + now_ti->dag_id +
                        "." + now_ti->task_id + ") is " + to_string(now_ti->state) + " at try " +
                        std::to_string(now_ti->try_number) + " on worker '" + now_ti->worker_id +
                        "', not running try " + std::to_string(result.try_number) + " on worker '" +
                        result.worker_id + "'");
  }
  if (!result.final_log.empty()) {
    put_log(result.ti_id, result.try_number, result.final_log_seq, result.final_log);
  }
  if (!result.checks.empty()) insert_check_results_locked(result, result.ended_at);
  if (result.watermark && result.state == TaskState::kSuccess) {
    Watermark mark = *result.watermark;
    mark.dag_id = finished_dag;
    mark.task_id = finished_task;
    advance_watermark_locked(mark, result.ended_at);
  }
  Applied applied = apply_decider(*run_pk, decider, result.ended_at,
                                  result.task_id.empty() ? nullptr : &finished_task);
  FinishOutcome outcome;
  if (result.claim_next) {
    outcome.claimed = claim_locked(*result.claim_next);
    Stmt left = stmt("SELECT EXISTS (SELECT 1 FROM task_instances WHERE state = 'queued')");
    outcome.more_queued = left.step() && left.i64(0) != 0;
  }
  txn.commit();
  outcome.add_applied(applied.queued, applied.decisions);
  return outcome;
}

std::vector<int64_t> SqliteStore::runs_with_due_tasks(Timestamp now) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, false);
  std::vector<int64_t> out;
  {
    Stmt s = stmt(
        "SELECT DISTINCT run_pk FROM task_instances "
        "WHERE state IN ('up_for_retry', 'up_for_reschedule') AND next_try_at <= ? "
        "ORDER BY run_pk");
    s.bind(now);
    while (s.step()) out.push_back(s.i64(0));
  }
  txn.commit();
  return out;
}

std::optional<Timestamp> SqliteStore::next_due_time() {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, false);
  std::optional<Timestamp> out;
  {
    Stmt s = stmt(
        "SELECT MIN(next_try_at) FROM task_instances "
        "WHERE state IN ('up_for_retry', 'up_for_reschedule')");
    if (s.step()) out = s.opt_ts(0);
  }
  txn.commit();
  return out;
}

int SqliteStore::clear_task_instances(int64_t run_pk, const std::vector<int64_t>& ti_ids,
                                      const Decider& decider, Timestamp now) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, true);
  if (!run_by_pk_locked(run_pk)) throw NotFoundError("no run " + std::to_string(run_pk));
  int cleared = 0;
  for (int64_t id : ti_ids) {
    // Tries granted again: as many as the task had (max_tries), on top of
    // the tries already used.
    stmt(
        "UPDATE task_instances SET state = 'none', max_tries = try_number + max_tries, "
        "queued_at = NULL, started_at = NULL, ended_at = NULL, next_try_at = NULL, "
        "worker_id = NULL, exit_code = NULL, error = '', marked_at = NULL, marked_by = '' "
        "WHERE id = ? AND run_pk = ?")
        .bind(id, run_pk)
        .run();
    cleared += sqlite3_changes(db_);
  }
  // A finished run queues again: the scheduler starts it within max_active_runs.
  stmt(
      "UPDATE dag_runs SET state = CASE WHEN state = 'running' THEN 'running' "
      "ELSE 'queued' END, ended_at = NULL WHERE id = ?")
      .bind(run_pk)
      .run();
  apply_decider(run_pk, decider, now);
  txn.commit();
  return cleared;
}

FinishOutcome SqliteStore::expand_mapped_task(int64_t ti_id, int try_number,
                                              const std::string& worker_id,
                                              const std::vector<nlohmann::json>& items,
                                              const Decider& decider, Timestamp now) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, true);
  if (items.empty()) throw UserError("a mapped task cannot expand into no instances");
  std::optional<int64_t> run_pk;
  {
    // The placeholder becomes instance 0: its try was the expansion, not a run.
    Stmt s = stmt(
        "UPDATE task_instances SET map_index = 0, state = 'none', try_number = 0, "
        "map_item = ?, queued_at = NULL, started_at = NULL, ended_at = NULL, "
        "first_started_at = NULL, next_try_at = NULL, worker_id = NULL, exit_code = NULL, "
        "error = '' WHERE id = ? AND map_index = -1 AND state = 'running' AND try_number = ? "
        "AND (? = '' OR worker_id = ?) RETURNING run_pk");
    s.bind(items[0].dump(), ti_id, try_number, worker_id, worker_id);
    if (s.step()) run_pk = s.i64(0);
    s.run();
  }
  if (!run_pk) {
    throw ConflictError("task instance " + std::to_string(ti_id) +
                        " is no longer the running placeholder of a mapped task");
  }
  stmt("DELETE FROM task_logs WHERE ti_id = ?").bind(ti_id).run();
  for (size_t i = 1; i < items.size(); ++i) {
    stmt(
        "INSERT INTO task_instances (run_pk, dag_id, task_id, map_index, state, max_tries, "
        "pool, pool_slots, priority, queue, run_type_rank, map_item) "
        "SELECT run_pk, dag_id, task_id, ?, 'none', max_tries, pool, pool_slots, priority, "
        "queue, run_type_rank, ? FROM task_instances WHERE id = ?")
        .bind(static_cast<int64_t>(i), items[i].dump(), ti_id)
        .run();
  }
  Applied applied = apply_decider(*run_pk, decider, now);
  txn.commit();
  FinishOutcome outcome;
  outcome.add_applied(applied.queued, applied.decisions);
  return outcome;
}

nlohmann::json SqliteStore::get_map_item(int64_t ti_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, false);
  nlohmann::json out;
  {
    Stmt s = stmt("SELECT COALESCE(map_item, '') FROM task_instances WHERE id = ?");
    s.bind(ti_id);
    if (s.step()) {
      std::string text = s.str(0);
      if (!text.empty()) out = nlohmann::json::parse(text, nullptr, false);
    }
  }
  txn.commit();
  return out;
}

void SqliteStore::mark_task_instance(int64_t ti_id, TaskState state, const std::string& marked_by,
                                     const Decider& decider,
                                     Timestamp now) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, true);
  std::optional<int64_t> run_pk;
  {
    // The try keeps its times; one still running ends now (its worker stops it).
    Stmt s = stmt(
        "UPDATE task_instances SET state = ?, "
        "ended_at = CASE WHEN state = 'running' AND ? THEN ? ELSE ended_at END, "
        "next_try_at = NULL, marked_at = ?, marked_by = ? WHERE id = ? RETURNING run_pk");
    s.bind(to_string(state), is_finished(state) ? 1 : 0, now, now, marked_by, ti_id);
    if (s.step()) run_pk = s.i64(0);
    s.run();
  }
  if (!run_pk) throw NotFoundError("no task instance " + std::to_string(ti_id));
  apply_decider(*run_pk, decider, now);
  // The decider leaves an ended run alone; a mark re-decides its state.
  std::optional<RunRecord> run = run_by_pk_locked(*run_pk);
  std::vector<TaskState> states;
  {
    Stmt s = stmt("SELECT state FROM task_instances WHERE run_pk = ?");
    s.bind(*run_pk);
    while (s.step()) states.push_back(task_state_of(s.str(0)));
  }
  auto after = run ? run_state_after_mark(run->state, states) : std::nullopt;
  if (after && *after != run->state) {
    stmt("UPDATE dag_runs SET state = ? WHERE id = ?").bind(to_string(*after), *run_pk).run();
  }
  txn.commit();
}

void SqliteStore::cancel_run(int64_t run_pk, Timestamp now) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, true);
  if (!run_by_pk_locked(run_pk)) throw NotFoundError("no run " + std::to_string(run_pk));
  stmt(
      "UPDATE task_instances SET state = 'canceled', ended_at = ? WHERE run_pk = ? AND state "
      "NOT IN ('success', 'failed', 'skipped', 'upstream_failed', 'canceled')")
      .bind(now, run_pk)
      .run();
  stmt(
      "UPDATE dag_runs SET state = 'canceled', ended_at = ? WHERE id = ? "
      "AND state NOT IN ('success', 'failed', 'canceled')")
      .bind(now, run_pk)
      .run();
  txn.commit();
}

std::vector<int64_t> SqliteStore::tasks_to_stop(const std::string& worker_id,
                                                const std::vector<int64_t>& ti_ids) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, false);
  std::vector<int64_t> out;
  for (int64_t id : ti_ids) {
    Stmt s = stmt("SELECT state, COALESCE(worker_id, '') FROM task_instances WHERE id = ?");
    s.bind(id);
    if (!s.step() || s.str(0) != "running" || s.str(1) != worker_id) out.push_back(id);
  }
  txn.commit();
  return out;
}

std::vector<TaskInstanceRecord> SqliteStore::running_on_worker(const std::string& worker_id) {
  return read_all(read_ti,
                  std::string("SELECT ") + kTiColumns + kTiFrom +
                      "WHERE ti.state = 'running' AND ti.worker_id = ? ORDER BY ti.id",
                  worker_id);
}

std::vector<TaskInstanceRecord> SqliteStore::orphaned_tasks(Timestamp cutoff) {
  return read_all(read_ti,
                  std::string("SELECT ") + kTiColumns + kTiFrom +
                      "LEFT JOIN workers w ON w.id = ti.worker_id WHERE ti.state = 'running' "
                      "AND (w.id IS NULL OR w.last_heartbeat < ?) ORDER BY ti.id",
                  cutoff);
}

std::map<std::string, int> SqliteStore::pools_locked() {
  std::map<std::string, int> out;
  Stmt s = stmt("SELECT name, slots FROM pools");
  while (s.step()) out[s.str(0)] = s.i32(1);
  return out;
}

int64_t SqliteStore::running_pool_slots(const std::string& pool) {
  Stmt s = stmt(
      "SELECT COALESCE(SUM(pool_slots), 0) FROM task_instances "
      "WHERE state = 'running' AND pool = ?");
  s.bind(pool);
  return s.step() ? s.i64(0) : 0;
}

std::pair<int64_t, int64_t> SqliteStore::dag_load_of(const std::string& dag_id) {
  int64_t limit = INT64_MAX;
  {
    Stmt s = stmt("SELECT max_active_tasks FROM dags WHERE dag_id = ?");
    s.bind(dag_id);
    if (s.step()) limit = s.i64(0);
  }
  Stmt s = stmt("SELECT COUNT(*) FROM task_instances WHERE state = 'running' AND dag_id = ?");
  s.bind(dag_id);
  return {s.step() ? s.i64(0) : 0, limit};
}

std::optional<TaskInstanceRecord> SqliteStore::ti_locked(int64_t ti_id) {
  Stmt s = stmt(std::string("SELECT ") + kTiColumns + kTiFrom + "WHERE ti.id = ?");
  s.bind(ti_id);
  if (!s.step()) return std::nullopt;
  return read_ti(s);
}

bool SqliteStore::get_ti_exists(int64_t ti_id) {
  Stmt s = stmt("SELECT 1 FROM task_instances WHERE id = ?");
  s.bind(ti_id);
  return s.step();
}

}  // namespace sluice::lite
