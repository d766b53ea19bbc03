// The Postgres metadata store (libpqxx 6).
//
// Connections: a small pool guarded by a mutex; each call takes one
// connection for the length of its transaction, so concurrent callers never
// wait on each other's round trips. A connection that broke is dropped (with
// every idle one, since a server restart breaks them all) and the next call
// connects afresh; libpqxx's own silent re-activation is switched off so that
// a half-done transaction is never replayed on a new session.
//
// Round trips: a transaction that starts by taking a lock sends BEGIN with
// that statement (one simple query). claim_tasks and the first half of finish_task are plpgsql
// functions from migrations/postgres (sluice_claim, sluice_finish), so a
// claim is one round trip plus the commit, and a finish one round trip, one
// more when the decider changes something (its decisions are applied by one
// statement: task transitions, the run's state and alerts together), and the
// commit.

#include "core/postgres_store.h"

#include <libpq-fe.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <random>
#include <set>
#include <type_traits>

#include <pqxx/pqxx>

#include "core/error.h"
#include "core/migrations.h"
#include "core/pools.h"
#include "core/pg_session.h"
#include "core/secrets.h"
#include "core/store.h"

namespace sluice {
namespace {

// Advisory lock keys (pg_advisory_xact_lock), arbitrary but fixed.
constexpr int64_t kMigrateLockKey = 0x5155494345'01;  // "sluice" migrate
constexpr int64_t kClaimLockKey = 0x5155494345'02;    // claim_tasks
constexpr size_t kMaxIdleConnections = 16;

// ---------------------------------------------------------------------------
// Value conversions.

std::optional<Timestamp> opt_time(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return from_epoch_ms(f.as<int64_t>());
}

std::optional<int64_t> opt_ms(const std::optional<Timestamp>& t) {
  if (!t) return std::nullopt;
  return to_epoch_ms(*t);
}

std::string text(const pqxx::field& f) { return f.is_null() ? std::string() : f.as<std::string>(); }

nlohmann::json parse_json(const pqxx::field& f, nlohmann::json fallback) {
  if (f.is_null()) return fallback;
  try {
    return nlohmann::json::parse(f.c_str());
  } catch (const nlohmann::json::exception& e) {
    throw StoreError(std::string("stored JSON in column ") + f.name() + " is corrupt: " + e.what());
  }
}

template <typename E, typename Parse>
E parse_enum(const pqxx::field& f, Parse parse, const char* what) {
  auto v = parse(f.c_str());
  if (!v) throw StoreError(std::string("unknown ") + what + " '" + f.c_str() + "' in the database");
  return *v;
}

TaskState task_state(const pqxx::field& f) {
  return parse_enum<TaskState>(f, parse_task_state, "task state");
}
RunState run_state(const pqxx::field& f) {
  return parse_enum<RunState>(f, parse_run_state, "run state");
}

// A Postgres array literal, for passing a list as one text parameter:
// {"a","b"} with quotes and backslashes escaped; nullopt elements are NULL.
std::string array_literal(const std::vector<std::optional<std::string>>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    if (!items[i]) {
      out += "NULL";
      continue;
    }
    out += '"';
    for (char c : *items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::string array_literal(const std::vector<std::string>& items) {
  return array_literal(std::vector<std::optional<std::string>>(items.begin(), items.end()));
}

template <typename Int>
std::string int_array(const std::vector<Int>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(items[i]);
  }
  return out + '}';
}

// A string literal for a simple query, in the E'' form so that it reads the
// same whatever standard_conforming_strings is.
std::string sql_literal(const std::string& value) {
  std::string out = "E'";
  for (char c : value) {
    if (c == '\\' || c == '\'') out += c;
    out += c;
  }
  return out + "'";
}

// "EXECUTE name('arg', ...)": runs a statement prepared on the connection
// from a simple query, so that it can share a round trip with others. Each
// argument is a string literal (typed by the statement), or NULL when unset.
std::string execute_sql(const std::string& name,
                        const std::vector<std::optional<std::string>>& args) {
  std::string out = "EXECUTE " + name + "(";
  for (size_t i = 0; i < args.size(); ++i) {
    if (i) out += ", ";
    out += args[i] ? sql_literal(*args[i]) : std::string("NULL");
  }
  return out + ")";
}

std::string random_hex_id() {
  thread_local std::mt19937_64 rng{std::random_device{}() ^
                                   (static_cast<uint64_t>(std::random_device{}()) << 32)};
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 2; ++i) {
    uint64_t v = rng();
    for (int j = 0; j < 16; ++j) {
      out += digits[v & 15];
      v >>= 4;
    }
  }
  return out;
}

int run_type_rank(RunType t) { return t == RunType::kBackfill ? 1 : 0; }

// ---------------------------------------------------------------------------
// Column lists and row decoders. Task rows join their run for run_id.

constexpr const char* kTaskColumns =
    "t.id, t.run_pk, t.dag_id, r.run_id, t.task_id, t.map_index, t.state, t.try_number, "
    "t.max_tries, t.pool, t.pool_slots, t.priority, t.queue, t.queued_at, t.started_at, "
    "t.ended_at, t.next_try_at, t.first_started_at, t.worker_id, t.exit_code, t.outputs, "
    "t.rendered, t.error";

constexpr const char* kRunColumns =
    "r.id AS r_id, r.dag_id AS r_dag_id, r.run_id AS r_run_id, r.run_type AS r_run_type, "
    "r.state AS r_state, r.version_id AS r_version_id, r.interval_start AS r_interval_start, "
    "r.interval_end AS r_interval_end, r.conf AS r_conf, r.backfill_id AS r_backfill_id, "
    "r.created_at AS r_created_at, r.started_at AS r_started_at, r.ended_at AS r_ended_at";

TaskInstanceRecord read_task(const pqxx::row& row) {
  TaskInstanceRecord t;
  t.id = row["id"].as<int64_t>();
  t.run_pk = row["run_pk"].as<int64_t>();
  t.dag_id = text(row["dag_id"]);
  t.run_id = text(row["run_id"]);
  t.task_id = text(row["task_id"]);
  t.map_index = row["map_index"].as<int>();
  t.state = task_state(row["state"]);
  t.try_number = row["try_number"].as<int>();
  t.max_tries = row["max_tries"].as<int>();
  t.pool = text(row["pool"]);
  t.pool_slots = row["pool_slots"].as<int>();
  t.priority = row["priority"].as<int>();
  t.queue = text(row["queue"]);
  t.queued_at = opt_time(row["queued_at"]);
  t.started_at = opt_time(row["started_at"]);
  t.ended_at = opt_time(row["ended_at"]);
  t.next_try_at = opt_time(row["next_try_at"]);
  t.first_started_at = opt_time(row["first_started_at"]);
  t.worker_id = text(row["worker_id"]);
  if (!row["exit_code"].is_null()) t.exit_code = row["exit_code"].as<int>();
  t.outputs = parse_json(row["outputs"], nlohmann::json::object());
  t.rendered = parse_json(row["rendered"], nullptr);
  t.error = text(row["error"]);
  return t;
}

RunRecord read_run(const pqxx::row& row) {
  RunRecord r;
  r.id = row["r_id"].as<int64_t>();
  r.dag_id = text(row["r_dag_id"]);
  r.run_id = text(row["r_run_id"]);
  r.type = parse_enum<RunType>(row["r_run_type"], parse_run_type, "run type");
  r.state = run_state(row["r_state"]);
  r.version_id = row["r_version_id"].as<int64_t>();
  r.interval.start = from_epoch_ms(row["r_interval_start"].as<int64_t>());
  r.interval.end = from_epoch_ms(row["r_interval_end"].as<int64_t>());
  r.conf = parse_json(row["r_conf"], nlohmann::json::object());
  if (!row["r_backfill_id"].is_null()) r.backfill_id = row["r_backfill_id"].as<int64_t>();
  r.created_at = from_epoch_ms(row["r_created_at"].as<int64_t>());
  r.started_at = opt_time(row["r_started_at"]);
  r.ended_at = opt_time(row["r_ended_at"]);
  return r;
}

TaskStateView read_view(const pqxx::row& row) {
  TaskStateView v;
  v.id = row["id"].as<int64_t>();
  v.task_id = text(row["task_id"]);
  v.map_index = row["map_index"].as<int>();
  v.state = task_state(row["state"]);
  v.try_number = row["try_number"].as<int>();
  v.max_tries = row["max_tries"].as<int>();
  v.next_try_at = opt_time(row["next_try_at"]);
  return v;
}

DagRecord read_dag(const pqxx::row& row) {
  DagRecord d;
  d.dag_id = text(row["dag_id"]);
  d.file = text(row["file"]);
  d.paused = row["paused"].as<bool>();
  d.active = row["active"].as<bool>();
  d.max_active_tasks = row["max_active_tasks"].as<int>();
  if (!row["version_id"].is_null()) d.version_id = row["version_id"].as<int64_t>();
  d.parse_error = text(row["parse_error"]);
  d.updated_at = from_epoch_ms(row["updated_at"].as<int64_t>());
  return d;
}

BackfillRecord read_backfill(const pqxx::row& row) {
  BackfillRecord b;
  b.id = row["id"].as<int64_t>();
  b.dag_id = text(row["dag_id"]);
  b.range_from = from_epoch_ms(row["range_from"].as<int64_t>());
  b.range_to = from_epoch_ms(row["range_to"].as<int64_t>());
  b.reprocess = text(row["reprocess"]);
  b.max_active_runs = row["max_active_runs"].as<int>();
  b.backwards = row["backwards"].as<bool>();
  b.conf = parse_json(row["conf"], nlohmann::json::object());
  b.state = text(row["state"]);
  b.created_at = from_epoch_ms(row["created_at"].as<int64_t>());
  b.finished_at = opt_time(row["finished_at"]);
  b.total_runs = row["total_runs"].as<int>();
  b.succeeded_runs = row["succeeded_runs"].as<int>();
  b.failed_runs = row["failed_runs"].as<int>();
  return b;
}

WorkerRecord read_worker(const pqxx::row& row) {
  WorkerRecord w;
  w.id = text(row["id"]);
  w.host = text(row["host"]);
  w.pid = row["pid"].as<int>();
  w.slots = row["slots"].as<int>();
  nlohmann::json queues = parse_json(row["queues"], nlohmann::json::array());
  if (queues.is_array()) {
    for (const auto& q : queues) {
      if (q.is_string()) w.queues.push_back(q.get<std::string>());
    }
  }
  w.started_at = from_epoch_ms(row["started_at"].as<int64_t>());
  w.last_heartbeat = from_epoch_ms(row["last_heartbeat"].as<int64_t>());
  w.state = text(row["state"]);
  return w;
}

AlertRecord read_alert(const pqxx::row& row) {
  AlertRecord a;
  a.id = row["id"].as<int64_t>();
  a.event_id = text(row["event_id"]);
  a.event = text(row["event"]);
  a.dag_id = text(row["dag_id"]);
  a.run_id = text(row["run_id"]);
  a.task_id = text(row["task_id"]);
  a.payload = parse_json(row["payload"], nlohmann::json::object());
  a.attempts = row["attempts"].as<int>();
  a.created_at = from_epoch_ms(row["created_at"].as<int64_t>());
  a.next_attempt_at = opt_time(row["next_attempt_at"]);
  a.delivered_at = opt_time(row["delivered_at"]);
  a.last_error = text(row["last_error"]);
  return a;
}

// ---------------------------------------------------------------------------
// Prepared statements, prepared on every new connection.

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
      {"set_active_files", "UPDATE dags SET active = (file = ANY($1::text[])) "
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
      {"create_run_unique", std::string() +
       "WITH r AS (INSERT INTO dag_runs (dag_id, run_id, run_type, state, version_id, "
       "interval_start, interval_end, conf, backfill_id, created_at, started_at, ended_at) "
       "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $17, $18) ON CONFLICT (dag_id, "
       "interval_start) WHERE run_type IN ('scheduled', 'backfill') DO NOTHING RETURNING id), "
       "t AS (INSERT INTO task_instances (run_pk, dag_id, task_id, max_tries, pool, priority, "
       "queue, run_type_rank) SELECT r.id, $1, u.task_id, u.max_tries, u.pool, u.priority, "
       "u.queue, $11::int FROM r, unnest($12::text[], $13::int[], $14::text[], $15::int[], $16::text[]) "
       "WITH ORDINALITY AS u(task_id, max_tries, pool, priority, queue, ord) ORDER BY u.ord "
       "RETURNING id, task_id, max_tries) "
       "SELECT r.id AS run_pk, t.id, t.task_id, t.max_tries FROM r LEFT JOIN t ON TRUE "
       "ORDER BY t.id"},
      {"create_run", std::string() +
       "WITH r AS (INSERT INTO dag_runs (dag_id, run_id, run_type, state, version_id, "
       "interval_start, interval_end, conf, backfill_id, created_at, started_at, ended_at) "
       "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $17, $18) RETURNING id), "
       "t AS (INSERT INTO task_instances (run_pk, dag_id, task_id, max_tries, pool, priority, "
       "queue, run_type_rank) SELECT r.id, $1, u.task_id, u.max_tries, u.pool, u.priority, "
       "u.queue, $11::int FROM r, unnest($12::text[], $13::int[], $14::text[], $15::int[], $16::text[]) "
       "WITH ORDINALITY AS u(task_id, max_tries, pool, priority, queue, ord) ORDER BY u.ord "
       "RETURNING id, task_id, max_tries) "
       "SELECT r.id AS run_pk, t.id, t.task_id, t.max_tries FROM r LEFT JOIN t ON TRUE "
       "ORDER BY t.id"},
      {"get_run", std::string("SELECT ") + kRunColumns +
                      " FROM dag_runs r WHERE r.dag_id = $1 AND r.run_id = $2"},
      {"get_run_by_pk", std::string("SELECT ") + kRunColumns + " FROM dag_runs r WHERE r.id = $1"},
      {"list_runs",
       std::string("SELECT ") + kRunColumns +
           " FROM dag_runs r WHERE ($1 = '' OR r.dag_id = $1) AND ($2::text IS NULL OR "
           "r.state = $2) AND ($3::text IS NULL OR r.run_type = $3) "
           "ORDER BY CASE WHEN $6 THEN r.id END DESC, r.interval_start DESC, r.id DESC "
           "LIMIT $4 OFFSET $5"},
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
       "queued_at = NULL, started_at = NULL, ended_at = NULL, next_try_at = NULL, worker_id = NULL, "
       "exit_code = NULL, error = '' WHERE run_pk = $1 AND id = ANY($2::bigint[])"},
      {"rerun_run",
       "UPDATE dag_runs SET state = CASE WHEN state = 'running' THEN 'running' ELSE 'queued' END, "
       "ended_at = NULL WHERE id = $1"},
      {"mark_task",
       "UPDATE task_instances SET state = $2, ended_at = CASE WHEN $2 IN ('success', 'failed', "
       "'skipped', 'upstream_failed', 'canceled') THEN $3 ELSE ended_at END, next_try_at = NULL "
       "WHERE id = $1"},
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
       "THEN schedulers.epoch + 1 ELSE schedulers.epoch END, leader = excluded.leader, last_heartbeat = excluded.last_heartbeat, "
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
      {"due_alerts",
       "SELECT * FROM alert_outbox WHERE delivered_at IS NULL AND next_attempt_at <= $1 "
       "ORDER BY next_attempt_at, id LIMIT $2"},
      {"mark_alert_delivered",
       "UPDATE alert_outbox SET delivered_at = $2, attempts = attempts + 1, "
       "next_attempt_at = NULL WHERE id = $1"},
      {"mark_alert_failed",
       "UPDATE alert_outbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3 "
       "WHERE id = $1"},
      {"list_alerts",
       "SELECT * FROM alert_outbox WHERE NOT $1 OR delivered_at IS NULL ORDER BY id DESC "
       "LIMIT $2"},
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
      {"last_successful_run",
       std::string("SELECT ") + kRunColumns +
           " FROM dag_runs r WHERE r.dag_id = $1 AND r.state = 'success' "
           "ORDER BY r.ended_at DESC LIMIT 1"},
  };
  return list;
}

