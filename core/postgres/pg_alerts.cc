// The Postgres store: the alert outbox and SLA timers.

#include "core/postgres/pg_store_impl.h"

namespace sluice::pg {

std::vector<AlertRecord> PostgresStore::due_alerts(Timestamp now, int limit) {
  return transact("read due alerts", [&](Tx& w) {
    std::vector<AlertRecord> out;
    for (const auto& row : w.exec_prepared("due_alerts", to_epoch_ms(now), limit)) {
      out.push_back(read_alert(row));
    }
    return out;
  });
}

void PostgresStore::mark_alert_delivered(int64_t alert_id, Timestamp now) {
  transact("mark an alert delivered", [&](Tx& w) {
    if (w.exec_prepared("mark_alert_delivered", alert_id, to_epoch_ms(now)).affected_rows() == 0) {
      throw NotFoundError("no alert " + std::to_string(alert_id));
    }
    return 0;
  });
}

void PostgresStore::mark_alert_failed(int64_t alert_id, const std::string& error,
                                      std::optional<Timestamp> next_attempt_at) {
  transact("mark an alert failed", [&](Tx& w) {
    if (w.exec_prepared("mark_alert_failed", alert_id, error, opt_ms(next_attempt_at))
            .affected_rows() == 0) {
      throw NotFoundError("no alert " + std::to_string(alert_id));
    }
    return 0;
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
