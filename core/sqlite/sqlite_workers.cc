// The SQLite store: logs, workers and schedulers.

#include "core/sqlite/sqlite_store_impl.h"

namespace sluice::lite {

void SqliteStore::append_log(int64_t ti_id, int try_number, int seq, const std::string& data) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, true);
  put_log(ti_id, try_number, seq, data);
  txn.commit();
}

LogSlice SqliteStore::read_log(int64_t ti_id, int try_number, int64_t offset, int64_t limit) {
  std::lock_guard<std::mutex> lock(mu_);
  offset = std::max<int64_t>(offset, 0);
  Txn txn(this, false);
  // First the chunk sizes (length() of a BLOB reads no content), then only
  // the bytes asked for.
  std::vector<std::pair<int, int64_t>> chunks;
  {
    Stmt s = stmt(
        "SELECT seq, length(data) FROM task_logs WHERE ti_id = ? AND try_number = ? "
        "ORDER BY seq");
    s.bind(ti_id, try_number);
    while (s.step()) chunks.emplace_back(s.i32(0), s.i64(1));
  }
  LogSlice slice;
  int64_t pos = 0;
  for (const auto& [seq, size] : chunks) {
    if (static_cast<int64_t>(slice.data.size()) >= limit) break;
    int64_t chunk_end = pos + size;
    if (chunk_end > offset) {
      int64_t from = std::max<int64_t>(offset - pos, 0);
      int64_t want =
          std::min<int64_t>(size - from, limit - static_cast<int64_t>(slice.data.size()));
      Stmt s = stmt(
          "SELECT substr(data, ?, ?) FROM task_logs WHERE ti_id = ? AND try_number = ? AND "
          "seq = ?");
      s.bind(from + 1, want, ti_id, try_number, seq);
      if (s.step()) slice.data += s.str(0);
    }
    pos = chunk_end;
  }
  txn.commit();
  slice.next_offset = offset + static_cast<int64_t>(slice.data.size());
  for (const auto& chunk : chunks) slice.size += chunk.second;
  return slice;
}

void SqliteStore::register_worker(const WorkerRecord& worker) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, true);
  stmt(
      "INSERT INTO workers (id, host, pid, slots, queues, started_at, last_heartbeat, state) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET host = excluded.host, "
      "pid = excluded.pid, slots = excluded.slots, queues = excluded.queues, "
      "started_at = excluded.started_at, last_heartbeat = excluded.last_heartbeat, "
      "state = excluded.state")
      .bind(worker.id, worker.host, worker.pid, worker.slots, nlohmann::json(worker.queues).dump(),
            worker.started_at, worker.last_heartbeat, worker.state)
      .run();
  txn.commit();
}

void SqliteStore::heartbeat_worker(const std::string& worker_id, Timestamp now) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, true);
  stmt("UPDATE workers SET last_heartbeat = ? WHERE id = ?").bind(now, worker_id).run();
  if (sqlite3_changes(db_) == 0) throw NotFoundError("no worker '" + worker_id + "'");
  txn.commit();
}

bool SqliteStore::release_claim(int64_t ti_id, int try_number, const std::string& worker_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, true);
  stmt(
      "UPDATE task_instances SET state = 'queued', try_number = try_number - 1, "
      "started_at = NULL, first_started_at = CASE WHEN try_number = 1 THEN NULL "
      "ELSE first_started_at END, worker_id = NULL "
      "WHERE id = ? AND state = 'running' AND try_number = ? AND worker_id = ?")
      .bind(ti_id, try_number, worker_id)
      .run();
  bool released = sqlite3_changes(db_) > 0;
  txn.commit();
  return released;
}

void SqliteStore::set_worker_state(const std::string& worker_id, const std::string& state) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, true);
  stmt("UPDATE workers SET state = ? WHERE id = ?").bind(state, worker_id).run();
  if (sqlite3_changes(db_) == 0) throw NotFoundError("no worker '" + worker_id + "'");
  txn.commit();
}