// ---------------------------------------------------------------------------
// Error translation.

bool connection_lost_state(const std::string& sqlstate) {
  // 08: connection exception; 57P01-57P03: the server is shutting down,
  // crashed or is not yet accepting connections.
  return sqlstate.rfind("08", 0) == 0 || sqlstate.rfind("57P", 0) == 0;
}

bool retryable_state(const std::string& sqlstate) {
  return sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "55P03" ||
         connection_lost_state(sqlstate);
}

/// Transactions are opened and committed by hand on a nontransaction, so
/// that BEGIN can travel with the first statement (one round trip less).
using Tx = pqxx::nontransaction;

// How a PostgresStore transaction ends (transact_from).
enum class Commit {
  kByBody,  // the body sends COMMIT
  kItself,  // the first statement is the whole transaction (autocommit)
};

// sluice_finish_predicted found the prediction wrong and changed nothing.
struct PredictionFailed {};

// Whether a pooled session is still open, without a round trip: one the
// server closed (a restart, an idle timeout) reads as the end of the stream,
// or starts with its farewell, an ErrorResponse ('E') or, over TLS, an alert
// record (0x15). Anything else pending is left to libpq.
bool idle_and_open(const pqxx::connection& conn) {
  const int fd = conn.sock();
  if (fd < 0) return false;
  unsigned char byte = 0;
  ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  return n > 0 && byte != 'E' && byte != 0x15;
}

