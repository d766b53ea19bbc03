// The SQLite store: the alert outbox and SLA timers.

#include "core/sqlite/sqlite_store_impl.h"

namespace sluice::lite {

std::optional<AlertRecord> SqliteStore::claim_next_alert(Timestamp now, Timestamp claim_until) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, true);
  std::optional<AlertRecord> claimed;
  {
    // The same query as Postgres's claim_next_alert.
    Stmt s = stmt(std::string("SELECT ") + kAlertColumns +
                  " FROM alert_outbox a WHERE delivered_at IS NULL AND next_attempt_at <= ? "
                  "AND (claimed_until IS NULL OR claimed_until <= ?) AND NOT EXISTS (SELECT 1 "
                  "FROM alert_outbox e WHERE e.dag_id = a.dag_id AND e.id < a.id AND "
                  "e.delivered_at IS NULL AND e.next_attempt_at IS NOT NULL) ORDER BY id LIMIT 1");
    s.bind(now, now);
    if (s.step()) claimed = read_alert(s);
  }
  if (claimed) {
    stmt("UPDATE alert_outbox SET claimed_until = ? WHERE id = ?")
        .bind(claim_until, claimed->id)
        .run();
  }
  txn.commit();
  return claimed;
}

bool SqliteStore::mark_alert_delivered(int64_t alert_id, int status, Timestamp now) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, true);
  stmt(
      "UPDATE alert_outbox SET delivered_at = ?, attempts = attempts + 1, next_attempt_at = NULL, "
      "claimed_until = NULL, last_status = ?, last_error = '' "
      "WHERE id = ? AND delivered_at IS NULL")
      .bind(now, status, alert_id)
      .run();
  bool marked = sqlite3_changes(db_) > 0;
  txn.commit();
  return marked;
}

bool SqliteStore::mark_alert_failed(int64_t alert_id, std::optional<int> status,
                                    const std::string& error,
                                    std::optional<Timestamp> next_attempt_at) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, true);
  stmt(
      "UPDATE alert_outbox SET attempts = attempts + 1, last_status = ?, last_error = ?, "
      "next_attempt_at = ?, claimed_until = NULL "
      "WHERE id = ? AND delivered_at IS NULL AND next_attempt_at IS NOT NULL")
      .bind(status, error, next_attempt_at, alert_id)
      .run();
  bool marked = sqlite3_changes(db_) > 0;
  txn.commit();
  return marked;
}

bool SqliteStore::arm_sla_timer(const SlaTimer& timer) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, true);
  stmt(
      "INSERT INTO sla_timers (dag_id, run_id, task_id, kind, due_at) VALUES (?, ?, ?, ?, ?) "
      "ON CONFLICT (dag_id, run_id, task_id, kind) DO NOTHING")
      .bind(timer.dag_id, timer.run_id, timer.task_id, timer.kind, timer.due_at)
      .run();
  bool added = sqlite3_changes(db_) > 0;
  txn.commit();
  return added;
}

std::vector<SlaTimer> SqliteStore::due_sla_timers(Timestamp now, int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, false);
  std::vector<SlaTimer> out;
  {
    Stmt s = stmt(
        "SELECT id, dag_id, run_id, task_id, kind, due_at FROM sla_timers "
        "WHERE fired_at IS NULL AND due_at <= ? ORDER BY due_at, id LIMIT ?");
    s.bind(now, limit);
    while (s.step()) {
      out.push_back(SlaTimer{s.i64(0), s.str(1), s.str(2), s.str(3), s.str(4), s.ts(5)});
    }
  }
  txn.commit();
  return out;
}

std::optional<Timestamp> SqliteStore::next_sla_due() {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, false);
  std::optional<Timestamp> out;
  {
    Stmt s = stmt("SELECT MIN(due_at) FROM sla_timers WHERE fired_at IS NULL");
    if (s.step()) out = s.opt_ts(0);
  }
  txn.commit();
  return out;
}

bool SqliteStore::fire_sla_timer(int64_t timer_id, const std::optional<SlaMissRecord>& miss,
                                 const std::optional<AlertEvent>& alert, Timestamp now) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, true);
  stmt("UPDATE sla_timers SET fired_at = ? WHERE id = ? AND fired_at IS NULL")
      .bind(now, timer_id)
      .run();
  bool recorded = false;
  if (miss) {
    stmt(
        "INSERT INTO sla_misses (dag_id, run_id, task_id, kind, deadline, detected_at, "
        "alerted) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (dag_id, run_id, task_id, kind) DO NOTHING")
        .bind(miss->dag_id, miss->run_id, miss->task_id, miss->kind, miss->deadline, now,
              alert ? 1 : 0)
        .run();
    recorded = sqlite3_changes(db_) > 0;
  }
  if (recorded && alert) {
    stmt(
        "INSERT INTO alert_outbox (event_id, event, dag_id, run_id, task_id, payload, "
        "attempts, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)")
        .bind(random_event_id(), alert->event, alert->dag_id, alert->run_id, alert->task_id,
              alert->payload.dump(), now, now)
        .run();
  }
  txn.commit();
  return recorded;
}

std::vector<SlaMissRecord> SqliteStore::list_sla_misses(const std::string& dag_id, int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, false);
  std::vector<SlaMissRecord> out;
  {
    Stmt s = stmt(
        "SELECT id, dag_id, run_id, task_id, kind, deadline, detected_at, alerted "
        "FROM sla_misses WHERE (? = '' OR dag_id = ?) ORDER BY detected_at DESC, id DESC "
        "LIMIT ?");
    s.bind(dag_id, dag_id, limit);
    while (s.step()) {
      out.push_back(SlaMissRecord{s.i64(0), s.str(1), s.str(2), s.str(3), s.str(4), s.ts(5),
                                  s.ts(6), s.i64(7) != 0});
    }
  }
  txn.commit();
  return out;
}

std::optional<RunRecord> SqliteStore::last_successful_run(const std::string& dag_id) {
  return read_one(kReadRun,
                  std::string("SELECT ") + kRunColumns +
                      " FROM dag_runs WHERE dag_id = ? AND state = 'success' "
                      "ORDER BY ended_at DESC LIMIT 1",
                  dag_id);
}

std::vector<AlertRecord> SqliteStore::list_alerts(bool undelivered_only, int limit) {
  return read_all(read_alert,
                  std::string("SELECT ") + kAlertColumns +
                      " FROM alert_outbox WHERE (? = 0 OR delivered_at IS NULL) "
                      "ORDER BY id DESC LIMIT ?",
                  undelivered_only ? 1 : 0, limit);
}

}  // namespace sluice::lite
