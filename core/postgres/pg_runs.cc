// The Postgres store: creating, reading and reconciling runs.

#include "core/postgres/pg_store_impl.h"

namespace sluice::pg {

std::optional<RunRecord> PostgresStore::create_run(const NewRun& run, const Decider& decider,
                                                   Timestamp now) {
  return transact("create run " + run.dag_id + "/" + run.run_id,
                  [&](Tx& w) -> std::optional<RunRecord> {
                    std::vector<std::string> task_ids, pools, queues;
                    std::vector<int> max_tries, priorities;
                    for (const auto& t : run.tasks) {
                      task_ids.push_back(t.task_id);
                      max_tries.push_back(t.max_tries);
                      pools.push_back(t.pool);
                      priorities.push_back(t.priority);
                      queues.push_back(t.queue);
                    }
                    bool unique_interval = run.type != RunType::kManual;
                    std::optional<int64_t> started, ended;
                    if (run.state == RunState::kRunning) started = to_epoch_ms(now);
                    if (is_finished(run.state)) ended = to_epoch_ms(now);
                    pqxx::result r = w.exec_prepared(
                        unique_interval ? "create_run_unique" : "create_run", run.dag_id,
                        run.run_id, to_string(run.type), to_string(run.state), run.version_id,
                        to_epoch_ms(run.interval.start), to_epoch_ms(run.interval.end),
                        run.conf.dump(), run.backfill_id, to_epoch_ms(now), run_type_rank(run.type),
                        array_literal(task_ids), int_array(max_tries), array_literal(pools),
                        int_array(priorities), array_literal(queues), started, ended);
                    if (r.empty()) return std::nullopt;  // the interval already has its run
                    // A queued run waits for a scheduler to start it: wake schedulers.
                    if (run.state == RunState::kQueued)
                      w.exec("SELECT pg_notify('sluice_runs', '')");

                    RunSnapshot snap;
                    snap.run.id = r[0]["run_pk"].as<int64_t>();
                    snap.run.dag_id = run.dag_id;
                    snap.run.run_id = run.run_id;
                    snap.run.type = run.type;
                    snap.run.state = run.state;
                    snap.run.version_id = run.version_id;
                    snap.run.interval = run.interval;
                    snap.run.conf = run.conf;
                    snap.run.backfill_id = run.backfill_id;
                    snap.run.created_at = now;
                    if (started) snap.run.started_at = now;
                    if (ended) snap.run.ended_at = now;
                    for (const auto& row : r) {
                      if (row["id"].is_null()) continue;  // a run without tasks
                      TaskStateView v;
                      v.id = row["id"].as<int64_t>();
                      v.task_id = text(row["task_id"]);
                      v.max_tries = row["max_tries"].as<int>();
                      snap.tasks.push_back(std::move(v));
                    }
                    Applied applied = decide_and_apply(w, snap, decider, now);
                    return applied.run;
                  });
}

std::optional<RunRecord> PostgresStore::get_run(const std::string& dag_id,
                                                const std::string& run_id) {
  return transact("read run " + dag_id + "/" + run_id, [&](Tx& w) -> std::optional<RunRecord> {
    pqxx::result r = w.exec_prepared("get_run", dag_id, run_id);
    if (r.empty()) return std::nullopt;
    return read_run(r[0]);
  });
}

std::optional<RunRecord> PostgresStore::get_run_by_pk(int64_t run_pk) {
  return transact("read a run", [&](Tx& w) -> std::optional<RunRecord> {
    pqxx::result r = w.exec_prepared("get_run_by_pk", run_pk);
    if (r.empty()) return std::nullopt;
    return read_run(r[0]);
  });
}

std::vector<RunRecord> PostgresStore::list_runs(const RunFilter& filter) {
  return transact("list runs", [&](Tx& w) {
    std::optional<std::string> state, type;
    if (filter.state) state = to_string(*filter.state);
    if (filter.type) type = to_string(*filter.type);
    std::vector<RunRecord> out;
    for (const auto& row : w.exec_prepared("list_runs", filter.dag_id, state, type, filter.limit,
                                           filter.offset, filter.newest_created_first)) {
      out.push_back(read_run(row));
    }
    return out;
  });
}

int64_t PostgresStore::count_runs(const RunFilter& filter) {
  return transact("count runs", [&](Tx& w) {
    std::optional<std::string> state, type;
    if (filter.state) state = to_string(*filter.state);
    if (filter.type) type = to_string(*filter.type);
    return w.exec_prepared("count_runs", filter.dag_id, state, type)[0][0].as<int64_t>();
  });
}

std::optional<RunRecord> PostgresStore::latest_interval_run(const std::string& dag_id) {
  return transact("read the latest run of " + dag_id, [&](Tx& w) -> std::optional<RunRecord> {
    pqxx::result r = w.exec_prepared("latest_interval_run", dag_id);
    if (r.empty()) return std::nullopt;
    return read_run(r[0]);
  });
}

std::vector<RunRecord> PostgresStore::list_unfinished_runs() {
  return transact("list unfinished runs", [&](Tx& w) {
    std::vector<RunRecord> out;
    for (const auto& row : w.exec_prepared("list_unfinished_runs")) out.push_back(read_run(row));
    return out;
  });
}

RunDecisions PostgresStore::reconcile_run(int64_t run_pk, const Decider& decider, Timestamp now) {
  return transact("reconcile a run", begin_locking_run(run_pk),
                  [&](Tx& w, const pqxx::result& locked) {
                    RunSnapshot snap;
                    snap.run = locked_run(locked, run_pk);
                    for (const auto& row : w.exec_prepared("snapshot_tasks", run_pk)) {
                      snap.tasks.push_back(read_view(row));
                    }
                    return decide_and_apply(w, snap, decider, now).decisions;
                  });
}

}  // namespace sluice::pg
