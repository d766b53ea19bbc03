// The Postgres store: the alert outbox and SLA timers.

#include "core/postgres/pg_store_impl.h"

namespace sluice::pg {

std::optional<AlertRecord> PostgresStore::claim_next_alert(Timestamp now, Timestamp claim_until) {
  return transact("claim an alert to deliver", [&](Tx& w) -> std::optional<AlertRecord> {
    pqxx::result r =
        w.exec_prepared("claim_next_alert", to_epoch_ms(now), to_epoch_ms(claim_until));
    if (r.empty()) return std::nullopt;
    return read_alert(r[0]);
  });
}

bool PostgresStore::mark_alert_delivered(int64_t alert_id, int status, Timestamp now) {
  return transact("mark an alert delivered", [&](Tx& w) {
    return w.exec_prepared("mark_alert_delivered", alert_id, status, to_epoch_ms(now))
               .affected_rows() > 0;
  });
}

bool PostgresStore::mark_alert_failed(int64_t alert_id, std::optional<int> status,
                                      const std::string& error,
                                      std::optional<Timestamp> next_attempt_at) {
  return transact("mark an alert failed", [&](Tx& w) {
    return w.exec_prepared("mark_alert_failed", alert_id, status, error, opt_ms(next_attempt_at))
               .affected_rows() > 0;
  });
}

std::vector<AlertRecord> PostgresStore::list_alerts(bool undelivered_only, int limit) {
  return transact("list alerts", [&](Tx& w) {
    std::vector<AlertRecord> out;
    for (const auto& row : w.exec_prepared("list_alerts", undelivered_only, limit)) {
      out.push_back(read_alert(row));
    }
    return out;
  });
}

bool PostgresStore::arm_sla_timer(const SlaTimer& t) {
  return transact("arm an SLA timer", [&](Tx& w) {
    return w.exec_prepared("arm_sla_timer", t.dag_id, t.run_id, t.task_id, t.kind,
                           to_epoch_ms(t.due_at))
               .affected_rows() > 0;
  });
}

std::vector<SlaTimer> PostgresStore::due_sla_timers(Timestamp now, int limit) {
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

std::optional<Timestamp> PostgresStore::next_sla_due() {
  return transact("find the next SLA deadline",
                  [&](Tx& w) { return opt_time(w.exec_prepared("next_sla_due").at(0).at(0)); });
}

bool PostgresStore::fire_sla_timer(int64_t timer_id, const std::optional<SlaMissRecord>& miss,
                                   const std::optional<AlertEvent>& alert, Timestamp now) {
  return transact("record an SLA miss", [&](Tx& w) {
    w.exec_prepared("fire_sla_timer", timer_id, to_epoch_ms(now));
    bool recorded = false;
    if (miss) {
      recorded =
          w.exec_prepared("record_sla_miss", miss->dag_id, miss->run_id, miss->task_id, miss->kind,
                          to_epoch_ms(miss->deadline), to_epoch_ms(now), alert.has_value())
              .affected_rows() > 0;
    }
    if (recorded && alert) {
      w.exec_prepared("insert_alert", random_hex_id(), alert->event, alert->dag_id, alert->run_id,
                      alert->task_id, alert->payload.dump(), to_epoch_ms(now));
    }
    return recorded;
  });
}

std::vector<SlaMissRecord> PostgresStore::list_sla_misses(const std::string& dag_id, int limit) {
  return transact("list SLA misses", [&](Tx& w) {
    std::vector<SlaMissRecord> out;
    for (const auto& row : w.exec_prepared("list_sla_misses", dag_id, limit)) {
      out.push_back(SlaMissRecord{
          row["id"].as<int64_t>(), text(row["dag_id"]), text(row["run_id"]), text(row["task_id"]),
          text(row["kind"]), from_epoch_ms(row["deadline"].as<int64_t>()),
          from_epoch_ms(row["detected_at"].as<int64_t>()), row["alerted"].as<bool>()});
    }
    return out;
  });
}

std::optional<RunRecord> PostgresStore::last_successful_run(const std::string& dag_id) {
  return transact("read the last successful run of " + dag_id,
                  [&](Tx& w) -> std::optional<RunRecord> {
                    pqxx::result r = w.exec_prepared("last_successful_run", dag_id);
                    if (r.empty()) return std::nullopt;
                    return read_run(r[0]);
                  });
}

}  // namespace sluice::pg