// The first statement of a transaction that locks a run's row, sent with
// BEGIN as one simple query. The run row lock orders every decision about one
// run: without it two tasks finishing at once could each miss the other's end.
std::string begin_locking_run(int64_t run_pk) {
  return std::string("BEGIN; SELECT ") + kRunColumns + " FROM dag_runs r WHERE r.id = " +
         std::to_string(run_pk) + " FOR UPDATE";
}
std::string begin_locking_run_of_task(int64_t ti_id) {
  return std::string("BEGIN; SELECT ") + kRunColumns +
         " FROM dag_runs r WHERE r.id = (SELECT run_pk FROM task_instances WHERE id = " +
         std::to_string(ti_id) + ") FOR UPDATE";
}

/// A pooled connection lent to one call.
struct Lease {
  std::unique_ptr<pqxx::connection> conn;
  bool reused = false;
};

/// The Postgres implementation of Store.
class PostgresStore final : public Store {
 public:
  // Pooled sessions get keepalives like the leader's and the listener's: a
  // worker cut off by the network mid-call gives up within about 10 s instead
  // of waiting on TCP, and the server ends its session (and the locks it
  // holds) as fast.
  explicit PostgresStore(std::string conninfo)
      : conninfo_(std::move(conninfo)), session_info_(with_keepalives(conninfo_, kConnectTimeout)) {
    // Connect once now, so that a bad address or password shows at open.
    release(connect());
  }
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

  // -- Schema ---------------------------------------------------------------

  SchemaStatus schema_status() override {
    return transact("read the schema status", [](Tx& w) { return read_status(w); });
  }

  SchemaStatus migrate() override {
    for (const Migration& m : postgres_migrations()) {
      // Two processes migrating at once: the second waits for the lock taken
      // with BEGIN, then finds the migration recorded and skips it.
      const std::string begin =
          "BEGIN; SELECT pg_advisory_xact_lock(" + std::to_string(kMigrateLockKey) + ")";
      transact("apply migration " + std::string(m.name), begin, [&](Tx& w, const pqxx::result&) {
        w.exec(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
            "name TEXT NOT NULL, applied_at BIGINT NOT NULL)");
        pqxx::result done =
            w.exec("SELECT 1 FROM schema_migrations WHERE version = " + std::to_string(m.version));
        if (!done.empty()) return 0;
        w.exec(m.sql);
        w.exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (" +
               std::to_string(m.version) + ", " + w.quote(std::string(m.name)) +
               ", (extract(epoch from clock_timestamp()) * 1000)::bigint)");
        return 0;
      });
    }
    return schema_status();
  }

  // -- DAGs -----------------------------------------------------------------

  int64_t upsert_dag(const std::string& dag_id, const std::string& file,
                     const std::string& content_hash, const std::string& yaml,
                     const nlohmann::json& definition, bool initially_paused,
                     int max_active_tasks, Timestamp now) override {
    return transact("store DAG " + dag_id, [&](Tx& w) {
      int64_t ms = to_epoch_ms(now);
      pqxx::result v =
          w.exec_prepared("insert_version", dag_id, content_hash, yaml, definition.dump(), ms);
      if (v.empty()) v = w.exec_prepared("find_version", dag_id, content_hash);
      int64_t version_id = v.at(0).at(0).as<int64_t>();
      w.exec_prepared("upsert_dag", dag_id, file, initially_paused, max_active_tasks, version_id,
                      ms);
      w.exec_prepared("clear_file_error", file);
      return version_id;
    });
  }

  void set_file_error(const FileError& error) override {
    transact("record the error of " + error.file, [&](Tx& w) {
      w.exec_prepared("set_file_error", error.file, error.dag_id, error.message,
                      to_epoch_ms(error.at));
      return 0;
    });
  }

  void clear_file_error(const std::string& file) override {
    transact("clear the error of " + file, [&](Tx& w) {
      w.exec_prepared("clear_file_error", file);
      return 0;
    });
  }

  std::vector<FileError> list_file_errors() override {
    return transact("list file errors", [&](Tx& w) {
      std::vector<FileError> out;
      for (const auto& row : w.exec_prepared("list_file_errors")) {
        out.push_back({text(row["file"]), text(row["dag_id"]), text(row["message"]),
                       from_epoch_ms(row["at"].as<int64_t>())});
      }
      return out;
    });
  }

  void set_active_files(const std::vector<std::string>& present_files) override {
    transact("mark DAG files active", [&](Tx& w) {
      w.exec_prepared("set_active_files", array_literal(present_files));
      return 0;
    });
  }

  std::vector<DagRecord> list_dags() override {
    return transact("list DAGs", [&](Tx& w) {
      std::vector<DagRecord> out;
      for (const auto& row : w.exec_prepared("list_dags")) out.push_back(read_dag(row));
      return out;
    });
  }

