// The Postgres store: backfills and their intervals.

#include "core/postgres/pg_store_impl.h"

namespace sluice::pg {

int64_t PostgresStore::create_backfill(const BackfillRecord& b,
                                       const std::vector<BackfillIntervalRecord>& intervals) {
  return transact("create a backfill of " + b.dag_id, [&](Tx& w) {
    int64_t id =
        w.exec_params(
             "INSERT INTO backfills (dag_id, range_from, range_to, reprocess, max_active_runs, "
             "backwards, conf, state, created_at, total_runs) "
             "VALUES ($1, $2, $3, $4, $5, $6, $7, 'running', $8, $9) RETURNING id",
             b.dag_id, to_epoch_ms(b.range_from), to_epoch_ms(b.range_to), b.reprocess,
             b.max_active_runs, b.backwards, b.conf.dump(), to_epoch_ms(b.created_at), b.total_runs)
            .at(0)
            .at(0)
            .as<int64_t>();
    std::vector<int64_t> starts, ends;
    std::vector<std::string> actions, reasons;
    std::vector<std::optional<std::string>> runs;
    for (const BackfillIntervalRecord& i : intervals) {
      starts.push_back(to_epoch_ms(i.interval.start));
      ends.push_back(to_epoch_ms(i.interval.end));
      actions.push_back(i.action);
      reasons.push_back(i.reason);
      runs.push_back(i.run_pk ? std::optional<std::string>(std::to_string(*i.run_pk))
                              : std::nullopt);
    }
    w.exec_params(
        "INSERT INTO backfill_intervals (backfill_id, interval_start, interval_end, action, "
        "reason, run_pk) SELECT $1::bigint, s, e, a, r, p FROM unnest($2::bigint[], $3::bigint[], "
        "$4::text[], $5::text[], $6::bigint[]) AS u(s, e, a, r, p)",
        id, int_array(starts), int_array(ends), array_literal(actions), array_literal(reasons),
        array_literal(runs));
    return id;
  });
}

std::optional<BackfillRecord> PostgresStore::get_backfill(int64_t id) {
  return transact("read backfill " + std::to_string(id),
                  [&](Tx& w) -> std::optional<BackfillRecord> {
                    pqxx::result r = w.exec_params("SELECT * FROM backfills WHERE id = $1", id);
                    if (r.empty()) return std::nullopt;
                    return read_backfill(r[0]);
                  });
}

std::vector<BackfillRecord> PostgresStore::list_backfills(const std::string& dag_id,
                                                          bool running_only, int limit) {
  return transact("list backfills", [&](Tx& w) {
    std::vector<BackfillRecord> out;
    for (const auto& row :
         w.exec_params("SELECT * FROM backfills WHERE ($1::text = '' OR dag_id = $1::text) "
                       "AND (NOT $2::boolean OR state = 'running') ORDER BY id DESC LIMIT $3",
                       dag_id, running_only, limit)) {
      out.push_back(read_backfill(row));
    }
    return out;
  });
}

std::vector<BackfillIntervalRecord> PostgresStore::list_backfill_intervals(int64_t backfill_id) {
  return transact("list the intervals of a backfill", [&](Tx& w) {
    std::vector<BackfillIntervalRecord> out;
    for (const auto& row :
         w.exec_params("SELECT i.interval_start, i.interval_end, i.action, i.reason, i.run_pk, "
                       "r.run_id, r.state FROM backfill_intervals i LEFT JOIN dag_runs r "
                       "ON r.id = i.run_pk WHERE i.backfill_id = $1 ORDER BY i.interval_start",
                       backfill_id)) {
      BackfillIntervalRecord i;
      i.interval.start = from_epoch_ms(row[0].as<int64_t>());
      i.interval.end = from_epoch_ms(row[1].as<int64_t>());
      i.action = text(row[2]);
      i.reason = text(row[3]);
      if (!row[4].is_null()) i.run_pk = row[4].as<int64_t>();
      i.run_id = text(row[5]);
      if (!row[6].is_null()) i.run_state = run_state(row[6]);
      out.push_back(std::move(i));
    }
    return out;
  });
}

std::string PostgresStore::update_backfill_interval(int64_t backfill_id, Timestamp interval_start,
                                                    const std::string& action,
                                                    const std::string& reason,
                                                    std::optional<int64_t> run_pk) {
  return transact("update a backfill interval", [&](Tx& w) {
    w.exec_params(
        "UPDATE backfill_intervals SET action = $3, reason = $4, run_pk = $5 "
        "WHERE backfill_id = $1 AND interval_start = $2",
        backfill_id, to_epoch_ms(interval_start), action, reason, run_pk);
    pqxx::result r = w.exec_params("SELECT state FROM backfills WHERE id = $1", backfill_id);
    if (r.empty()) throw NotFoundError("no backfill " + std::to_string(backfill_id));
    return text(r[0][0]);
  });
}

bool PostgresStore::update_backfill(int64_t id, const std::string& state, int total_runs,
                                    int succeeded_runs, int failed_runs, Timestamp now) {
  return transact("update backfill " + std::to_string(id), [&](Tx& w) {
    bool finished = state != "running";
    pqxx::result r = w.exec_params(
        "UPDATE backfills SET state = $2, total_runs = $3, succeeded_runs = $4, "
        "failed_runs = $5, finished_at = CASE WHEN $6 THEN $7::bigint ELSE NULL END "
        "WHERE id = $1 AND state = 'running'",
        id, state, total_runs, succeeded_runs, failed_runs, finished, to_epoch_ms(now));
    return r.affected_rows() > 0;
  });
}

bool PostgresStore::rerun_for_backfill(int64_t run_pk, int64_t backfill_id,
                                       const nlohmann::json& conf, Timestamp /*now*/) {
  return transact(
      "re-run a run for a backfill", begin_locking_run(run_pk),
      [&](Tx& w, const pqxx::result& locked) {
        RunRecord run = locked_run(locked, run_pk);
        if (!is_finished(run.state)) return false;
        w.exec_params(
            "UPDATE task_instances SET state = 'none', max_tries = try_number + max_tries, "
            "queued_at = NULL, started_at = NULL, ended_at = NULL, next_try_at = NULL, "
            "first_started_at = NULL, worker_id = NULL, exit_code = NULL, error = '', "
            "marked_at = NULL, marked_by = '', run_type_rank = 1 WHERE run_pk = $1",
            run_pk);
        w.exec_params(
            "UPDATE dag_runs SET state = 'queued', started_at = NULL, ended_at = NULL, "
            "backfill_id = $2, conf = CASE WHEN $3::boolean THEN conf ELSE $4::text END WHERE id = "
            "$1",
            run_pk, backfill_id, conf.empty(), conf.dump());
        return true;
      });
}

std::vector<RunRecord> PostgresStore::list_interval_runs(const std::string& dag_id, Timestamp from,
                                                         Timestamp to) {
  return transact("list runs of " + dag_id, [&](Tx& w) {
    std::vector<RunRecord> out;
    for (const auto& row :
         w.exec_params(std::string("SELECT ") + kRunColumns +
                           " FROM dag_runs r WHERE r.dag_id = $1 AND r.run_type IN ('scheduled', "
                           "'backfill') AND r.interval_start >= $2 AND r.interval_start <= $3 "
                           "ORDER BY r.interval_start",
                       dag_id, to_epoch_ms(from), to_epoch_ms(to))) {
      out.push_back(read_run(row));
    }
    return out;
  });
}

}  // namespace sluice::pg
