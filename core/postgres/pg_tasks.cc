// The Postgres store: the run queue (claim, finish, clear, mark, cancel).

#include "core/postgres/pg_store_impl.h"

#include <charconv>

namespace sluice::pg {

std::vector<TaskInstanceRecord> PostgresStore::list_task_instances(int64_t run_pk) {
  return transact("list task instances", [&](Tx& w) {
    std::vector<TaskInstanceRecord> out;
    for (const auto& row : w.exec_prepared("list_task_instances", run_pk)) {
      out.push_back(read_task(row));
    }
    return out;
  });
}

std::optional<TaskInstanceRecord> PostgresStore::get_task_instance(int64_t ti_id) {
  return transact("read a task instance", [&](Tx& w) -> std::optional<TaskInstanceRecord> {
    pqxx::result r = w.exec_prepared("get_task_instance", ti_id);
    if (r.empty()) return std::nullopt;
    return read_task(r[0]);
  });
}

std::string PostgresStore::claim_next_sql(Tx& w, const ClaimRequest& request) {
  w.conn().prepare_now("claim_next");
  return execute_sql(
      "claim_next",
      {array_literal(request.queues), std::to_string(request.max_tasks), request.worker_id,
       std::to_string(to_epoch_ms(request.now)), std::to_string(kClaimLockKey)});
}

void PostgresStore::read_claim_next(const pqxx::result& rows, FinishOutcome& outcome) {
  for (const auto& row : rows) {
    outcome.more_queued = row["more"].as<bool>();
    if (!row["id"].is_null()) outcome.claimed.push_back({read_task(row), read_run(row)});
  }
}

std::vector<ClaimedTask> PostgresStore::claim_tasks(const ClaimRequest& request) {
  if (request.max_tasks <= 0 || request.queues.empty()) return {};
  // sluice_claim (migrations/postgres) locks, picks and updates in one
  // call, sent with BEGIN: a claim is one round trip and the commit.
  const std::string begin =
      "BEGIN; SELECT * FROM sluice_claim(" + sql_literal(array_literal(request.queues)) +
      "::text[], " + std::to_string(request.max_tasks) + ", " + sql_literal(request.worker_id) +
      ", " + std::to_string(to_epoch_ms(request.now)) + ", " + std::to_string(kClaimLockKey) +
      ") ORDER BY claim_order";
  return transact("claim tasks", begin, [&](Tx&, const pqxx::result& claimed) {
    std::vector<ClaimedTask> out;
    for (const auto& row : claimed) out.push_back({read_task(row), read_run(row)});
    return out;
  });
}

FinishOutcome PostgresStore::finish_task(const TaskResult& result, const Decider& decider) {
  if (std::optional<FinishOutcome> done = finish_predicted(result, decider)) return *done;
  // sluice_finish (migrations/postgres) locks the run, ends the try, stores
  // the log and returns the run's snapshot in one call, sent with BEGIN.
  auto opt_int = [](const auto& v) { return v ? std::to_string(*v) : std::string("NULL"); };
  std::vector<std::string> scope;
  if (decider.scope && !result.task_id.empty()) scope = decider.scope(result.task_id);
  std::string rendered =
      result.rendered.is_null() ? std::string("NULL") : sql_literal(result.rendered.dump());
  std::string log = result.final_log.empty()
                        ? std::string("NULL")
                        : sql_literal(to_hex_bytea(result.final_log)) + "::bytea";
  // Every statement of a finish is a lookup by key. Seq and bitmap scans
  // are ruled out for the transaction: without them a plan cannot read a
  // whole run (a table fresh from one big run has no statistics, and the
  // planner then likes scans), and plain index scans mark the dead entries
  // that every hop leaves in the queued-tasks index, so later probes skip
  // them. Generic plans are kept: with those settings the planner would
  // otherwise judge them worse than custom ones and re-plan every statement
  // of sluice_finish on every call.
  const std::string begin =
      "BEGIN; SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; "
      "SET LOCAL plan_cache_mode = force_generic_plan; "
      "SELECT * FROM sluice_finish(" +
      std::to_string(result.ti_id) + ", " + std::to_string(result.try_number) + ", " +
      sql_literal(result.worker_id) + ", " + sql_literal(to_string(result.state)) + ", " +
      std::to_string(to_epoch_ms(result.ended_at)) + ", " + opt_int(result.exit_code) + "::int, " +
      sql_literal(result.outputs.dump()) + ", " + rendered + "::text, " +
      sql_literal(result.error) + ", " + opt_int(opt_ms(result.next_try_at)) + "::bigint, " +
      std::to_string(result.final_log_seq) + ", " + log + ", " + sql_literal(array_literal(scope)) +
      "::text[])";
  // The decisions, the claim and COMMIT travel in one round trip: a hop
  // down a chain costs two (this BEGIN with sluice_finish, and that).
  return transact_to_commit(
      "finish a task", begin, [&](Tx& w, const pqxx::result& rows, bool& committing) {
        RunSnapshot snap;
        snap.run = read_run(rows.at(0));
        snap.partial = rows.at(0)["r_partial"].as<bool>();
        for (const auto& row : rows) snap.tasks.push_back(read_view(row));
        PlannedApply plan =
            plan_apply(w, snap, decider, result.ended_at, result.claim_next.has_value());
        std::string claim = result.claim_next ? claim_next_sql(w, *result.claim_next) : "";
        bool waits =
            result.state == TaskState::kUpForRetry || result.state == TaskState::kUpForReschedule;

        if (!result.checks.empty()) w.conn().prepare_now("insert_check_result");
        pqxx::pipeline batch(w);
        batch.retain(4);
        std::optional<pqxx::pipeline::query_id> apply_id, claim_id;
        if (plan.sql) apply_id = batch.insert(*plan.sql);
        // The scheduler's next due time moved, or a later run may proceed.
        if (waits || result.frees_next_interval)
          batch.insert("SELECT pg_notify('sluice_runs', '')");
        // The mark moves in the finish's transaction, after its compare-and-set held.
        if (result.watermark && result.state == TaskState::kSuccess) {
          Watermark mark = *result.watermark;
          mark.dag_id = snap.run.dag_id;
          if (!result.task_id.empty()) mark.task_id = result.task_id;
          batch.insert(advance_watermark_sql(mark, result.ended_at));
        }
        if (!claim.empty()) claim_id = batch.insert(claim);
        for (const CheckResultRecord& c : result.checks) {
          std::optional<std::string> value;
          if (c.value) {
            char buf[32];
            auto [end, ec] = std::to_chars(buf, buf + sizeof buf, *c.value);
            if (ec == std::errc()) value = std::string(buf, end);
          }
          batch.insert(execute_sql(
              "insert_check_result",
              {std::to_string(result.ti_id), std::to_string(result.try_number),
               std::to_string(c.seq), c.name, c.kind, c.severity, c.status, c.actual, value,
               c.threshold, std::to_string(to_epoch_ms(result.ended_at))}));
        }
        committing = true;
        batch.insert("COMMIT");
        FinishOutcome outcome;
        while (!batch.empty()) {
          auto [id, res] = batch.retrieve();
          if (id == apply_id) read_apply(plan, res.at(0));
          if (id == claim_id) read_claim_next(res, outcome);
        }
        batch.complete();
        outcome.add_applied(plan.applied.queued, plan.applied.decisions);
        return outcome;
      });
}

std::optional<FinishOutcome> PostgresStore::finish_predicted(const TaskResult& result,
                                                             const Decider& decider) {
  // Check results and a watermark go with the general path's statements.
  if (result.state != TaskState::kSuccess || result.task_id.empty() || result.watermark ||
      !result.checks.empty() || !decider.decide || !decider.scope || !decider.predictable ||
      decider.needs_previous_interval || !decider.predictable(result.task_id)) {
    return std::nullopt;
  }
  // The task's downstream tasks still wait, other tasks of the run are
  // unfinished (a partial snapshot) and the run is running. The others'
  // instance ids are not known yet: they stand as -1, -2, ... in order.
  RunSnapshot predicted;
  predicted.run.state = RunState::kRunning;
  predicted.partial = true;
  std::vector<std::string> others;
  for (const std::string& task_id : decider.scope(result.task_id)) {
    TaskStateView view;
    view.task_id = task_id;
    if (task_id == result.task_id) {
      view.id = result.ti_id;
      view.state = TaskState::kSuccess;
      view.try_number = result.try_number;
    } else {
      others.push_back(task_id);
      view.id = -static_cast<int64_t>(others.size());
    }
    predicted.tasks.push_back(std::move(view));
  }
  RunDecisions decisions = decider.decide(predicted);
  if (decisions.run_state || !decisions.alerts.empty() || decisions.incomplete) {
    return std::nullopt;
  }
  std::vector<std::string> to(others.size()), errors(others.size());
  for (const TaskTransition& t : decisions.tasks) {
    if (t.ti_id >= 0 || t.from != TaskState::kNone || t.next_try_at) return std::nullopt;
    const size_t i = static_cast<size_t>(-t.ti_id - 1);
    to[i] = to_string(t.to);
    errors[i] = t.error;
  }
  const ClaimRequest none;
  const ClaimRequest& claim = result.claim_next ? *result.claim_next : none;
  std::optional<std::string> rendered, log;
  if (!result.rendered.is_null()) rendered = result.rendered.dump();
  if (!result.final_log.empty()) log = to_hex_bytea(result.final_log);
  try {
    return transact_prepared(
        "finish a task",
        [&](Tx& w) {
          return w.exec_prepared(
              "finish_predicted", result.ti_id, result.try_number, result.worker_id,
              to_epoch_ms(result.ended_at), result.exit_code, result.outputs.dump(), rendered,
              result.error, result.final_log_seq, log, result.task_id, array_literal(others),
              array_literal(to), array_literal(errors), array_literal(claim.queues),
              result.claim_next ? claim.max_tasks : 0, claim.worker_id, to_epoch_ms(claim.now),
              kClaimLockKey);
        },
        [&](const pqxx::result& rows) {
          FinishOutcome outcome;
          for (const auto& row : rows) {
            if (!row["id"].is_null()) {
              outcome.claimed.push_back({read_task(row), read_run(row)});
            } else {
              outcome.more_queued = row["more"].as<bool>();
              outcome.queued = row["queued"].as<int>();
            }
          }
          return outcome;
        });
  } catch (const PredictionFailed&) {
    return std::nullopt;
  }
}

std::vector<int64_t> PostgresStore::runs_with_due_tasks(Timestamp now) {
  return transact("find due tasks", [&](Tx& w) {
    std::vector<int64_t> out;
    for (const auto& row : w.exec_prepared("runs_with_due_tasks", to_epoch_ms(now))) {
      out.push_back(row[0].as<int64_t>());
    }
    return out;
  });
}

std::optional<Timestamp> PostgresStore::next_due_time() {
  return transact("find the next due time",
                  [&](Tx& w) { return opt_time(w.exec_prepared("next_due_time").at(0).at(0)); });
}

int PostgresStore::clear_task_instances(int64_t run_pk, const std::vector<int64_t>& ti_ids,
                                        const Decider& decider, Timestamp now) {
  return transact("clear task instances", begin_locking_run(run_pk),
                  [&](Tx& w, const pqxx::result& locked) {
                    locked_run(locked, run_pk);
                    int cleared = static_cast<int>(
                        w.exec_prepared("clear_tasks", run_pk, int_array(ti_ids)).affected_rows());
                    w.exec_prepared("rerun_run", run_pk);
                    // A finished run queues again: the scheduler starts it within max_active_runs.
                    w.exec("SELECT pg_notify('sluice_runs', '')");
                    RunSnapshot snap;
                    snap.run = read_run(w.exec_prepared("get_run_by_pk", run_pk).at(0));
                    for (const auto& row : w.exec_prepared("snapshot_tasks", run_pk)) {
                      snap.tasks.push_back(read_view(row));
                    }
                    decide_and_apply(w, snap, decider, now);
                    return cleared;
                  });
}

FinishOutcome PostgresStore::expand_mapped_task(int64_t ti_id, int try_number,
                                                const std::string& worker_id,
                                                const std::vector<nlohmann::json>& items,
                                                const Decider& decider, Timestamp now) {
  if (items.empty()) throw UserError("a mapped task cannot expand into no instances");
  return transact(
      "expand a mapped task", begin_locking_run_of_task(ti_id),
      [&](Tx& w, const pqxx::result& locked) {
        if (locked.empty()) throw NotFoundError("no task instance " + std::to_string(ti_id));
        RunSnapshot snap;
        snap.run = read_run(locked[0]);
        // The placeholder becomes instance 0: its try was the expansion, not a run.
        pqxx::result updated = w.exec_params(
            "UPDATE task_instances SET map_index = 0, state = 'none', try_number = 0, "
            "map_item = $1, queued_at = NULL, started_at = NULL, ended_at = NULL, "
            "first_started_at = NULL, next_try_at = NULL, worker_id = NULL, exit_code = NULL, "
            "error = '' WHERE id = $2 AND map_index = -1 AND state = 'running' "
            "AND try_number = $3 AND ($4::text = '' OR worker_id = $4::text) RETURNING run_pk",
            items[0].dump(), ti_id, try_number, worker_id);
        if (updated.empty()) {
          throw ConflictError("task instance " + std::to_string(ti_id) +
                              " is no longer the running placeholder of a mapped task");
        }
        w.exec_params("DELETE FROM task_logs WHERE ti_id = $1", ti_id);
        std::vector<std::string> rest;
        for (size_t i = 1; i < items.size(); ++i) rest.push_back(items[i].dump());
        if (!rest.empty()) {
          w.exec_params(
              "INSERT INTO task_instances (run_pk, dag_id, task_id, map_index, state, max_tries, "
              "pool, pool_slots, priority, queue, run_type_rank, map_item) "
              "SELECT t.run_pk, t.dag_id, t.task_id, u.ord::int, 'none', t.max_tries, t.pool, "
              "t.pool_slots, t.priority, t.queue, t.run_type_rank, u.item "
              "FROM task_instances t, unnest($1::text[]) WITH ORDINALITY AS u(item, ord) "
              "WHERE t.id = $2",
              array_literal(rest), ti_id);
        }
        for (const auto& row : w.exec_prepared("snapshot_tasks", snap.run.id)) {
          snap.tasks.push_back(read_view(row));
        }
        Applied applied = decide_and_apply(w, snap, decider, now);
        FinishOutcome outcome;
        outcome.add_applied(applied.queued, applied.decisions);
        return outcome;
      });
}

nlohmann::json PostgresStore::get_map_item(int64_t ti_id) {
  return transact("read a map item", [&](Tx& w) {
    pqxx::result r =
        w.exec_params("SELECT COALESCE(map_item, '') FROM task_instances WHERE id = $1", ti_id);
    nlohmann::json out;
    if (!r.empty()) {
      std::string text = r[0][0].as<std::string>();
      if (!text.empty()) out = nlohmann::json::parse(text, nullptr, false);
    }
    return out;
  });
}

void PostgresStore::mark_task_instance(int64_t ti_id, TaskState state,
                                       const std::string& marked_by, const Decider& decider,
                                       Timestamp now) {
  transact("mark a task instance", begin_locking_run_of_task(ti_id),
           [&](Tx& w, const pqxx::result& locked) {
             if (locked.empty()) throw NotFoundError("no task instance " + std::to_string(ti_id));
             RunSnapshot snap;
             snap.run = read_run(locked[0]);
             w.exec_prepared("mark_task", ti_id, to_string(state), to_epoch_ms(now), marked_by);
             for (const auto& row : w.exec_prepared("snapshot_tasks", snap.run.id)) {
               snap.tasks.push_back(read_view(row));
             }
             decide_and_apply(w, snap, decider, now);
             // The decider leaves an ended run alone; a mark re-decides its state.
             std::vector<TaskState> states;
             for (const TaskStateView& v : snap.tasks) states.push_back(v.state);
             auto after = run_state_after_mark(snap.run.state, states);
             if (after && *after != snap.run.state) {
               w.exec_params("UPDATE dag_runs SET state = $1 WHERE id = $2", to_string(*after),
                             snap.run.id);
             }
             return 0;
           });
}

void PostgresStore::cancel_run(int64_t run_pk, Timestamp now) {
  transact("cancel a run", begin_locking_run(run_pk), [&](Tx& w, const pqxx::result& locked) {
    locked_run(locked, run_pk);
    w.exec_prepared("cancel_tasks", run_pk, to_epoch_ms(now));
    w.exec_prepared("cancel_run", run_pk, to_epoch_ms(now));
    return 0;
  });
}

std::vector<int64_t> PostgresStore::tasks_to_stop(const std::string& worker_id,
                                                  const std::vector<int64_t>& ti_ids) {
  if (ti_ids.empty()) return {};
  return transact("check running tasks", [&](Tx& w) {
    std::set<int64_t> running;
    for (const auto& row : w.exec_prepared("tasks_still_running", worker_id, int_array(ti_ids))) {
      running.insert(row[0].as<int64_t>());
    }
    std::vector<int64_t> out;
    for (int64_t id : ti_ids) {
      if (!running.count(id)) out.push_back(id);
    }
    return out;
  });
}

std::vector<TaskInstanceRecord> PostgresStore::running_on_worker(const std::string& worker_id) {
  return transact("find a worker's tasks", [&](Tx& w) {
    std::vector<TaskInstanceRecord> out;
    for (const auto& row : w.exec_params(std::string("SELECT ") + kTaskColumns +
                                             " FROM task_instances t JOIN dag_runs r ON "
                                             "r.id = t.run_pk WHERE t.state = 'running' AND "
                                             "t.worker_id = $1 ORDER BY t.id",
                                         worker_id)) {
      out.push_back(read_task(row));
    }
    return out;
  });
}

std::vector<TaskInstanceRecord> PostgresStore::orphaned_tasks(Timestamp cutoff) {
  return transact("find orphaned tasks", [&](Tx& w) {
    std::vector<TaskInstanceRecord> out;
    for (const auto& row : w.exec_prepared("orphaned_tasks", to_epoch_ms(cutoff))) {
      out.push_back(read_task(row));
    }
    return out;
  });
}

}  // namespace sluice::pg
