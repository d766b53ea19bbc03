// The SQLite store: stored counters and histograms, and the gauges of
// /metrics (MetricsLedger). The events come from the triggers of migration
// 0009_metric_counters.sql.

#include "core/sqlite/sqlite_store_impl.h"

namespace sluice::lite {
namespace {

std::string bucket_bounds_json() {
  nlohmann::json bounds = nlohmann::json::array();
  for (int64_t b : kMetricBucketsUs) bounds.push_back(b);
  return bounds.dump();
}

}  // namespace

void SqliteStore::fold_metric_events_locked() {
  std::optional<int64_t> last;
  {
    Stmt s = stmt("SELECT MAX(id) FROM metric_events");
    if (s.step()) last = s.opt_i64(0);
  }
  if (!last) return;
  // A sample goes to the smallest bound at or above it; above every bound,
  // to -1 (+Inf). Counts (value_us NULL) go to 0.
  stmt(
      "INSERT INTO metric_counters (name, dag_id, label, state, le_us, value, sum_us) "
      "SELECT e.name, e.dag_id, e.label, e.state, "
      "CASE WHEN e.value_us IS NULL THEN 0 ELSE COALESCE((SELECT MIN(b.value) FROM "
      "json_each(?) b WHERE b.value >= e.value_us), -1) END AS le, "
      "SUM(e.n), COALESCE(SUM(e.value_us), 0) FROM metric_events e WHERE e.id <= ? "
      "GROUP BY e.name, e.dag_id, e.label, e.state, le "
      "ON CONFLICT (name, dag_id, label, state, le_us) DO UPDATE SET "
      "value = metric_counters.value + excluded.value, "
      "sum_us = metric_counters.sum_us + excluded.sum_us")
      .bind(bucket_bounds_json(), *last)
      .run();
  stmt("DELETE FROM metric_events WHERE id <= ?").bind(*last).run();
}

void SqliteStore::add_metric_samples(const std::vector<MetricSample>& samples) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, true);
  for (const MetricSample& sample : samples) {
    Stmt s = stmt("INSERT INTO metric_events (name, value_us) VALUES (?, ?)");
    s.bind(sample.name);
    if (sample.value_us) {
      s.bind_at(2, *sample.value_us);
    } else {
      s.bind_at(2, nullptr);
    }
    s.run();
  }
  fold_metric_events_locked();
  txn.commit();
}

MetricsSnapshot SqliteStore::read_metrics() {
  std::lock_guard<std::mutex> lock(mu_);
  // A write transaction: the fold and the reads see one state.
  Txn txn(this, true);
  fold_metric_events_locked();
  MetricsSnapshot m;
  {
    Stmt s = stmt(
        "SELECT name, dag_id, label, state, le_us, value, sum_us FROM metric_counters "
        "ORDER BY name, dag_id, label, state, le_us");
    while (s.step()) {
      m.counters.push_back({s.str(0), s.str(1), s.str(2), s.str(3), s.i64(4), s.i64(5), s.i64(6)});
    }
  }
  {
    Stmt s = stmt("SELECT state, COUNT(*) FROM dag_runs GROUP BY state");
    while (s.step()) m.runs_by_state[s.str(0)] = s.i64(1);
  }
  {
    Stmt s = stmt(
        "SELECT t.state, COUNT(*) FROM task_instances t WHERE t.run_pk IN "
        "(SELECT id FROM dag_runs WHERE state IN ('queued', 'running')) GROUP BY t.state");
    while (s.step()) m.unfinished_run_tasks_by_state[s.str(0)] = s.i64(1);
  }
  {
    Stmt s = stmt("SELECT COUNT(*), MIN(created_at) FROM alert_outbox WHERE delivered_at IS NULL");
    if (s.step()) {
      m.undelivered_alerts = s.i64(0);
      m.oldest_undelivered_alert = s.opt_ts(1);
    }
  }
  m.pools["default"].slots = kDefaultPoolSlots;  // always exists
  for (const auto& [pool, slots] : pools_locked()) m.pools[pool].slots = slots;
  for (const char* state : {"running", "queued"}) {
    // Each served by its partial index (task_instances_running_pool, _claim).
    Stmt s = stmt(std::string("SELECT pool, SUM(pool_slots) FROM task_instances WHERE state = '") +
                  state + "' GROUP BY pool");
    while (s.step()) {
      auto [it, added] = m.pools.try_emplace(s.str(0));
      if (added) it->second.slots = kDefaultPoolSlots;
      (std::string(state) == "running" ? it->second.used : it->second.queued) = s.i64(1);
    }
  }
  txn.commit();
  return m;
}

}  // namespace sluice::lite
