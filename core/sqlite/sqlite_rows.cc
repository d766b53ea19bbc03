// The SQLite store's row decoders and error translation.

#include "core/sqlite/sqlite_store_impl.h"

namespace sluice::lite {

bool is_busy(int rc) {
  int primary = rc & 0xff;
  return primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
}

[[noreturn]] void throw_sqlite(sqlite3* db, int rc, const std::string& what) {
  std::string message = "SQLite error while " + what + ": " + sqlite3_errstr(rc);
  if (db != nullptr) {
    const char* detail = sqlite3_errmsg(db);
    if (detail != nullptr && std::string(detail) != sqlite3_errstr(rc)) {
      message += " (" + std::string(detail) + ")";
    }
  }
  if (is_busy(rc)) message += "; the database is busy, try again";
  throw StoreError(message, is_busy(rc));
}

RunType run_type_of(const std::string& text) {
  auto t = parse_run_type(text);
  if (!t) throw StoreError("unknown run type '" + text + "' in the database");
  return *t;
}

RunState run_state_of(const std::string& text) {
  auto s = parse_run_state(text);
  if (!s) throw StoreError("unknown run state '" + text + "' in the database");
  return *s;
}

TaskState task_state_of(const std::string& text) {
  auto s = parse_task_state(text);
  if (!s) throw StoreError("unknown task state '" + text + "' in the database");
  return *s;
}

RunRecord read_run(const Stmt& s, int c) {
  RunRecord r;
  r.id = s.i64(c + 0);
  r.dag_id = s.str(c + 1);
  r.run_id = s.str(c + 2);
  r.type = run_type_of(s.str(c + 3));
  r.state = run_state_of(s.str(c + 4));
  r.version_id = s.i64(c + 5);
  r.interval = DataInterval{s.ts(c + 6), s.ts(c + 7)};
  r.conf = s.json(c + 8);
  r.backfill_id = s.opt_i64(c + 9);
  r.created_at = s.ts(c + 10);
  r.started_at = s.opt_ts(c + 11);
  r.ended_at = s.opt_ts(c + 12);
  return r;
}

TaskInstanceRecord read_ti(const Stmt& s) {
  TaskInstanceRecord t;
  t.id = s.i64(0);
  t.run_pk = s.i64(1);
  t.dag_id = s.str(2);
  t.run_id = s.str(3);
  t.task_id = s.str(4);
  t.map_index = s.i32(5);
  t.state = task_state_of(s.str(6));
  t.try_number = s.i32(7);
  t.max_tries = s.i32(8);
  t.pool = s.str(9);
  t.pool_slots = s.i32(10);
  t.priority = s.i32(11);
  t.queue = s.str(12);
  t.queued_at = s.opt_ts(13);
  t.started_at = s.opt_ts(14);
  t.ended_at = s.opt_ts(15);
  t.next_try_at = s.opt_ts(16);
  t.first_started_at = s.opt_ts(17);
  t.worker_id = s.str(18);
  if (!s.is_null(19)) t.exit_code = s.i32(19);
  t.outputs = s.json(20);
  t.rendered = s.json(21);
  t.error = s.str(22);
  t.marked_at = s.opt_ts(23);
  t.marked_by = s.str(24);
  return t;
}

AlertRecord read_alert(const Stmt& s) {
  AlertRecord a;
  a.id = s.i64(0);
  a.event_id = s.str(1);
  a.event = s.str(2);
  a.dag_id = s.str(3);
  a.run_id = s.str(4);
  a.task_id = s.str(5);
  a.payload = s.json(6);
  a.attempts = s.i32(7);
  a.created_at = s.ts(8);
  a.next_attempt_at = s.opt_ts(9);
  a.delivered_at = s.opt_ts(10);
  a.last_error = s.str(11);
  if (!s.is_null(12)) a.last_status = s.i32(12);
  return a;
}

DagRecord read_dag(const Stmt& s) {
  DagRecord d;
  d.dag_id = s.str(0);
  d.file = s.str(1);
  d.paused = s.i32(2) != 0;
  d.active = s.i32(3) != 0;
  d.max_active_tasks = s.i32(4);
  d.version_id = s.opt_i64(5);
  d.updated_at = s.ts(6);
  d.parse_error = s.str(7);
  return d;
}

BackfillRecord read_backfill(const Stmt& s) {
  BackfillRecord b;
  b.id = s.i64(0);
  b.dag_id = s.str(1);
  b.range_from = s.ts(2);
  b.range_to = s.ts(3);
  b.reprocess = s.str(4);
  b.max_active_runs = s.i32(5);
  b.backwards = s.i32(6) != 0;
  b.conf = s.json(7);
  b.state = s.str(8);
  b.created_at = s.ts(9);
  b.finished_at = s.opt_ts(10);
  b.total_runs = s.i32(11);
  b.succeeded_runs = s.i32(12);
  b.failed_runs = s.i32(13);
  return b;
}

std::string placeholders(size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += i == 0 ? "?" : ", ?";
  return out;
}

WorkerRecord read_worker(const Stmt& s) {
  WorkerRecord w;
  w.id = s.str(0);
  w.host = s.str(1);
  w.pid = s.i32(2);
  w.slots = s.i32(3);
  w.queues = queue_names(s.json(4));
  w.started_at = s.ts(5);
  w.last_heartbeat = s.ts(6);
  w.state = s.str(7);
  return w;
}

TaskStateView read_view(const Stmt& s) {
  TaskStateView v;
  v.id = s.i64(0);
  v.task_id = s.str(1);
  v.map_index = s.i32(2);
  v.state = task_state_of(s.str(3));
  v.try_number = s.i32(4);
  v.max_tries = s.i32(5);
  v.next_try_at = s.opt_ts(6);
  return v;
}

}  // namespace sluice::lite