  std::optional<DagRecord> get_dag(const std::string& dag_id) override {
    return transact("read DAG " + dag_id, [&](Tx& w) -> std::optional<DagRecord> {
      pqxx::result r = w.exec_prepared("get_dag", dag_id);
      if (r.empty()) return std::nullopt;
      return read_dag(r[0]);
    });
  }

  void set_paused(const std::string& dag_id, bool paused) override {
    transact("pause DAG " + dag_id, [&](Tx& w) {
      if (w.exec_prepared("set_paused", dag_id, paused).affected_rows() == 0) {
        throw NotFoundError("no DAG '" + dag_id + "'");
      }
      return 0;
    });
  }

  DagVersion get_version(int64_t version_id) override {
    return transact("read a DAG version", [&](Tx& w) {
      pqxx::result r = w.exec_prepared("get_version", version_id);
      if (r.empty()) throw NotFoundError("no DAG version " + std::to_string(version_id));
      DagVersion v;
      v.id = r[0]["id"].as<int64_t>();
      v.dag_id = text(r[0]["dag_id"]);
      v.content_hash = text(r[0]["content_hash"]);
      v.yaml = text(r[0]["yaml"]);
      v.definition = parse_json(r[0]["definition"], nullptr);
      v.created_at = from_epoch_ms(r[0]["created_at"].as<int64_t>());
      return v;
    });
  }

  // -- Pools ----------------------------------------------------------------

  void set_pools(const std::map<std::string, int>& slots) override {
    transact("store pools", [&](Tx& w) {
      std::vector<std::string> names;
      std::vector<int> sizes;
      for (const auto& [name, n] : slots) {
        names.push_back(name);
        sizes.push_back(n);
      }
      w.exec_prepared("delete_pools", array_literal(names));
      w.exec_prepared("upsert_pools", array_literal(names), int_array(sizes));
      return 0;
    });
  }

  std::map<std::string, int> list_pools() override {
    return transact("list pools", [&](Tx& w) {
      std::map<std::string, int> out;
      for (const auto& row : w.exec_prepared("list_pools")) {
        out[text(row["name"])] = row["slots"].as<int>();
      }
      // The default pool always exists.
      out.emplace("default", kDefaultPoolSlots);
      return out;
    });
  }

  // -- Runs -----------------------------------------------------------------

  std::optional<RunRecord> create_run(const NewRun& run, const Decider& decider,
                                      Timestamp now) override {
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
          unique_interval ? "create_run_unique" : "create_run", run.dag_id, run.run_id,
          to_string(run.type), to_string(run.state), run.version_id,
          to_epoch_ms(run.interval.start), to_epoch_ms(run.interval.end), run.conf.dump(),
          run.backfill_id, to_epoch_ms(now), run_type_rank(run.type), array_literal(task_ids),
          int_array(max_tries), array_literal(pools), int_array(priorities),
          array_literal(queues), started, ended);
      if (r.empty()) return std::nullopt;  // the interval already has its run
      // A queued run waits for a scheduler to start it: wake schedulers.
      if (run.state == RunState::kQueued) w.exec("SELECT pg_notify('sluice_runs', '')");

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

  std::optional<RunRecord> get_run(const std::string& dag_id, const std::string& run_id) override {
    return transact("read run " + dag_id + "/" + run_id,
                    [&](Tx& w) -> std::optional<RunRecord> {
      pqxx::result r = w.exec_prepared("get_run", dag_id, run_id);
      if (r.empty()) return std::nullopt;
      return read_run(r[0]);
    });
  }

  std::optional<RunRecord> get_run_by_pk(int64_t run_pk) override {
    return transact("read a run", [&](Tx& w) -> std::optional<RunRecord> {
      pqxx::result r = w.exec_prepared("get_run_by_pk", run_pk);
      if (r.empty()) return std::nullopt;
      return read_run(r[0]);
    });
  }

  std::vector<RunRecord> list_runs(const RunFilter& filter) override {
    return transact("list runs", [&](Tx& w) {
      std::optional<std::string> state, type;
      if (filter.state) state = to_string(*filter.state);
      if (filter.type) type = to_string(*filter.type);
      std::vector<RunRecord> out;
      for (const auto& row :
           w.exec_prepared("list_runs", filter.dag_id, state, type, filter.limit, filter.offset,
                           filter.newest_created_first)) {
        out.push_back(read_run(row));
      }
      return out;
    });
  }

  std::optional<RunRecord> latest_interval_run(const std::string& dag_id) override {
    return transact("read the latest run of " + dag_id,
                    [&](Tx& w) -> std::optional<RunRecord> {
      pqxx::result r = w.exec_prepared("latest_interval_run", dag_id);
      if (r.empty()) return std::nullopt;
      return read_run(r[0]);
    });
  }

  std::vector<RunRecord> list_unfinished_runs() override {
    return transact("list unfinished runs", [&](Tx& w) {
      std::vector<RunRecord> out;
      for (const auto& row : w.exec_prepared("list_unfinished_runs")) out.push_back(read_run(row));
      return out;
    });
  }