std::vector<WorkerRecord> SqliteStore::list_workers() {
  return read_all(read_worker,
                  "SELECT id, host, pid, slots, queues, started_at, last_heartbeat, state "
                  "FROM workers ORDER BY id");
}

void SqliteStore::heartbeat_scheduler(const std::string& scheduler_id, const std::string& host,
                                      bool leader, Millis loop_lag, Timestamp now) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, true);
  // epoch counts leadership terms: it moves when this scheduler becomes leader.
  stmt(
      "INSERT INTO schedulers (id, host, leader, epoch, last_heartbeat, loop_lag_ms) "
      "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET host = excluded.host, "
      "epoch = CASE WHEN excluded.leader = 1 AND schedulers.leader = 0 "
      "THEN schedulers.epoch + 1 ELSE schedulers.epoch END, leader = excluded.leader, "
      "last_heartbeat = excluded.last_heartbeat, loop_lag_ms = excluded.loop_lag_ms")
      .bind(scheduler_id, host, leader ? 1 : 0, leader ? 1 : 0, now,
            static_cast<int64_t>(loop_lag.count()))
      .run();
  txn.commit();
}

std::vector<SchedulerRecord> SqliteStore::list_schedulers() {
  return read_all(
      [](const Stmt& s) {
        return SchedulerRecord{s.str(0), s.str(1), s.i64(2) != 0,
                               s.i64(3), s.ts(4),  Millis(s.i64(5))};
      },
      "SELECT id, host, leader, epoch, last_heartbeat, loop_lag_ms FROM schedulers ORDER BY id");
}

DurationHistogram SqliteStore::task_duration_histogram(Timestamp since,
                                                       const std::vector<Millis>& bounds) {
  nlohmann::json bounds_ms = nlohmann::json::array();
  for (Millis b : bounds) bounds_ms.push_back(b.count());
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, false);
  DurationHistogram h;
  h.bounds = bounds;
  {
    // A task that ended since `since` belongs to a run that is unfinished
    // or ended since then, so both dag_runs indexes narrow the scan. The
    // first row (le NULL) carries the totals even without bounds.
    Stmt s = stmt(
        "WITH d AS (SELECT t.ended_at - t.started_at AS ms FROM task_instances t "
        "WHERE t.run_pk IN (SELECT id FROM dag_runs WHERE ended_at >= ?1 UNION ALL "
        "SELECT id FROM dag_runs WHERE state IN ('queued', 'running')) "
        "AND t.ended_at >= ?1 AND t.started_at IS NOT NULL AND t.ended_at >= t.started_at) "
        "SELECT b.le, (SELECT count(*) FROM d WHERE d.ms <= b.le), (SELECT count(*) FROM d), "
        "(SELECT COALESCE(sum(d.ms), 0) FROM d) FROM (SELECT NULL AS le, -1 AS i UNION ALL "
        "SELECT CAST(value AS INTEGER), key FROM json_each(?2)) b ORDER BY b.i");
    s.bind(since, bounds_ms.dump());
    while (s.step()) {
      if (s.is_null(0)) {
        h.count = s.i64(2);
        h.sum = Millis(s.i64(3));
      } else {
        h.counts.push_back(s.i64(1));
      }
    }
  }
  txn.commit();
  return h;
}

void SqliteStore::put_log(int64_t ti_id, int try_number, int seq, const std::string& data) {
  // Re-sending a chunk (after a lost commit) replaces it rather than failing.
  Stmt s = stmt(
      "INSERT INTO task_logs (ti_id, try_number, seq, data) VALUES (?, ?, ?, ?) "
      "ON CONFLICT (ti_id, try_number, seq) DO UPDATE SET data = excluded.data");
  s.bind(ti_id, try_number, seq, nullptr);
  s.bind_blob(4, data);
  try {
    s.run();
  } catch (const StoreError&) {
    if (!get_ti_exists(ti_id)) throw NotFoundError("no task instance " + std::to_string(ti_id));
    throw;
  }
}

}  // namespace sluice::lite
