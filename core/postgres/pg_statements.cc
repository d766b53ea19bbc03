// The Postgres store's prepared statements, prepared on every new connection.

#include "core/postgres/pg_store_impl.h"

namespace sluice::pg {

namespace {

// The WHERE clauses of list_runs and count_runs ($1 dag_id, $2 state, $3
// run type) and of list_check_results and count_check_results ($1 to $6 the
// CheckResultFilter's fields).
constexpr const char* kRunFilter =
    " WHERE ($1 = '' OR r.dag_id = $1) AND ($2::text IS NULL OR r.state = $2) "
    "AND ($3::text IS NULL OR r.run_type = $3) ";
constexpr const char* kCheckFilter =
    " WHERE dag_id = $1 AND ($2 = '' OR task_id = $2) AND ($3 = '' OR name = $3) "
    "AND ($4::bigint IS NULL OR ti_id = $4) AND ($5::bigint IS NULL OR interval_start < $5) "
    "AND (NOT $6::bool OR status = 'pass') ";

}  // namespace

const std::vector<std::pair<const char*, std::string>>& statements() {
  static const std::vector<std::pair<const char*, std::string>> list = {
      // DAGs.
      {"insert_version",
       "INSERT INTO dag_versions (dag_id, content_hash, yaml, definition, created_at) "
       "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (dag_id, content_hash) DO NOTHING RETURNING id"},
      {"find_version", "SELECT id FROM dag_versions WHERE dag_id = $1 AND content_hash = $2"},
      {"upsert_dag",
       "INSERT INTO dags (dag_id, file, paused, active, max_active_tasks, version_id, updated_at) "
       "VALUES ($1, $2, $3, TRUE, $4, $5, $6) ON CONFLICT (dag_id) DO UPDATE SET "
       "file = excluded.file, active = TRUE, max_active_tasks = excluded.max_active_tasks, "
       "version_id = excluded.version_id, updated_at = excluded.updated_at"},
      {"set_file_error",
       "INSERT INTO file_errors (file, dag_id, message, at) VALUES ($1, $2, $3, $4) "
       "ON CONFLICT (file) DO UPDATE SET dag_id = excluded.dag_id, message = excluded.message, "
       "at = excluded.at"},
      {"clear_file_error", "DELETE FROM file_errors WHERE file = $1"},
      {"list_file_errors", "SELECT file, dag_id, message, at FROM file_errors ORDER BY file"},
      {"set_active_files",
       "UPDATE dags SET active = (file = ANY($1::text[])) "
       "WHERE active IS DISTINCT FROM (file = ANY($1::text[]))"},
      {"list_dags",
       "SELECT d.*, COALESCE(e.message, '') AS parse_error FROM dags d "
       "LEFT JOIN file_errors e ON e.file = d.file ORDER BY d.dag_id"},
      {"get_dag",
       "SELECT d.*, COALESCE(e.message, '') AS parse_error FROM dags d "
       "LEFT JOIN file_errors e ON e.file = d.file WHERE d.dag_id = $1"},
      {"set_paused", "UPDATE dags SET paused = $2 WHERE dag_id = $1"},
      {"get_version", "SELECT * FROM dag_versions WHERE id = $1"},
      // Pools.
      {"delete_pools", "DELETE FROM pools WHERE NOT (name = ANY($1::text[]))"},
      {"upsert_pools",
       "INSERT INTO pools (name, slots) SELECT * FROM unnest($1::text[], $2::int[]) "
       "ON CONFLICT (name) DO UPDATE SET slots = excluded.slots"},
      {"list_pools", "SELECT name, slots FROM pools ORDER BY name"},
      // Runs. create_run inserts the run and its task instances in one
      // statement; scheduled and backfill runs skip an existing interval.
      {"create_run_unique",
       std::string() +
           "WITH r AS (INSERT INTO dag_runs (dag_id, run_id, run_type, state, version_id, "
           "interval_start, interval_end, conf, backfill_id, created_at, started_at, ended_at) "
           "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $17, $18) ON CONFLICT (dag_id, "
           "interval_start) WHERE run_type IN ('scheduled', 'backfill') DO NOTHING RETURNING id), "
           "t AS (INSERT INTO task_instances (run_pk, dag_id, task_id, max_tries, pool, priority, "
           "queue, run_type_rank) SELECT r.id, $1, u.task_id, u.max_tries, u.pool, u.priority, "
           "u.queue, $11::int FROM r, unnest($12::text[], $13::int[], $14::text[], $15::int[], "
           "$16::text[]) "
           "WITH ORDINALITY AS u(task_id, max_tries, pool, priority, queue, ord) ORDER BY u.ord "
           "RETURNING id, task_id, max_tries) "
           "SELECT r.id AS run_pk, t.id, t.task_id, t.max_tries FROM r LEFT JOIN t ON TRUE "
           "ORDER BY t.id"},
      {"create_run",
       std::string() +
           "WITH r AS (INSERT INTO dag_runs (dag_id, run_id, run_type, state, version_id, "
           "interval_start, interval_end, conf, backfill_id, created_at, started_at, ended_at) "
           "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $17, $18) RETURNING id), "
           "t AS (INSERT INTO task_instances (run_pk, dag_id, task_id, max_tries, pool, priority, "
           "queue, run_type_rank) SELECT r.id, $1, u.task_id, u.max_tries, u.pool, u.priority, "
           "u.queue, $11::int FROM r, unnest($12::text[], $13::int[], $14::text[], $15::int[], "
           "$16::text[]) "
           "WITH ORDINALITY AS u(task_id, max_tries, pool, priority, queue, ord) ORDER BY u.ord "
           "RETURNING id, task_id, max_tries) "
           "SELECT r.id AS run_pk, t.id, t.task_id, t.max_tries FROM r LEFT JOIN t ON TRUE "
           "ORDER BY t.id"},
      {"get_run", std::string("SELECT ") + kRunColumns +
                      " FROM dag_runs r WHERE r.dag_id = $1 AND r.run_id = $2"},
      {"get_run_by_pk", std::string("SELECT ") + kRunColumns + " FROM dag_runs r WHERE r.id = $1"},
      {"list_runs",
       std::string("SELECT ") + kRunColumns + " FROM dag_runs r" + kRunFilter +
           "ORDER BY CASE WHEN $6 THEN r.id END DESC, r.interval_start DESC, r.id DESC "
           "LIMIT $4 OFFSET $5"},
      {"count_runs", std::string("SELECT COUNT(*) FROM dag_runs r") + kRunFilter},
      {"latest_interval_run",
       std::string("SELECT ") + kRunColumns +
           " FROM dag_runs r WHERE r.dag_id = $1 AND r.run_type IN ('scheduled', 'backfill') "
           "ORDER BY r.interval_start DESC LIMIT 1"},
      {"list_unfinished_runs", std::string("SELECT ") + kRunColumns +
                                   " FROM dag_runs r WHERE r.state IN ('queued', 'running') "
                                   "ORDER BY r.id"},
      {"snapshot_tasks",
       "SELECT id, task_id, map_index, state, try_number, max_tries, next_try_at "
       "FROM task_instances WHERE run_pk = $1 ORDER BY id"},
      {"previous_interval",
       "WITH p AS (SELECT id FROM dag_runs WHERE dag_id = $1 AND run_type IN ('scheduled', "
       "'backfill') AND interval_start < $2 ORDER BY interval_start DESC LIMIT 1) "
       "SELECT p.id AS run_pk, t.task_id, t.map_index, t.state FROM p "
       "LEFT JOIN task_instances t ON t.run_pk = p.id ORDER BY t.task_id, t.map_index"},
      // One statement applies a decider's decisions: compare-and-set task
      // transitions, the run's state and the alerts.
      {"apply_decisions",
       "WITH d AS (SELECT * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::bigint[], "
       "$6::text[]) AS d(id, from_state, to_state, next_try_at, error)), "
       "t AS (UPDATE task_instances t SET state = d.to_state, "
       "queued_at = CASE WHEN d.to_state = 'queued' THEN $7::bigint ELSE t.queued_at END, "
       "ended_at = CASE WHEN d.to_state IN ('success', 'failed', 'skipped', 'upstream_failed', "
       "'canceled') THEN $7::bigint ELSE t.ended_at END, "
       "next_try_at = d.next_try_at, "
       "error = CASE WHEN d.error <> '' THEN d.error ELSE t.error END "
       // "+ 0": the run check is a filter, never the access path; a plan
       // reading every instance of the run (chosen for a run without
       // statistics yet) makes each decision O(run size).
       "FROM d WHERE t.id = d.id AND t.id = ANY($2::bigint[]) AND t.run_pk + 0 = $1 "
       "AND t.state = d.from_state "
       "RETURNING t.id, t.state), "
       "r AS (UPDATE dag_runs SET state = $8::text, "
       "started_at = CASE WHEN $8::text = 'running' THEN COALESCE(started_at, $7::bigint) "
       "ELSE started_at END, "
       "ended_at = CASE WHEN $8::text IN ('success', 'failed', 'canceled') "
       "THEN COALESCE(ended_at, $7::bigint) ELSE NULL END "
       "WHERE id = $1 AND $8::text IS NOT NULL "
       "RETURNING state, started_at, ended_at), "
       "a AS (INSERT INTO alert_outbox (event_id, event, dag_id, run_id, task_id, payload, "
       "created_at, next_attempt_at) SELECT e.*, $7::bigint, $7::bigint FROM unnest($9::text[], "
       "$10::text[], $11::text[], $12::text[], $13::text[], $14::text[]) AS e RETURNING 1), "
       // Wakes listening workers when tasks were queued (unless the caller
       // claims in the same transaction and notifies what it leaves), and
       // schedulers when the run changed or alerts wait (core/pg_listener.h).
       "n AS (SELECT pg_notify('sluice_work', '') WHERE NOT $15::boolean AND EXISTS (SELECT 1 "
       "FROM t WHERE state = 'queued')), "
       "m AS (SELECT pg_notify('sluice_runs', '') WHERE EXISTS (SELECT 1 FROM r) OR EXISTS "
       "(SELECT 1 FROM a)) "
       "SELECT (SELECT array_agg(id)::text FROM t) AS applied_ids, "
       "(SELECT count(*) FROM n) + (SELECT count(*) FROM m) AS notified, "
       "(SELECT count(*) FROM t WHERE state = 'queued') AS queued, "
       "(SELECT count(*) FROM a) AS alerts, "
       "(SELECT count(*) FROM r) AS run_changed, "
       "(SELECT state FROM r) AS run_state, (SELECT started_at FROM r) AS started_at, "
       "(SELECT ended_at FROM r) AS ended_at"},
      {"finish_predicted",
       "SELECT * FROM sluice_finish_predicted($1::bigint, $2::int, $3::text, $4::bigint, "
       "$5::int, $6::text, $7::text, $8::text, $9::int, $10::bytea, $11::text, $12::text[], "
       "$13::text[], $14::text[], $15::text[], $16::int, $17::text, $18::bigint, $19::bigint)"},
      // finish_task's claim_next (see claim_in).
      {"claim_next",
       "WITH c AS (SELECT * FROM sluice_claim($1::text[], $2::int, $3::text, $4::bigint, "
       "$5::bigint)), m AS (SELECT EXISTS (SELECT 1 FROM task_instances t WHERE t.state = "
       "'queued' AND t.id NOT IN (SELECT id FROM c) ORDER BY t.run_type_rank, t.priority DESC, "
       "t.queued_at, t.id LIMIT 1) AS more) "
       "SELECT c.*, m.more, CASE WHEN m.more THEN pg_notify('sluice_work', '') END AS woke "
       "FROM m LEFT JOIN c ON true ORDER BY c.claim_order"},
      {"cancel_tasks",
       "UPDATE task_instances SET state = 'canceled', ended_at = $2 WHERE run_pk = $1 AND state "
       "NOT IN ('success', 'failed', 'skipped', 'upstream_failed', 'canceled')"},
      {"cancel_run",
       "UPDATE dag_runs SET state = 'canceled', ended_at = $2 WHERE id = $1 AND state IN "
       "('queued', 'running')"},
      {"clean_runs",
       "DELETE FROM dag_runs WHERE id IN (SELECT id FROM dag_runs WHERE state IN ('success', "
       "'failed', 'canceled') AND ended_at < $1 ORDER BY ended_at LIMIT $2)"},
      // Task instances.
      {"list_task_instances",
       std::string("SELECT ") + kTaskColumns +
           " FROM task_instances t JOIN dag_runs r ON r.id = t.run_pk WHERE t.run_pk = $1 "
           "ORDER BY t.id"},
      {"get_task_instance", std::string("SELECT ") + kTaskColumns +
                                " FROM task_instances t JOIN dag_runs r ON r.id = t.run_pk "
                                "WHERE t.id = $1"},
      {"runs_with_due_tasks",
       "SELECT DISTINCT run_pk FROM task_instances WHERE state IN ('up_for_retry', "
       "'up_for_reschedule') AND next_try_at <= $1 ORDER BY run_pk"},
      {"next_due_time",
       "SELECT min(next_try_at) FROM task_instances WHERE state IN ('up_for_retry', "
       "'up_for_reschedule')"},
      {"clear_tasks",
       "UPDATE task_instances SET state = 'none', max_tries = try_number + max_tries, "
       "queued_at = NULL, started_at = NULL, ended_at = NULL, next_try_at = NULL, worker_id = "
       "NULL, "
       "exit_code = NULL, error = '', marked_at = NULL, marked_by = '' "
       "WHERE run_pk = $1 AND id = ANY($2::bigint[])"},
      {"rerun_run",
       "UPDATE dag_runs SET state = CASE WHEN state = 'running' THEN 'running' ELSE 'queued' END, "
       "ended_at = NULL WHERE id = $1"},
      {"mark_task",
       // The try keeps its times; one still running ends now (its worker stops it).
       "UPDATE task_instances SET state = $2, ended_at = CASE WHEN state = 'running' AND $2 "
       "IN ('success', 'failed', 'skipped', 'upstream_failed', 'canceled') THEN $3 ELSE "
       "ended_at END, next_try_at = NULL, marked_at = $3, marked_by = $4 WHERE id = $1"},
      {"tasks_still_running",
       "SELECT id FROM task_instances WHERE id = ANY($2::bigint[]) AND state = 'running' AND "
       "worker_id = $1"},
      {"orphaned_tasks",
       std::string("SELECT ") + kTaskColumns +
           " FROM task_instances t JOIN dag_runs r ON r.id = t.run_pk "
           "LEFT JOIN workers w ON w.id = t.worker_id WHERE t.state = 'running' AND "
           "(w.id IS NULL OR w.last_heartbeat < $1) ORDER BY t.id"},
      // Logs.
      // Re-sending a chunk (after a lost commit) replaces it rather than failing.
      {"append_log",
       "INSERT INTO task_logs (ti_id, try_number, seq, data) SELECT id, $2::int, $3::int, "
       "$4::bytea FROM task_instances WHERE id = $1 "
       "ON CONFLICT (ti_id, try_number, seq) DO UPDATE SET data = excluded.data"},
      {"read_log",
       "SELECT start, data FROM (SELECT seq, data, sum(octet_length(data)) OVER (ORDER BY seq) - "
       "octet_length(data) AS start FROM task_logs WHERE ti_id = $1 AND try_number = $2) s "
       "WHERE start + octet_length(data) > $3 AND start < $3 + $4 ORDER BY seq"},
      {"log_size",
       "SELECT coalesce(sum(octet_length(data)), 0) FROM task_logs WHERE ti_id = $1 AND "
       "try_number = $2"},
      // Workers and schedulers.
      {"register_worker",
       "INSERT INTO workers (id, host, pid, slots, queues, started_at, last_heartbeat, state) "
       "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO UPDATE SET "
       "host = excluded.host, pid = excluded.pid, slots = excluded.slots, queues = "
       "excluded.queues, started_at = excluded.started_at, last_heartbeat = "
       "excluded.last_heartbeat, state = excluded.state"},
      {"heartbeat_worker", "UPDATE workers SET last_heartbeat = $2 WHERE id = $1"},
      {"set_worker_state", "UPDATE workers SET state = $2 WHERE id = $1"},
      {"release_claim",
       "WITH t AS (UPDATE task_instances SET state = 'queued', try_number = try_number - 1, "
       "started_at = NULL, first_started_at = CASE WHEN try_number = 1 THEN NULL "
       "ELSE first_started_at END, worker_id = NULL "
       "WHERE id = $1 AND state = 'running' AND try_number = $2 AND worker_id = $3 RETURNING id) "
       "SELECT id, pg_notify('sluice_work', '') FROM t"},
      {"list_workers", "SELECT * FROM workers ORDER BY id"},
      {"heartbeat_scheduler",
       "INSERT INTO schedulers (id, host, leader, epoch, last_heartbeat, loop_lag_ms) "
       "VALUES ($1, $2, $3, CASE WHEN $3 THEN 1 ELSE 0 END, $4, $5) ON CONFLICT (id) DO UPDATE "
       "SET host = excluded.host, epoch = CASE WHEN excluded.leader AND NOT schedulers.leader "
       "THEN schedulers.epoch + 1 ELSE schedulers.epoch END, leader = excluded.leader, "
       "last_heartbeat = excluded.last_heartbeat, "
       "loop_lag_ms = excluded.loop_lag_ms"},
      {"list_schedulers",
       "SELECT id, host, leader, epoch, last_heartbeat, loop_lag_ms FROM schedulers ORDER BY id"},
      // A task that ended since $1 belongs to a run that is unfinished or
      // ended since then, so both dag_runs indexes narrow the scan. The first
      // row (le NULL) carries the totals even without bounds.
      {"task_duration_histogram",
       "WITH d AS (SELECT t.ended_at - t.started_at AS ms FROM task_instances t "
       "WHERE t.run_pk IN (SELECT id FROM dag_runs WHERE ended_at >= $1 UNION ALL "
       "SELECT id FROM dag_runs WHERE state IN ('queued', 'running')) "
       "AND t.ended_at >= $1 AND t.started_at IS NOT NULL AND t.ended_at >= t.started_at) "
       "SELECT b.le, (SELECT count(*) FROM d WHERE d.ms <= b.le) AS n, "
       "(SELECT count(*) FROM d) AS total, (SELECT COALESCE(sum(d.ms), 0) FROM d)::bigint AS "
       "sum_ms FROM (SELECT NULL::bigint, 0::bigint UNION ALL "
       "SELECT * FROM unnest($2::bigint[]) WITH ORDINALITY) b(le, i) ORDER BY b.i"},
      // Alerts.
      // The earliest open alert of its DAG, if due and unclaimed. A
      // concurrent claim of the same row waits for the first and re-checks
      // the row's conditions, so it takes nothing; the next alert of the DAG
      // is not a candidate while this one is open.
      {"claim_next_alert",
       "UPDATE alert_outbox SET claimed_until = $2 WHERE id = (SELECT a.id FROM alert_outbox a "
       "WHERE a.delivered_at IS NULL AND a.next_attempt_at <= $1 AND (a.claimed_until IS NULL "
       "OR a.claimed_until <= $1) AND NOT EXISTS (SELECT 1 FROM alert_outbox e WHERE "
       "e.dag_id = a.dag_id AND e.id < a.id AND e.delivered_at IS NULL AND e.next_attempt_at "
       "IS NOT NULL) ORDER BY a.id LIMIT 1) AND delivered_at IS NULL AND next_attempt_at <= $1 "
       "AND (claimed_until IS NULL OR claimed_until <= $1) RETURNING *"},
      {"mark_alert_delivered",
       "UPDATE alert_outbox SET delivered_at = $3, attempts = attempts + 1, "
       "next_attempt_at = NULL, claimed_until = NULL, last_status = $2, last_error = '' "
       "WHERE id = $1 AND delivered_at IS NULL"},
      {"mark_alert_failed",
       "UPDATE alert_outbox SET attempts = attempts + 1, last_status = $2, last_error = $3, "
       "next_attempt_at = $4, claimed_until = NULL WHERE id = $1 AND delivered_at IS NULL "
       "AND next_attempt_at IS NOT NULL"},
      {"list_alerts",
       "SELECT * FROM alert_outbox WHERE NOT $1 OR delivered_at IS NULL ORDER BY id DESC "
       "LIMIT $2"},
      // Check results.
      {"insert_check_result",
       "INSERT INTO check_results (ti_id, try_number, seq, dag_id, run_id, task_id, map_index, "
       "interval_start, interval_end, name, kind, severity, status, actual, value, threshold, "
       "recorded_at) SELECT ti.id, $2::int, $3::int, ti.dag_id, r.run_id, ti.task_id, "
       "ti.map_index, r.interval_start, r.interval_end, $4::text, $5::text, $6::text, $7::text, "
       "$8::text, $9::double precision, $10::text, $11::bigint FROM task_instances ti "
       "JOIN dag_runs r ON r.id = ti.run_pk WHERE ti.id = $1::bigint"},
      {"list_check_results",
       std::string("SELECT * FROM check_results") + kCheckFilter +
           "ORDER BY interval_start DESC, ti_id DESC, try_number DESC, seq LIMIT $7 OFFSET $8"},
      {"count_check_results", std::string("SELECT COUNT(*) FROM check_results") + kCheckFilter},
      // Alerts of a run-ending decision.
      {"previous_finished_run",
       "SELECT state FROM dag_runs WHERE dag_id = $1 AND id <> $2 AND state IN ('success', "
       "'failed') ORDER BY ended_at DESC LIMIT 1"},
      {"failed_task_tails",
       "SELECT t.id, t.error, COALESCE((SELECT string_agg(l.data, ''::bytea ORDER BY l.seq) "
       "FROM (SELECT seq, data FROM task_logs WHERE ti_id = t.id AND try_number = "
       "t.try_number ORDER BY seq DESC LIMIT 2) l), ''::bytea) AS tail FROM task_instances t "
       "WHERE t.id = ANY($1::bigint[])"},
      // SLAs.
      {"arm_sla_timer",
       "INSERT INTO sla_timers (dag_id, run_id, task_id, kind, due_at) VALUES ($1, $2, $3, $4, $5) "
       "ON CONFLICT (dag_id, run_id, task_id, kind) DO NOTHING"},
      {"due_sla_timers",
       "SELECT id, dag_id, run_id, task_id, kind, due_at FROM sla_timers WHERE fired_at IS NULL "
       "AND due_at <= $1 ORDER BY due_at, id LIMIT $2"},
      {"next_sla_due", "SELECT min(due_at) FROM sla_timers WHERE fired_at IS NULL"},
      {"fire_sla_timer", "UPDATE sla_timers SET fired_at = $2 WHERE id = $1 AND fired_at IS NULL"},
      {"record_sla_miss",
       "INSERT INTO sla_misses (dag_id, run_id, task_id, kind, deadline, detected_at, alerted) "
       "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (dag_id, run_id, task_id, kind) "
       "DO NOTHING"},
      {"insert_alert",
       "INSERT INTO alert_outbox (event_id, event, dag_id, run_id, task_id, payload, created_at, "
       "next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)"},
      {"list_sla_misses",
       "SELECT * FROM sla_misses WHERE $1 = '' OR dag_id = $1 ORDER BY detected_at DESC, id DESC "
       "LIMIT $2"},
      {"last_successful_run", std::string("SELECT ") + kRunColumns +
                                  " FROM dag_runs r WHERE r.dag_id = $1 AND r.state = 'success' "
                                  "ORDER BY r.ended_at DESC LIMIT 1"},
  };
  return list;
}

}  // namespace sluice::pg
