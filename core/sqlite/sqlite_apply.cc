// The SQLite store: applying decide_run's decisions in the transaction that caused them.

#include "core/sqlite/sqlite_store_impl.h"

namespace sluice::lite {

std::string SqliteStore::random_event_id() {
  static const char* kHex = "0123456789abcdef";
  std::string out(32, '0');
  for (int i = 0; i < 32; i += 16) {
    uint64_t bits = rng_();
    for (int j = 0; j < 16; ++j) out[i + j] = kHex[(bits >> (4 * j)) & 0xf];
  }
  return out;
}

SqliteStore::Applied SqliteStore::apply_decider(int64_t run_pk, const Decider& decider,
                                                Timestamp now, const std::string* finished_task) {
  RunSnapshot snap;
  {
    std::optional<RunRecord> run = run_by_pk_locked(run_pk);
    if (!run) throw NotFoundError("no run " + std::to_string(run_pk));
    snap.run = std::move(*run);
  }
  if (finished_task && decider.scope) {
    std::vector<std::string> scope = decider.scope(*finished_task);
    std::set<std::string> in_scope(scope.begin(), scope.end());
    // Is anything outside the scope unfinished? The index of unfinished
    // instances answers after at most |scope| + 1 rows.
    Stmt unfinished = stmt(
        "SELECT task_id FROM task_instances WHERE run_pk = ? AND state IN "
        "('none', 'scheduled', 'queued', 'running', 'up_for_retry', 'up_for_reschedule')");
    unfinished.bind(run_pk);
    while (unfinished.step()) {
      if (!in_scope.count(unfinished.str(0))) {
        snap.partial = true;
        break;
      }
    }
    unfinished.reset();
    if (snap.partial) {
      Stmt s = stmt(
          "SELECT id, task_id, map_index, state, try_number, max_tries, next_try_at "
          "FROM task_instances WHERE run_pk = ? AND task_id = ? ORDER BY map_index");
      for (const std::string& task_id : scope) {
        s.bind(run_pk, task_id);
        while (s.step()) snap.tasks.push_back(read_view(s));
        s.reset();
      }
    }
  }
  auto whole_run = [&] {
    std::vector<TaskStateView> tasks;
    Stmt s = stmt(
        "SELECT id, task_id, map_index, state, try_number, max_tries, next_try_at "
        "FROM task_instances WHERE run_pk = ? ORDER BY task_id, map_index");
    s.bind(run_pk);
    while (s.step()) tasks.push_back(read_view(s));
    return tasks;
  };
  if (!snap.partial) snap.tasks = whole_run();
  RunReads reads;
  reads.whole_run = whole_run;
  reads.previous_interval = [&] { return previous_interval(snap.run); };
  reads.run_end_context = [&](const RunSnapshot& s) { return run_end_context(s); };
  RunDecisions decisions = decide_run(snap, decider, reads);

  Applied applied;
  applied.decisions.run_state = decisions.run_state;
  applied.decisions.alerts = decisions.alerts;
  for (const TaskTransition& t : decisions.tasks) {
    bool queued = t.to == TaskState::kQueued;
    stmt(
        "UPDATE task_instances SET state = ?, "
        "queued_at = CASE WHEN ? THEN ? ELSE queued_at END, "
        "ended_at = CASE WHEN ? THEN ? ELSE ended_at END, "
        "next_try_at = ?, error = CASE WHEN ? = '' THEN error ELSE ? END "
        "WHERE id = ? AND run_pk = ? AND state = ?")
        .bind(to_string(t.to), queued ? 1 : 0, now, is_finished(t.to) ? 1 : 0, now, t.next_try_at,
              t.error, t.error, t.ti_id, run_pk, to_string(t.from))
        .run();
    // A transition whose `from` no longer holds lost a race: skip it.
    if (sqlite3_changes(db_) == 0) continue;
    if (queued) ++applied.queued;
    applied.decisions.tasks.push_back(t);
  }
  if (decisions.run_state) {
    RunState s = *decisions.run_state;
    stmt(
        "UPDATE dag_runs SET state = ?, "
        "started_at = CASE WHEN ? AND started_at IS NULL THEN ? ELSE started_at END, "
        "ended_at = CASE WHEN ? THEN COALESCE(ended_at, ?) ELSE NULL END WHERE id = ?")
        .bind(to_string(s), s == RunState::kRunning ? 1 : 0, now, is_finished(s) ? 1 : 0, now,
              run_pk)
        .run();
  }
  for (const AlertEvent& a : decisions.alerts) {
    stmt(
        "INSERT INTO alert_outbox (event_id, event, dag_id, run_id, task_id, payload, "
        "attempts, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)")
        .bind(random_event_id(), a.event, a.dag_id, a.run_id, a.task_id, a.payload.dump(), now, now)
        .run();
  }
  return applied;
}

RunEndContext SqliteStore::run_end_context(const RunSnapshot& snap) {
  RunEndContext context;
  {
    Stmt s = stmt(
        "SELECT state FROM dag_runs WHERE dag_id = ? AND id <> ? AND state IN ('success', "
        "'failed') ORDER BY ended_at DESC LIMIT 1");
    s.bind(snap.run.dag_id, snap.run.id);
    if (s.step()) context.previous_run_state = run_state_of(s.str(0));
  }
  for (const TaskStateView& v : snap.tasks) {
    if (v.state != TaskState::kFailed) continue;
    RunEndContext::FailedTask failed;
    {
      Stmt s = stmt("SELECT error FROM task_instances WHERE id = ?");
      s.bind(v.id);
      if (s.step()) failed.error = s.str(0);
    }
    {
      Stmt s = stmt(
          "SELECT data FROM task_logs WHERE ti_id = ? AND try_number = ? "
          "ORDER BY seq DESC LIMIT 2");
      s.bind(v.id, v.try_number);
      while (s.step()) failed.log_tail = s.str(0) + failed.log_tail;
    }
    context.failed.emplace(v.id, std::move(failed));
  }
  return context;
}

std::optional<std::vector<std::pair<std::string, TaskState>>> SqliteStore::previous_interval(
    const RunRecord& run) {
  std::optional<int64_t> prev;
  {
    Stmt s = stmt(
        "SELECT id FROM dag_runs WHERE dag_id = ? AND run_type IN ('scheduled', 'backfill') "
        "AND interval_start < ? ORDER BY interval_start DESC LIMIT 1");
    s.bind(run.dag_id, run.interval.start);
    if (s.step()) prev = s.i64(0);
  }
  if (!prev) return std::nullopt;
  std::vector<std::pair<std::string, TaskState>> out;
  Stmt s = stmt("SELECT task_id, state FROM task_instances WHERE run_pk = ? ORDER BY map_index");
  s.bind(*prev);
  while (s.step()) out.emplace_back(s.str(0), task_state_of(s.str(1)));
  return out;
}

}  // namespace sluice::lite