  RunDecisions reconcile_run(int64_t run_pk, const Decider& decider, Timestamp now) override {
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

  // -- Task instances -------------------------------------------------------

  std::vector<TaskInstanceRecord> list_task_instances(int64_t run_pk) override {
    return transact("list task instances", [&](Tx& w) {
      std::vector<TaskInstanceRecord> out;
      for (const auto& row : w.exec_prepared("list_task_instances", run_pk)) {
        out.push_back(read_task(row));
      }
      return out;
    });
  }

  std::optional<TaskInstanceRecord> get_task_instance(int64_t ti_id) override {
    return transact("read a task instance",
                    [&](Tx& w) -> std::optional<TaskInstanceRecord> {
      pqxx::result r = w.exec_prepared("get_task_instance", ti_id);
      if (r.empty()) return std::nullopt;
      return read_task(r[0]);
    });
  }

  // finish_task's claim_next: claims in the finishing transaction, then
  // wakes the other workers when queued tasks are left (the claimed ones
  // still look queued to the statement's own snapshot, hence the exclusion).
  static std::string claim_next_sql(Tx& w, const ClaimRequest& request) {
    w.conn().prepare_now("claim_next");
    return execute_sql("claim_next",
                       {array_literal(request.queues), std::to_string(request.max_tasks),
                        request.worker_id, std::to_string(to_epoch_ms(request.now)),
                        std::to_string(kClaimLockKey)});
  }

  static void read_claim_next(const pqxx::result& rows, FinishOutcome& outcome) {
    for (const auto& row : rows) {
      outcome.more_queued = row["more"].as<bool>();
      if (!row["id"].is_null()) outcome.claimed.push_back({read_task(row), read_run(row)});
    }
  }

  std::vector<ClaimedTask> claim_tasks(const ClaimRequest& request) override {
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

  FinishOutcome finish_task(const TaskResult& result, const Decider& decider) override {
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
        "SELECT * FROM sluice_finish(" + std::to_string(result.ti_id) + ", " +
        std::to_string(result.try_number) + ", " + sql_literal(result.worker_id) + ", " +
        sql_literal(to_string(result.state)) + ", " + std::to_string(to_epoch_ms(result.ended_at)) +
        ", " + opt_int(result.exit_code) + "::int, " + sql_literal(result.outputs.dump()) + ", " +
        rendered + "::text, " + sql_literal(result.error) + ", " + opt_int(opt_ms(result.next_try_at)) +
        "::bigint, " + std::to_string(result.final_log_seq) + ", " + log + ", " +
        sql_literal(array_literal(scope)) + "::text[])";
    // The decisions, the claim and COMMIT travel in one round trip: a hop
    // down a chain costs two (this BEGIN with sluice_finish, and that).
    return transact_to_commit("finish a task", begin,
                              [&](Tx& w, const pqxx::result& rows, bool& committing) {
      RunSnapshot snap;
      snap.run = read_run(rows.at(0));
      snap.partial = rows.at(0)["r_partial"].as<bool>();
      for (const auto& row : rows) snap.tasks.push_back(read_view(row));
      PlannedApply plan =
          plan_apply(w, snap, decider, result.ended_at, result.claim_next.has_value());
      std::string claim = result.claim_next ? claim_next_sql(w, *result.claim_next) : "";
      bool waits =
          result.state == TaskState::kUpForRetry || result.state == TaskState::kUpForReschedule;

      pqxx::pipeline batch(w);
      batch.retain(4);
      std::optional<pqxx::pipeline::query_id> apply_id, claim_id;
      if (plan.sql) apply_id = batch.insert(*plan.sql);
      // The scheduler's next due time moved, or a later run may proceed.
      if (waits || result.frees_next_interval) batch.insert("SELECT pg_notify('sluice_runs', '')");
      if (!claim.empty()) claim_id = batch.insert(claim);
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

  // A successful finish whose snapshot the decider can predict
  // (Decider::predictable): decides on the prediction first, then ends the
  // try, checks the prediction, applies the decisions and claims the next
  // task in one statement, sluice_finish_predicted (migrations/postgres), so
  // a hop down a chain is one round trip. nullopt when there is nothing to
  // predict or the prediction did not hold (nothing was changed then).
  std::optional<FinishOutcome> finish_predicted(const TaskResult& result, const Decider& decider) {
    if (result.state != TaskState::kSuccess || result.task_id.empty() || !decider.decide ||
        !decider.scope || !decider.predictable || decider.needs_previous_interval ||
        !decider.predictable(result.task_id)) {
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

  std::vector<int64_t> runs_with_due_tasks(Timestamp now) override {
    return transact("find due tasks", [&](Tx& w) {
      std::vector<int64_t> out;
      for (const auto& row : w.exec_prepared("runs_with_due_tasks", to_epoch_ms(now))) {
        out.push_back(row[0].as<int64_t>());
      }
      return out;
    });
  }

  std::optional<Timestamp> next_due_time() override {
    return transact("find the next due time", [&](Tx& w) {
      return opt_time(w.exec_prepared("next_due_time").at(0).at(0));
    });
  }

  int clear_task_instances(int64_t run_pk, const std::vector<int64_t>& ti_ids,
                           const Decider& decider, Timestamp now) override {
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

  FinishOutcome expand_mapped_task(int64_t ti_id, int try_number, const std::string& worker_id,
                                   const std::vector<nlohmann::json>& items,
                                   const Decider& decider, Timestamp now) override {
    if (items.empty()) throw UserError("a mapped task cannot expand into no instances");
    return transact("expand a mapped task", begin_locking_run_of_task(ti_id),
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

  nlohmann::json get_map_item(int64_t ti_id) override {
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

  void mark_task_instance(int64_t ti_id, TaskState state, const Decider& decider,
                          Timestamp now) override {
    transact("mark a task instance", begin_locking_run_of_task(ti_id),
             [&](Tx& w, const pqxx::result& locked) {
      if (locked.empty()) throw NotFoundError("no task instance " + std::to_string(ti_id));
      RunSnapshot snap;
      snap.run = read_run(locked[0]);
      w.exec_prepared("mark_task", ti_id, to_string(state), to_epoch_ms(now));
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

  void cancel_run(int64_t run_pk, Timestamp now) override {
    transact("cancel a run", begin_locking_run(run_pk), [&](Tx& w, const pqxx::result& locked) {
      locked_run(locked, run_pk);
      w.exec_prepared("cancel_tasks", run_pk, to_epoch_ms(now));
      w.exec_prepared("cancel_run", run_pk, to_epoch_ms(now));
      return 0;
    });
  }

  std::vector<int64_t> tasks_to_stop(const std::string& worker_id,
                                     const std::vector<int64_t>& ti_ids) override {
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

  std::vector<TaskInstanceRecord> running_on_worker(const std::string& worker_id) override {
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

  std::vector<TaskInstanceRecord> orphaned_tasks(Timestamp cutoff) override {
    return transact("find orphaned tasks", [&](Tx& w) {
      std::vector<TaskInstanceRecord> out;
      for (const auto& row : w.exec_prepared("orphaned_tasks", to_epoch_ms(cutoff))) {
        out.push_back(read_task(row));
      }
      return out;
    });
  }

  // -- Logs -----------------------------------------------------------------

  void append_log(int64_t ti_id, int try_number, int seq, const std::string& data) override {
    transact("append a log chunk", [&](Tx& w) {
      if (w.exec_prepared("append_log", ti_id, try_number, seq, to_hex_bytea(data))
              .affected_rows() == 0) {
        throw NotFoundError("no task instance " + std::to_string(ti_id));
      }
      return 0;
    });
  }

  LogSlice read_log(int64_t ti_id, int try_number, int64_t offset, int64_t limit) override {
    if (offset < 0) offset = 0;
    return transact("read a log", [&](Tx& w) {
      LogSlice slice;
      for (const auto& row : w.exec_prepared("read_log", ti_id, try_number, offset, limit)) {
        int64_t start = row["start"].as<int64_t>();
        pqxx::binarystring bytes(row["data"]);
        std::string chunk = bytes.str();
        int64_t from = std::max<int64_t>(0, offset - start);
        slice.data += chunk.substr(static_cast<size_t>(from));
      }
      if (static_cast<int64_t>(slice.data.size()) > limit) slice.data.resize(limit);
      slice.next_offset = offset + static_cast<int64_t>(slice.data.size());
      return slice;
    });
  }

  // -- Workers and schedulers -----------------------------------------------

  void register_worker(const WorkerRecord& worker) override {
    transact("register worker " + worker.id, [&](Tx& w) {
      w.exec_prepared("register_worker", worker.id, worker.host, worker.pid, worker.slots,
                      nlohmann::json(worker.queues).dump(), to_epoch_ms(worker.started_at),
                      to_epoch_ms(worker.last_heartbeat), worker.state);
      return 0;
    });
  }

  void heartbeat_worker(const std::string& worker_id, Timestamp now) override {
    transact("heartbeat worker " + worker_id, [&](Tx& w) {
      if (w.exec_prepared("heartbeat_worker", worker_id, to_epoch_ms(now)).affected_rows() == 0) {
        throw NotFoundError("no worker '" + worker_id + "'");
      }
      return 0;
    });
  }

  bool release_claim(int64_t ti_id, int try_number, const std::string& worker_id) override {
    return transact("hand back a try of task instance " + std::to_string(ti_id), [&](Tx& w) {
      return !w.exec_prepared("release_claim", ti_id, try_number, worker_id).empty();
    });
  }

  void set_worker_state(const std::string& worker_id, const std::string& state) override {
    transact("set the state of worker " + worker_id, [&](Tx& w) {
      if (w.exec_prepared("set_worker_state", worker_id, state).affected_rows() == 0) {
        throw NotFoundError("no worker '" + worker_id + "'");
      }
      return 0;
    });
  }

  std::vector<WorkerRecord> list_workers() override {
    return transact("list workers", [&](Tx& w) {
      std::vector<WorkerRecord> out;
      for (const auto& row : w.exec_prepared("list_workers")) out.push_back(read_worker(row));
      return out;
    });
  }

  void heartbeat_scheduler(const std::string& scheduler_id, const std::string& host, bool leader,
                           Millis loop_lag, Timestamp now) override {
    transact("heartbeat scheduler " + scheduler_id, [&](Tx& w) {
      w.exec_prepared("heartbeat_scheduler", scheduler_id, host, leader, to_epoch_ms(now),
                      static_cast<int64_t>(loop_lag.count()));
      return 0;
    });
  }

  std::vector<SchedulerRecord> list_schedulers() override {
    return transact("list schedulers", [&](Tx& w) {
      std::vector<SchedulerRecord> out;
      for (const auto& row : w.exec_prepared("list_schedulers")) {
        out.push_back({text(row["id"]), text(row["host"]), row["leader"].as<bool>(),
                       row["epoch"].as<int64_t>(),
                       from_epoch_ms(row["last_heartbeat"].as<int64_t>()),
                       Millis(row["loop_lag_ms"].as<int64_t>())});
      }
      return out;
    });
  }

  DurationHistogram task_duration_histogram(Timestamp since,
                                            const std::vector<Millis>& bounds) override {
    std::string bounds_ms = "{";
    for (size_t i = 0; i < bounds.size(); ++i) {
      bounds_ms += (i ? "," : "") + std::to_string(bounds[i].count());
    }
    bounds_ms += "}";
    return transact("read task durations", [&](Tx& w) {
      DurationHistogram h;
      h.bounds = bounds;
      for (const auto& row :
           w.exec_prepared("task_duration_histogram", to_epoch_ms(since), bounds_ms)) {
        if (row["le"].is_null()) {
          h.count = row["total"].as<int64_t>();
          h.sum = Millis(row["sum_ms"].as<int64_t>());
        } else {
          h.counts.push_back(row["n"].as<int64_t>());
        }
      }
      return h;
    });
  }

  // -- Alerts ---------------------------------------------------------------

  std::vector<AlertRecord> due_alerts(Timestamp now, int limit) override {
    return transact("read due alerts", [&](Tx& w) {
      std::vector<AlertRecord> out;
      for (const auto& row : w.exec_prepared("due_alerts", to_epoch_ms(now), limit)) {
        out.push_back(read_alert(row));
      }
      return out;
    });
  }

  void mark_alert_delivered(int64_t alert_id, Timestamp now) override {
    transact("mark an alert delivered", [&](Tx& w) {
      if (w.exec_prepared("mark_alert_delivered", alert_id, to_epoch_ms(now)).affected_rows() ==
          0) {
        throw NotFoundError("no alert " + std::to_string(alert_id));
      }
      return 0;
    });
  }

  void mark_alert_failed(int64_t alert_id, const std::string& error,
                         std::optional<Timestamp> next_attempt_at) override {
    transact("mark an alert failed", [&](Tx& w) {
      if (w.exec_prepared("mark_alert_failed", alert_id, error, opt_ms(next_attempt_at))
              .affected_rows() == 0) {
        throw NotFoundError("no alert " + std::to_string(alert_id));
      }
      return 0;
    });
  }

  std::vector<AlertRecord> list_alerts(bool undelivered_only, int limit) override {
    return transact("list alerts", [&](Tx& w) {
      std::vector<AlertRecord> out;
      for (const auto& row : w.exec_prepared("list_alerts", undelivered_only, limit)) {
        out.push_back(read_alert(row));
      }
      return out;
    });
  }

  // -- SLAs -----------------------------------------------------------------

  bool arm_sla_timer(const SlaTimer& t) override {
    return transact("arm an SLA timer", [&](Tx& w) {
      return w.exec_prepared("arm_sla_timer", t.dag_id, t.run_id, t.task_id, t.kind,
                             to_epoch_ms(t.due_at))
                 .affected_rows() > 0;
    });
  }

  std::vector<SlaTimer> due_sla_timers(Timestamp now, int limit) override {
    return transact("read due SLA timers", [&](Tx& w) {
      std::vector<SlaTimer> out;
      for (const auto& row : w.exec_prepared("due_sla_timers", to_epoch_ms(now), limit)) {
        out.push_back(SlaTimer{row["id"].as<int64_t>(), text(row["dag_id"]), text(row["run_id"]),
                               text(row["task_id"]), text(row["kind"]),
                               from_epoch_ms(row["due_at"].as<int64_t>())});
      }
      return out;
    });
  }

  std::optional<Timestamp> next_sla_due() override {
    return transact("find the next SLA deadline", [&](Tx& w) {
      return opt_time(w.exec_prepared("next_sla_due").at(0).at(0));
    });
  }

  bool fire_sla_timer(int64_t timer_id, const std::optional<SlaMissRecord>& miss,
                      const std::optional<AlertEvent>& alert, Timestamp now) override {
    return transact("record an SLA miss", [&](Tx& w) {
      w.exec_prepared("fire_sla_timer", timer_id, to_epoch_ms(now));
      bool recorded = false;
      if (miss) {
        recorded = w.exec_prepared("record_sla_miss", miss->dag_id, miss->run_id, miss->task_id,
                                   miss->kind, to_epoch_ms(miss->deadline), to_epoch_ms(now),
                                   alert.has_value())
                       .affected_rows() > 0;
      }
      if (recorded && alert) {
        w.exec_prepared("insert_alert", random_hex_id(), alert->event, alert->dag_id,
                        alert->run_id, alert->task_id, alert->payload.dump(), to_epoch_ms(now));
      }
      return recorded;
    });
  }

  std::vector<SlaMissRecord> list_sla_misses(const std::string& dag_id, int limit) override {
    return transact("list SLA misses", [&](Tx& w) {
      std::vector<SlaMissRecord> out;
      for (const auto& row : w.exec_prepared("list_sla_misses", dag_id, limit)) {
        out.push_back(SlaMissRecord{row["id"].as<int64_t>(), text(row["dag_id"]),
                                    text(row["run_id"]), text(row["task_id"]), text(row["kind"]),
                                    from_epoch_ms(row["deadline"].as<int64_t>()),
                                    from_epoch_ms(row["detected_at"].as<int64_t>()),
                                    row["alerted"].as<bool>()});
      }
      return out;
    });
  }

  std::optional<RunRecord> last_successful_run(const std::string& dag_id) override {
    return transact("read the last successful run of " + dag_id,
                    [&](Tx& w) -> std::optional<RunRecord> {
      pqxx::result r = w.exec_prepared("last_successful_run", dag_id);
      if (r.empty()) return std::nullopt;
      return read_run(r[0]);
    });
  }

  // -- Housekeeping ---------------------------------------------------------

  // -- Backfills ------------------------------------------------------------

  int64_t create_backfill(const BackfillRecord& b,
                          const std::vector<BackfillIntervalRecord>& intervals) override {
    return transact("create a backfill of " + b.dag_id, [&](Tx& w) {
      int64_t id =
          w.exec_params(
               "INSERT INTO backfills (dag_id, range_from, range_to, reprocess, max_active_runs, "
               "backwards, conf, state, created_at, total_runs) "
               "VALUES ($1, $2, $3, $4, $5, $6, $7, 'running', $8, $9) RETURNING id",
               b.dag_id, to_epoch_ms(b.range_from), to_epoch_ms(b.range_to), b.reprocess,
               b.max_active_runs, b.backwards, b.conf.dump(), to_epoch_ms(b.created_at),
               b.total_runs)
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

  std::optional<BackfillRecord> get_backfill(int64_t id) override {
    return transact("read backfill " + std::to_string(id),
                    [&](Tx& w) -> std::optional<BackfillRecord> {
      pqxx::result r = w.exec_params("SELECT * FROM backfills WHERE id = $1", id);
      if (r.empty()) return std::nullopt;
      return read_backfill(r[0]);
    });
  }

  std::vector<BackfillRecord> list_backfills(const std::string& dag_id, bool running_only,
                                             int limit) override {
    return transact("list backfills", [&](Tx& w) {
      std::vector<BackfillRecord> out;
      for (const auto& row : w.exec_params(
               "SELECT * FROM backfills WHERE ($1::text = '' OR dag_id = $1::text) "
               "AND (NOT $2::boolean OR state = 'running') ORDER BY id DESC LIMIT $3",
               dag_id, running_only, limit)) {
        out.push_back(read_backfill(row));
      }
      return out;
    });
  }

  std::vector<BackfillIntervalRecord> list_backfill_intervals(int64_t backfill_id) override {
    return transact("list the intervals of a backfill", [&](Tx& w) {
      std::vector<BackfillIntervalRecord> out;
      for (const auto& row : w.exec_params(
               "SELECT i.interval_start, i.interval_end, i.action, i.reason, i.run_pk, "
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

  std::string update_backfill_interval(int64_t backfill_id, Timestamp interval_start,
                                       const std::string& action, const std::string& reason,
                                       std::optional<int64_t> run_pk) override {
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

  bool update_backfill(int64_t id, const std::string& state, int total_runs, int succeeded_runs,
                       int failed_runs, Timestamp now) override {
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

  bool rerun_for_backfill(int64_t run_pk, int64_t backfill_id, const nlohmann::json& conf,
                          Timestamp /*now*/) override {
    return transact("re-run a run for a backfill", begin_locking_run(run_pk),
                    [&](Tx& w, const pqxx::result& locked) {
      RunRecord run = locked_run(locked, run_pk);
      if (!is_finished(run.state)) return false;
      w.exec_params(
          "UPDATE task_instances SET state = 'none', max_tries = try_number + max_tries, "
          "queued_at = NULL, started_at = NULL, ended_at = NULL, next_try_at = NULL, "
          "first_started_at = NULL, worker_id = NULL, exit_code = NULL, error = '', "
          "run_type_rank = 1 WHERE run_pk = $1",
          run_pk);
      w.exec_params(
          "UPDATE dag_runs SET state = 'queued', started_at = NULL, ended_at = NULL, "
          "backfill_id = $2, conf = CASE WHEN $3::boolean THEN conf ELSE $4::text END WHERE id = $1",
          run_pk, backfill_id, conf.empty(), conf.dump());
      return true;
    });
  }

  std::vector<RunRecord> list_interval_runs(const std::string& dag_id, Timestamp from,
                                            Timestamp to) override {
    return transact("list runs of " + dag_id, [&](Tx& w) {
      std::vector<RunRecord> out;
      for (const auto& row : w.exec_params(
               std::string("SELECT ") + kRunColumns +
                   " FROM dag_runs r WHERE r.dag_id = $1 AND r.run_type IN ('scheduled', "
                   "'backfill') AND r.interval_start >= $2 AND r.interval_start <= $3 "
                   "ORDER BY r.interval_start",
               dag_id, to_epoch_ms(from), to_epoch_ms(to))) {
        out.push_back(read_run(row));
      }
      return out;
    });
  }

  int64_t clean_finished_runs(Timestamp cutoff, int batch) override {
    if (batch <= 0) batch = 500;
    int64_t total = 0;
    for (;;) {
      int64_t n = transact("delete finished runs", [&](Tx& w) {
        return static_cast<int64_t>(
            w.exec_prepared("clean_runs", to_epoch_ms(cutoff), batch).affected_rows());
      });
      total += n;
      if (n < batch) return total;
    }
  }

 private:
  /// What applying a decider's decisions changed.
  struct Applied {
    RunDecisions decisions;
    std::optional<RunRecord> run;  // the run after the change
    int queued = 0;
  };

  static SchemaStatus read_status(Tx& w) {
    SchemaStatus status;
    std::set<int> applied;
    if (!w.exec("SELECT to_regclass('schema_migrations')")[0][0].is_null()) {
      for (const auto& row : w.exec("SELECT version, name FROM schema_migrations ORDER BY version")) {
        int version = row[0].as<int>();
        applied.insert(version);
        status.applied.push_back(text(row[1]));
        status.current = std::max(status.current, version);
      }
    }
    for (const Migration& m : postgres_migrations()) {
      status.latest = std::max(status.latest, m.version);
      if (!applied.count(m.version)) status.pending.push_back(m.name);
    }
    return status;
  }

  static std::string to_hex_bytea(const std::string& data) {
    static const char* digits = "0123456789abcdef";
    std::string out = "\\x";
    out.reserve(2 + data.size() * 2);
    for (unsigned char c : data) {
      out += digits[c >> 4];
      out += digits[c & 15];
    }
    return out;
  }

  static RunRecord locked_run(const pqxx::result& r, int64_t run_pk) {
    if (r.empty()) throw NotFoundError("no run with key " + std::to_string(run_pk));
    return read_run(r[0]);
  }

  // What a run-ending decision's alerts need: the previous finished run's
  // state, and each failed task's error and log tail.
  static RunEndContext run_end_context(Tx& w, const RunSnapshot& snap) {
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

  // Fills the previous interval's states when asked, runs the decider and
  // applies its decisions with one statement.
  // The decider's verdict on a snapshot and, when it changes something, the
  // apply_decisions call that stores it (as an EXECUTE statement, so that it
  // can travel in one round trip with what follows it).
  struct PlannedApply {
    Applied applied;
    RunDecisions decisions;
    std::optional<std::string> sql;  // unset: nothing to store
  };

  // `caller_claims`: the caller claims tasks in the same transaction and
  // wakes other workers itself for what it leaves (finish_task's claim_next).
  static PlannedApply plan_apply(Tx& w, RunSnapshot& snap, const Decider& decider,
                                 Timestamp now, bool caller_claims) {
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
      next_try.push_back(t.next_try_at ? std::optional<std::string>(std::to_string(
                                             to_epoch_ms(*t.next_try_at)))
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

  // Takes apply_decisions' result row into `plan.applied`.
  static void read_apply(PlannedApply& plan, const pqxx::row& row) {
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

  static Applied decide_and_apply(Tx& w, RunSnapshot& snap, const Decider& decider,
                                  Timestamp now, bool caller_claims = false) {
    PlannedApply plan = plan_apply(w, snap, decider, now, caller_claims);
    if (plan.sql) read_apply(plan, w.exec(*plan.sql).at(0));
    return plan.applied;
  }

  // -- Connections ----------------------------------------------------------

  std::unique_ptr<pqxx::connection> connect() {
    std::unique_ptr<pqxx::connection> conn;
    try {
      conn = std::make_unique<pqxx::connection>(session_info_);
    } catch (const std::exception& e) {
      throw StoreError("cannot connect to Postgres at " + mask_url(conninfo_) + ": " +
                           mask_url(trim_message(e.what())),
                       /*retryable=*/true);
    }
    // After a lost connection libpqxx 6 would silently open a new session
    // and carry on; a pooled connection is dropped and replaced instead.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    conn->inhibit_reactivation(true);
#pragma GCC diagnostic pop
    for (const auto& [name, sql] : statements()) conn->prepare(name, sql);
    return conn;
  }

  Lease acquire() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!idle_.empty()) {
        Lease lease{std::move(idle_.back()), true};
        idle_.pop_back();
        return lease;
      }
    }
    return Lease{connect(), false};
  }

  void release(std::unique_ptr<pqxx::connection> conn) {
    if (!conn || !conn->is_open()) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (idle_.size() < kMaxIdleConnections) idle_.push_back(std::move(conn));
  }

  void drop_idle() {
    std::vector<std::unique_ptr<pqxx::connection>> stale;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stale.swap(idle_);
    }
  }

  // The message of a server error without its "ERROR:" prefix and context.
  static std::string server_message(const std::string& what) {
    std::string s = what;
    if (s.rfind("ERROR:", 0) == 0) s = s.substr(6);
    while (!s.empty() && s.front() == ' ') s.erase(0, 1);
    auto nl = s.find('\n');
    if (nl != std::string::npos) s.resize(nl);
    return s;
  }

  static std::string trim_message(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
  }

  // Runs `body` in a transaction on a pooled connection and commits.
  // `begin` opens the transaction and may carry the first statement; its
  // result goes to `body`. pqxx errors become StoreError (retryable when a
  // retry may succeed), unique violations ConflictError. A pooled connection
  // found broken by `begin` (a stale one from before a server restart) is
  // replaced once transparently: nothing can have been committed on it, as
  // the server rolls back what a lost connection left open.
  template <typename F>
  auto transact(const std::string& op, const std::string& begin, F&& body)
      -> std::invoke_result_t<F&, Tx&, const pqxx::result&> {
    return transact_to_commit(op, begin,
                              [&](Tx& w, const pqxx::result& first, bool& committing) {
      auto result = body(w, first);
      committing = true;
      w.exec("COMMIT");
      return result;
    });
  }

  // transact() for a body that commits itself (sending COMMIT together with
  // its last statements); it sets `committing` before sending COMMIT.
  template <typename F>
  auto transact_to_commit(const std::string& op, const std::string& begin, F&& body)
      -> std::invoke_result_t<F&, Tx&, const pqxx::result&, bool&> {
    return transact_from(op, [&](Tx& w) { return w.exec(begin); }, body, Commit::kByBody);
  }

  // A transaction of one prepared statement, `first` (which commits when it
  // returns and leaves nothing open); `read` takes its result.
  template <typename First, typename Read>
  auto transact_prepared(const std::string& op, First&& first, Read&& read)
      -> std::invoke_result_t<Read&, const pqxx::result&> {
    return transact_from(
        op, first, [&](Tx&, const pqxx::result& rows, bool&) { return read(rows); },
        Commit::kItself);
  }

  // transact_to_commit with the first statement sent by `first(w)`.
  template <typename First, typename F>
  auto transact_from(const std::string& op, First&& first, F&& body, Commit mode)
      -> std::invoke_result_t<F&, Tx&, const pqxx::result&, bool&> {
    using R = std::invoke_result_t<F&, Tx&, const pqxx::result&, bool&>;
    const bool itself = mode == Commit::kItself;
    for (int attempt = 0;; ++attempt) {
      Lease lease = acquire();
      // A statement that commits itself is never sent twice (it may have
      // been applied), so a stale pooled session is replaced before it is
      // used rather than after it failed.
      if (itself && lease.reused && !idle_and_open(*lease.conn)) {
        drop_idle();
        lease = Lease{connect(), false};
      }
      bool sent = false;         // the first statement reached the server
      bool began = false;        // the server may have an open transaction
      bool committing = itself;  // COMMIT was sent (or the statement commits itself)
      try {
        std::optional<R> result;
        {
          Tx w(*lease.conn);
          // From here a failure may leave the transaction open (BEGIN ran, the
          // statement after it failed): it is rolled back before reuse.
          began = !itself;
          pqxx::result rows = first(w);
          sent = true;
          result.emplace(body(w, rows, committing));
          began = false;
        }
        release(std::move(lease.conn));
        return std::move(*result);
      } catch (const pqxx::failure& e) {
        std::string sqlstate;
        if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) sqlstate = sql->sqlstate();
        bool lost = !lease.conn->is_open() || connection_lost_state(sqlstate) ||
                    dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr;
        if (lost) {
          // A server restart breaks every idle connection at once.
          drop_idle();
          lease.conn.reset();
          // Not a statement that commits itself: it may have reached the server.
          if (!sent && !itself && lease.reused && attempt == 0) continue;
          std::string what = committing ? "lost the connection to Postgres while committing "
                                          "(the change may or may not have been saved)"
                                        : "lost the connection to Postgres";
          throw StoreError("cannot " + op + ": " + what + ": " + trim_message(e.what()),
                           /*retryable=*/true);
        }
        end_failed(std::move(lease.conn), began);
        // Raised by the functions in migrations/postgres.
        if (sqlstate == "SLNFD") throw NotFoundError(server_message(e.what()));
        if (sqlstate == "SLCNF") throw ConflictError(server_message(e.what()));
        if (sqlstate == "SLPRD") throw PredictionFailed();
        if (dynamic_cast<const pqxx::unique_violation*>(&e)) {
          throw ConflictError("cannot " + op + ": it already exists (" + trim_message(e.what()) +
                              ")");
        }
        throw StoreError("cannot " + op + ": " + trim_message(e.what()), retryable_state(sqlstate));
      } catch (const pqxx::usage_error& e) {
        end_failed(std::move(lease.conn), began);
        throw StoreError("cannot " + op + ": " + std::string(e.what()));
      } catch (...) {
        // Our own errors (NotFoundError, ConflictError) and the decider's.
        end_failed(std::move(lease.conn), began);
        throw;
      }
    }
  }

  template <typename F>
  auto transact(const std::string& op, F&& body) -> std::invoke_result_t<F&, Tx&> {
    return transact(op, "BEGIN", [&](Tx& w, const pqxx::result&) { return body(w); });
  }

  // Rolls back what a failed call left open and returns the connection to
  // the pool, or drops it when even that fails.
  void end_failed(std::unique_ptr<pqxx::connection> conn, bool open_transaction) {
    if (!conn || !conn->is_open()) return;
    if (open_transaction) {
      try {
        Tx w(*conn);
        w.exec("ROLLBACK");
      } catch (const std::exception&) {
        return;  // dropped
      }
    }
    release(std::move(conn));
  }

  static constexpr Millis kConnectTimeout{10000};
  const std::string conninfo_;     // as given (shown masked in messages)
  const std::string session_info_;  // what connections are opened with
  std::mutex mu_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;  // GUARDED_BY(mu_)
};

}  // namespace

std::unique_ptr<Store> open_postgres_store(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(encode_userinfo(conninfo).c_str(), &error);
  if (!options) {
    std::string message = error ? error : "out of memory";
    if (error) PQfreemem(error);
    while (!message.empty() && message.back() == '\n') message.pop_back();
    throw UserError("malformed Postgres URL '" + mask_url(conninfo) + "': " + mask_url(message) +
                    " (use postgresql://user:pass@host:port/db or key=value pairs)");
  }
  PQconninfoFree(options);
  return std::make_unique<PostgresStore>(conninfo);
}

}  // namespace sluice
