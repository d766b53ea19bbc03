// The Postgres store: applying decide_run's decisions in the transaction that caused them.

#include "core/postgres/pg_store_impl.h"

namespace sluice::pg {

RunRecord PostgresStore::locked_run(const pqxx::result& r, int64_t run_pk) {
  if (r.empty()) throw NotFoundError("no run with key " + std::to_string(run_pk));
  return read_run(r[0]);
}

RunEndContext PostgresStore::run_end_context(Tx& w, const RunSnapshot& snap) {
  RunEndContext context;
  pqxx::result prev = w.exec_prepared("previous_finished_run", snap.run.dag_id, snap.run.id);
  if (!prev.empty()) context.previous_run_state = run_state(prev[0][0]);
  std::vector<int64_t> failed;
  for (const TaskStateView& v : snap.tasks) {
    if (v.state == TaskState::kFailed) failed.push_back(v.id);
  }
  if (failed.empty()) return context;
  for (const auto& row : w.exec_prepared("failed_task_tails", int_array(failed))) {
    pqxx::binarystring tail(row["tail"]);
    context.failed[row["id"].as<int64_t>()] =
        RunEndContext::FailedTask{text(row["error"]), tail.str()};
  }
  return context;
}

PostgresStore::PlannedApply PostgresStore::plan_apply(Tx& w, RunSnapshot& snap,
                                                      const Decider& decider, Timestamp now,
                                                      bool caller_claims) {
  PlannedApply plan;
  plan.applied.run = snap.run;
  if (!decider.decide) return plan;
  RunReads reads;
  reads.whole_run = [&] {
    std::vector<TaskStateView> tasks;
    for (const auto& row : w.exec_prepared("snapshot_tasks", snap.run.id)) {
      tasks.push_back(read_view(row));
    }
    return tasks;
  };
  reads.previous_interval = [&] {
    std::optional<std::vector<std::pair<std::string, TaskState>>> out;
    for (const auto& row : w.exec_prepared("previous_interval", snap.run.dag_id,
                                           to_epoch_ms(snap.run.interval.start))) {
      if (!out) out.emplace();  // the run exists, perhaps with no instances
      if (!row["task_id"].is_null()) {
        out->emplace_back(text(row["task_id"]), task_state(row["state"]));
      }
    }
    return out;
  };
  reads.run_end_context = [&](const RunSnapshot& s) { return run_end_context(w, s); };
  RunDecisions& d = plan.decisions;
  d = decide_run(snap, decider, reads);
  plan.applied.decisions.run_state = d.run_state;
  plan.applied.decisions.alerts = d.alerts;
  if (d.tasks.empty() && !d.run_state && d.alerts.empty()) return plan;

  std::vector<int64_t> ids;
  std::vector<std::string> from, to, errors;
  std::vector<std::optional<std::string>> next_try;
  for (const auto& t : d.tasks) {
    ids.push_back(t.ti_id);
    from.push_back(to_string(t.from));
    to.push_back(to_string(t.to));
    next_try.push_back(t.next_try_at
                           ? std::optional<std::string>(std::to_string(to_epoch_ms(*t.next_try_at)))
                           : std::nullopt);
    errors.push_back(t.error);
  }
  std::vector<std::string> event_ids, events, dag_ids, run_ids, task_ids, payloads;
  for (const auto& a : d.alerts) {
    event_ids.push_back(random_hex_id());
    events.push_back(a.event);
    dag_ids.push_back(a.dag_id);
    run_ids.push_back(a.run_id);
    task_ids.push_back(a.task_id);
    payloads.push_back(a.payload.dump());
  }
  std::optional<std::string> new_run_state;
  if (d.run_state) new_run_state = to_string(*d.run_state);
  w.conn().prepare_now("apply_decisions");
  plan.sql = execute_sql(
      "apply_decisions",
      {std::to_string(snap.run.id), int_array(ids), array_literal(from), array_literal(to),
       array_literal(next_try), array_literal(errors), std::to_string(to_epoch_ms(now)),
       new_run_state, array_literal(event_ids), array_literal(events), array_literal(dag_ids),
       array_literal(run_ids), array_literal(task_ids), array_literal(payloads),
       std::string(caller_claims ? "true" : "false")});
  return plan;
}

void PostgresStore::read_apply(PlannedApply& plan, const pqxx::row& row) {
  Applied& applied = plan.applied;
  const RunDecisions& d = plan.decisions;
  applied.queued = row["queued"].as<int>();
  // A transition whose `from` no longer held lost a race and was skipped.
  std::set<int64_t> done;
  if (!row["applied_ids"].is_null()) {
    std::string list = text(row["applied_ids"]);  // "{1,2,3}"
    size_t pos = 1;
    while (pos < list.size()) {
      size_t end = list.find_first_of(",}", pos);
      if (end == std::string::npos || end == pos) break;
      done.insert(std::stoll(list.substr(pos, end - pos)));
      pos = end + 1;
    }
  }
  for (const TaskTransition& t : d.tasks) {
    if (done.count(t.ti_id)) applied.decisions.tasks.push_back(t);
  }
  if (row["run_changed"].as<int>() > 0) {
    applied.run->state = run_state(row["run_state"]);
    applied.run->started_at = opt_time(row["started_at"]);
    applied.run->ended_at = opt_time(row["ended_at"]);
  }
}

PostgresStore::Applied PostgresStore::decide_and_apply(Tx& w, RunSnapshot& snap,
                                                       const Decider& decider, Timestamp now,
                                                       bool caller_claims) {
  PlannedApply plan = plan_apply(w, snap, decider, now, caller_claims);
  if (plan.sql) read_apply(plan, w.exec(*plan.sql).at(0));
  return plan.applied;
}

}  // namespace sluice::pg
