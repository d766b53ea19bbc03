#include "web/api.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/dag.h"
#include "core/error.h"
#include "core/log.h"
#include "core/pools.h"
#include "core/record_json.h"
#include "core/secrets.h"
#include "core/store.h"
#include "core/text.h"
#include "core/version.h"
#include "engine/alerts.h"
#include "engine/dag_cache.h"
#include "web/api_params.h"

namespace sluice {

using nlohmann::json;

namespace {

constexpr auto kMetricsCacheTime = std::chrono::seconds(5);

/// Microseconds as seconds for Prometheus: "0.5", "12", "0.012", "0.00025".
std::string seconds_text(int64_t us) {
  std::string text = std::to_string(us / 1000000);
  if (us < 0 && us / 1000000 == 0) text = "-0";
  int64_t frac = (us < 0 ? -us : us) % 1000000;
  if (frac == 0) return text;
  char digits[8];
  std::snprintf(digits, sizeof digits, "%06d", static_cast<int>(frac));
  std::string fraction = digits;
  while (fraction.back() == '0') fraction.pop_back();
  return text + "." + fraction;
}

std::string ms_as_seconds(int64_t ms) { return seconds_text(ms * 1000); }

/// A Prometheus label value: backslash, quote and newline escaped.
std::string label_value(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

// ---- workers, alerts, pools

void Api::get_workers(const httplib::Request&, httplib::Response& res) {
  Timestamp now = clock_.now();
  json list = json::array();
  for (const WorkerRecord& w : store_.list_workers()) {
    list.push_back({{"id", w.id},
                    {"host", w.host},
                    {"pid", w.pid},
                    {"slots", w.slots},
                    {"queues", w.queues},
                    {"state", w.state},
                    {"started_at", format_iso(w.started_at)},
                    {"last_heartbeat", format_iso(w.last_heartbeat)},
                    {"alive", w.state != "stopped" &&
                                  now - w.last_heartbeat < config_.worker.heartbeat_timeout}});
  }
  send_json(res, 200, list);
}

void Api::get_schedulers(const httplib::Request&, httplib::Response& res) {
  // A scheduler sends a heartbeat every 2 s; one silent for longer than this
  // is gone (killed, or cut off), whatever its last heartbeat said.
  constexpr Millis kSilentAfter{15000};
  Timestamp now = clock_.now();
  std::vector<SchedulerRecord> schedulers = store_.list_schedulers();
  // Of the live schedulers that say they lead, only the latest term does:
  // an older one has lost its lock and not yet said so.
  int64_t term = -1;
  for (const SchedulerRecord& s : schedulers) {
    if (s.leader && now - s.last_heartbeat < kSilentAfter) term = std::max(term, s.epoch);
  }
  json list = json::array();
  for (const SchedulerRecord& s : schedulers) {
    bool alive = now - s.last_heartbeat < kSilentAfter;
    bool leads = alive && s.leader && s.epoch == term;
    list.push_back({{"id", s.id},
                    {"host", s.host},
                    {"leader", leads},
                    {"alive", alive},
                    {"role", leads ? "leader" : alive ? "standby" : "gone"},
                    {"epoch", s.epoch},
                    {"last_heartbeat", format_iso(s.last_heartbeat)},
                    {"heartbeat_age_ms", (now - s.last_heartbeat).count()},
                    {"loop_lag_ms", s.loop_lag.count()}});
  }
  send_json(res, 200, list);
}

std::string Api::dag_timezone(const std::string& dag_id) {
  std::optional<DagRecord> record = store_.get_dag(dag_id);
  if (!record || !record->version_id) return "UTC";
  try {
    return dags_.get(*record->version_id)->timezone;
  } catch (const UserError&) {
    return "UTC";
  }
}

void Api::get_pools(const httplib::Request&, httplib::Response& res) {
  json list = json::array();
  for (const auto& [name, slots] : store_.list_pools()) {
    list.push_back({{"name", name}, {"slots", slots}});
  }
  send_json(res, 200, list);
}

// ---- health and metrics

void Api::get_health(const httplib::Request&, httplib::Response& res) {
  try {
    SchemaStatus status = store_.schema_status();
    if (status.current != status.latest) {
      send_json(res, 503, {{"status", "error"},
                           {"store", "schema version " + std::to_string(status.current) +
                                         ", expected " + std::to_string(status.latest)}});
      return;
    }
  } catch (const std::exception& e) {
    send_json(res, 503, {{"status", "error"}, {"store", masked(e.what())}});
    return;
  }
  send_json(res, 200, {{"status", "ok"}, {"store", "ok"}});
}

void Api::get_metrics(const httplib::Request&, httplib::Response& res) {
  std::string text;
  {
    std::lock_guard<std::mutex> lock(metrics_mu_);
    auto now = std::chrono::steady_clock::now();
    if (metrics_text_.empty() || now - metrics_at_ > kMetricsCacheTime) {
      metrics_text_ = render_metrics();
      metrics_at_ = now;
    }
    text = metrics_text_;
  }
  res.status = 200;
  res.set_content(text, "text/plain; version=0.0.4; charset=utf-8");
}

std::string Api::render_metrics() {
  MetricsSnapshot snapshot = store_.read_metrics();
  std::map<std::string, std::vector<const MetricCounter*>> stored;  // by name
  for (const MetricCounter& c : snapshot.counters) stored[c.name].push_back(&c);

  std::string out;
  auto metric = [&out](const std::string& name, const std::string& type, const std::string& help) {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  auto sample = [&out](const std::string& series, int64_t value) {
    out += series + " " + std::to_string(value) + "\n";
  };
  // A stored histogram (no labels): its buckets made cumulative over
  // kMetricBucketsUs, then +Inf, _sum and _count.
  auto histogram = [&](const std::string& name, const std::string& stored_name,
                       const std::string& help) {
    metric(name, "histogram", help);
    int64_t count = 0;
    int64_t sum_us = 0;
    const std::vector<const MetricCounter*>& rows = stored[stored_name];
    for (const MetricCounter* row : rows) {
      count += row->value;
      sum_us += row->sum_us;
    }
    for (int64_t bound : kMetricBucketsUs) {
      int64_t at_most = 0;
      for (const MetricCounter* row : rows) {
        if (row->le_us > 0 && row->le_us <= bound) at_most += row->value;
      }
      sample(name + "_bucket{le=\"" + seconds_text(bound) + "\"}", at_most);
    }
    sample(name + "_bucket{le=\"+Inf\"}", count);
    out += name + "_sum " + seconds_text(sum_us) + "\n";
    sample(name + "_count", count);
  };
  const std::string kept =
      " Kept in the store: survives restarts and db clean; counted since the store's metrics "
      "migration.";

  metric("sluice_build_info", "gauge", "Always 1; the version label is this server's version.");
  out += "sluice_build_info{version=\"" + label_value(kSluiceVersion) + "\"} 1\n";

  // ---- gauges counted from current rows
  metric("sluice_runs", "gauge", "DAG runs by state.");
  for (RunState state : {RunState::kQueued, RunState::kRunning, RunState::kSuccess,
                         RunState::kFailed, RunState::kCanceled}) {
    auto it = snapshot.runs_by_state.find(to_string(state));
    sample("sluice_runs{state=\"" + std::string(to_string(state)) + "\"}",
           it == snapshot.runs_by_state.end() ? 0 : it->second);
  }
  auto unfinished = [&](TaskState state) -> int64_t {
    auto it = snapshot.unfinished_run_tasks_by_state.find(to_string(state));
    return it == snapshot.unfinished_run_tasks_by_state.end() ? 0 : it->second;
  };
  metric("sluice_task_instances", "gauge", "Task instances of unfinished runs by state.");
  for (TaskState state : {TaskState::kNone, TaskState::kScheduled, TaskState::kQueued,
                          TaskState::kRunning, TaskState::kSuccess, TaskState::kFailed,
                          TaskState::kUpForRetry, TaskState::kUpForReschedule,
                          TaskState::kSkipped, TaskState::kUpstreamFailed, TaskState::kCanceled}) {
    sample("sluice_task_instances{state=\"" + std::string(to_string(state)) + "\"}",
           unfinished(state));
  }
  metric("sluice_queue_depth", "gauge", "Task instances queued and waiting for a worker.");
  sample("sluice_queue_depth", unfinished(TaskState::kQueued));

  metric("sluice_alert_backlog", "gauge", "Alerts not yet delivered.");
  sample("sluice_alert_backlog", snapshot.undelivered_alerts);
  metric("sluice_alert_outbox_depth", "gauge",
         "Alerts in the outbox not delivered: waiting for an attempt, or given up.");
  sample("sluice_alert_outbox_depth", snapshot.undelivered_alerts);
  Timestamp now = clock_.now();
  metric("sluice_alert_outbox_oldest_age_seconds", "gauge",
         "Age of the oldest undelivered alert in the outbox; 0 when every alert was delivered.");
  out += "sluice_alert_outbox_oldest_age_seconds " +
         ms_as_seconds(snapshot.oldest_undelivered_alert
                           ? std::max<int64_t>((now - *snapshot.oldest_undelivered_alert).count(), 0)
                           : 0) +
         "\n";

  int64_t alive = 0;
  int64_t slots = 0;
  for (const WorkerRecord& w : store_.list_workers()) {
    if (w.state != "stopped" && now - w.last_heartbeat < config_.worker.heartbeat_timeout) {
      ++alive;
      slots += w.slots;
    }
  }
  metric("sluice_workers_alive", "gauge", "Workers with a recent heartbeat.");
  sample("sluice_workers_alive", alive);
  metric("sluice_worker_slots", "gauge", "Task slots of live workers.");
  sample("sluice_worker_slots", slots);

  metric("sluice_pool_slots", "gauge",
         "Slots of each pool: as sluice.yaml sizes it, else the default of " +
             std::to_string(kDefaultPoolSlots) + ".");
  for (const auto& [pool, use] : snapshot.pools) {
    sample("sluice_pool_slots{pool=\"" + label_value(pool) + "\"}", use.slots);
  }
  metric("sluice_pool_slots_used", "gauge", "Pool slots taken by running task instances.");
  for (const auto& [pool, use] : snapshot.pools) {
    sample("sluice_pool_slots_used{pool=\"" + label_value(pool) + "\"}", use.used);
  }
  metric("sluice_pool_slots_queued", "gauge",
         "Pool slots that queued task instances wait for.");
  for (const auto& [pool, use] : snapshot.pools) {
    sample("sluice_pool_slots_queued{pool=\"" + label_value(pool) + "\"}", use.queued);
  }

  int64_t paused = 0;
  int64_t active = 0;
  std::vector<DagRecord> dags = store_.list_dags();
  for (const DagRecord& d : dags) {
    if (d.paused) ++paused;
    if (d.active) ++active;
  }
  metric("sluice_dags", "gauge", "DAGs known to the store.");
  sample("sluice_dags{kind=\"all\"}", static_cast<int64_t>(dags.size()));
  sample("sluice_dags{kind=\"active\"}", active);
  sample("sluice_dags{kind=\"paused\"}", paused);
  metric("sluice_import_errors", "gauge", "DAG files that failed to load.");
  sample("sluice_import_errors", static_cast<int64_t>(store_.list_file_errors().size()));

  // ---- counters and histograms kept in the store
  metric("sluice_dag_runs_total", "counter",
         "DAG runs that ended, by DAG and state (success, failed, canceled); a cleared run "
         "that ends again counts again." + kept);
  for (const MetricCounter* c : stored["dag_runs"]) {
    sample("sluice_dag_runs_total{dag_id=\"" + label_value(c->dag_id) + "\",state=\"" +
               label_value(c->state) + "\"}",
           c->value);
  }
  metric("sluice_task_instances_total", "counter",
         "Task instances that entered a state a try or a decision ends in (success, failed, "
         "up_for_retry, skipped, upstream_failed, canceled), by DAG, task type and state; a "
         "retried try counts as up_for_retry, a cleared task that ends again counts again." +
             kept);
  for (const MetricCounter* c : stored["task_instances"]) {
    sample("sluice_task_instances_total{dag_id=\"" + label_value(c->dag_id) +
               "\",task_type=\"" + label_value(c->label) + "\",state=\"" +
               label_value(c->state) + "\"}",
           c->value);
  }
  histogram("sluice_task_duration_seconds", "task_duration",
            "Run time (start to end) of every try that ran to its end as success, failed, "
            "up_for_retry or skipped." + kept);
  histogram("sluice_task_queue_wait_seconds", "task_queue_wait",
            "Time each try waited from being queued to being claimed by a worker." + kept);
  histogram("sluice_task_hop_latency_seconds", "task_hop_latency",
            "For the first try of a task with upstream tasks: time from the end of its last "
            "upstream task to its start." + kept);
  histogram("sluice_scheduler_loop_duration_seconds", "scheduler_loop",
            "Duration of each pass of the leading scheduler's loop; the scheduler measures "
            "its passes and adds them to the store every 2 s." + kept);
  metric("sluice_sla_misses_total", "counter", "SLA misses recorded, by DAG." + kept);
  for (const MetricCounter* c : stored["sla_misses"]) {
    sample("sluice_sla_misses_total{dag_id=\"" + label_value(c->dag_id) + "\"}", c->value);
  }
  std::map<std::string, int64_t> deliveries = {{"delivered", 0}, {"failed", 0}};
  for (const MetricCounter* c : stored["alert_deliveries"]) deliveries[c->label] += c->value;
  metric("sluice_alert_deliveries_total", "counter",
         "Webhook delivery attempts of alerts by result: delivered, or failed (the alert is "
         "tried again later or given up)." + kept);
  for (const auto& [result, count] : deliveries) {
    sample("sluice_alert_deliveries_total{result=\"" + label_value(result) + "\"}", count);
  }
  histogram("sluice_dag_parse_duration_seconds", "dag_parse",
            "Time to parse a DAG file, for every parse of a new or changed file by a "
            "scheduler or `dags sync`." + kept);
  int64_t parse_errors = 0;
  for (const MetricCounter* c : stored["dag_parse_errors"]) parse_errors += c->value;
  metric("sluice_dag_parse_errors_total", "counter",
         "Parses of DAG files that failed; every parse of a failing file counts "
         "(sluice_import_errors is how many files fail now)." + kept);
  sample("sluice_dag_parse_errors_total", parse_errors);

  std::vector<SchedulerRecord> schedulers = store_.list_schedulers();
  metric("sluice_scheduler_loop_lag_seconds", "gauge",
         "How late each scheduler's last loop iteration ran, as of its last heartbeat.");
  for (const SchedulerRecord& s : schedulers) {
    out += "sluice_scheduler_loop_lag_seconds{scheduler=\"" + label_value(s.id) +
           "\",leader=\"" + (s.leader ? "true" : "false") + "\"} " +
           ms_as_seconds(s.loop_lag.count()) + "\n";
  }
  metric("sluice_scheduler_heartbeat_age_seconds", "gauge",
         "Time since each scheduler's last heartbeat (a large value: it is gone).");
  for (const SchedulerRecord& s : schedulers) {
    out += "sluice_scheduler_heartbeat_age_seconds{scheduler=\"" + label_value(s.id) +
           "\",leader=\"" + (s.leader ? "true" : "false") + "\"} " +
           ms_as_seconds((now - s.last_heartbeat).count()) + "\n";
  }
  return out;
}

}  // namespace sluice
