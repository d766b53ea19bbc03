// The Postgres store: stored counters and histograms, and the gauges of
// /metrics (MetricsLedger). The events come from the triggers of migration
// 0012_metric_counters.sql.

#include "core/postgres/pg_store_impl.h"

namespace sluice::pg {

void PostgresStore::fold_metric_events(Tx& w) {
  std::vector<int64_t> bounds(std::begin(kMetricBucketsUs), std::end(kMetricBucketsUs));
  // The DELETE takes exactly the events this transaction can lock: a fold
  // running at the same time waits for this one and then finds them gone, so
  // no event is counted twice. A sample goes to the smallest bound at or
  // above it; above every bound, to -1 (+Inf). Counts (value_us NULL) go to
  // 0. Grouped and sorted before any counter row is locked, in one order for
  // every fold.
  w.exec_params(
      "WITH moved AS (DELETE FROM metric_events RETURNING name, dag_id, label, state, value_us, "
      "n) INSERT INTO metric_counters (name, dag_id, label, state, le_us, value, sum_us) "
      "SELECT m.name, m.dag_id, m.label, m.state, "
      "CASE WHEN m.value_us IS NULL THEN 0 ELSE COALESCE((SELECT MIN(b) FROM "
      "unnest($1::bigint[]) b WHERE b >= m.value_us), -1) END AS le, "
      "SUM(m.n), COALESCE(SUM(m.value_us), 0) FROM moved m "
      "GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5 "
      "ON CONFLICT (name, dag_id, label, state, le_us) DO UPDATE SET "
      "value = metric_counters.value + excluded.value, "
      "sum_us = metric_counters.sum_us + excluded.sum_us",
      int_array(bounds));
}

void PostgresStore::add_metric_samples(const std::vector<MetricSample>& samples) {
  std::vector<std::optional<std::string>> names;
  std::vector<std::optional<std::string>> values;
  for (const MetricSample& sample : samples) {
    names.push_back(sample.name);
    values.push_back(sample.value_us ? std::optional(std::to_string(*sample.value_us))
                                     : std::nullopt);
  }
  transact("record metric samples", [&](Tx& w) {
    if (!samples.empty()) {
      w.exec_params(
          "INSERT INTO metric_events (name, value_us) "
          "SELECT * FROM unnest($1::text[], $2::bigint[])",
          array_literal(names), array_literal(values));
    }
    fold_metric_events(w);
    return 0;
  });
}

MetricsSnapshot PostgresStore::read_metrics() {
  return transact("read metrics", [&](Tx& w) {
    fold_metric_events(w);
    MetricsSnapshot m;
    for (const auto& row :
         w.exec("SELECT name, dag_id, label, state, le_us, value, sum_us FROM metric_counters "
                "ORDER BY name, dag_id, label, state, le_us")) {
      m.counters.push_back({text(row[0]), text(row[1]), text(row[2]), text(row[3]),
                            row[4].as<int64_t>(), row[5].as<int64_t>(), row[6].as<int64_t>()});
    }
    for (const auto& row : w.exec("SELECT state, COUNT(*) FROM dag_runs GROUP BY state")) {
      m.runs_by_state[text(row[0])] = row[1].as<int64_t>();
    }
    for (const auto& row : w.exec(
             "SELECT t.state, COUNT(*) FROM task_instances t WHERE t.run_pk IN "
             "(SELECT id FROM dag_runs WHERE state IN ('queued', 'running')) GROUP BY t.state")) {
      m.unfinished_run_tasks_by_state[text(row[0])] = row[1].as<int64_t>();
    }
    pqxx::row alerts =
        w.exec1("SELECT COUNT(*), MIN(created_at) FROM alert_outbox WHERE delivered_at IS NULL");
    m.undelivered_alerts = alerts[0].as<int64_t>();
    if (!alerts[1].is_null()) m.oldest_undelivered_alert = from_epoch_ms(alerts[1].as<int64_t>());
    m.pools["default"].slots = kDefaultPoolSlots;  // always exists
    for (const auto& row : w.exec_prepared("list_pools")) {
      m.pools[text(row["name"])].slots = row["slots"].as<int64_t>();
    }
    // Each served by its partial index (task_instances_running_pool, _claim).
    for (const char* state : {"running", "queued"}) {
      for (const auto& row : w.exec(std::string("SELECT pool, SUM(pool_slots)::bigint FROM "
                                                "task_instances WHERE state = '") +
                                    state + "' GROUP BY pool")) {
        auto [it, added] = m.pools.try_emplace(text(row[0]));
        if (added) it->second.slots = kDefaultPoolSlots;
        (std::string(state) == "running" ? it->second.used : it->second.queued) =
            row[1].as<int64_t>();
      }
    }
    return m;
  });
}

}  // namespace sluice::pg
