// The Postgres store's SQL layer: value conversions, literals, row decoders and error classes.

#include "core/postgres/pg_store_impl.h"

namespace sluice::pg {

std::optional<Timestamp> opt_time(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return from_epoch_ms(f.as<int64_t>());
}

std::optional<int64_t> opt_ms(const std::optional<Timestamp>& t) {
  if (!t) return std::nullopt;
  return to_epoch_ms(*t);
}

nlohmann::json parse_json(const pqxx::field& f, nlohmann::json fallback) {
  if (f.is_null()) return fallback;
  try {
    return nlohmann::json::parse(f.c_str());
  } catch (const nlohmann::json::exception& e) {
    throw StoreError(std::string("stored JSON in column ") + f.name() + " is corrupt: " + e.what());
  }
}

TaskState task_state(const pqxx::field& f) {
  return parse_enum<TaskState>(f, parse_task_state, "task state");
}

RunState run_state(const pqxx::field& f) {
  return parse_enum<RunState>(f, parse_run_state, "run state");
}

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

std::string sql_literal(const std::string& value) {
  std::string out = "E'";
  for (char c : value) {
    if (c == '\\' || c == '\'') out += c;
    out += c;
  }
  return out + "'";
}

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
  // The claim function's rows have no mark: a task is claimed while queued,
  // and a clear forgets a mark before the task can be queued again.
  for (pqxx::row::size_type i = 0; i < row.size(); ++i) {
    std::string_view name = row[i].name();
    if (name == "marked_at") t.marked_at = opt_time(row[i]);
    if (name == "marked_by") t.marked_by = text(row[i]);
  }
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
  w.queues = queue_names(parse_json(row["queues"], nlohmann::json::array()));
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
  if (!row["last_status"].is_null()) a.last_status = row["last_status"].as<int>();
  return a;
}

bool connection_lost_state(const std::string& sqlstate) {
  // 08: connection exception; 57P01-57P03: the server is shutting down,
  // crashed or is not yet accepting connections.
  return sqlstate.rfind("08", 0) == 0 || sqlstate.rfind("57P", 0) == 0;
}

bool retryable_state(const std::string& sqlstate) {
  return sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "55P03" ||
         connection_lost_state(sqlstate);
}

bool idle_and_open(const pqxx::connection& conn) {
  const int fd = conn.sock();
  if (fd < 0) return false;
  unsigned char byte = 0;
  ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  return n > 0 && byte != 'E' && byte != 0x15;
}

std::string begin_locking_run(int64_t run_pk) {
  return std::string("BEGIN; SELECT ") + kRunColumns +
         " FROM dag_runs r WHERE r.id = " + std::to_string(run_pk) + " FOR UPDATE";
}

std::string begin_locking_run_of_task(int64_t ti_id) {
  return std::string("BEGIN; SELECT ") + kRunColumns +
         " FROM dag_runs r WHERE r.id = (SELECT run_pk FROM task_instances WHERE id = " +
         std::to_string(ti_id) + ") FOR UPDATE";
}

}  // namespace sluice::pg
