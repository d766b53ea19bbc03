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
#include "core/record_json.h"
#include "core/secrets.h"
#include "core/store.h"
#include "core/text.h"
#include "engine/alerts.h"
#include "engine/dag_cache.h"
#include "web/api_params.h"

namespace sluice {

using nlohmann::json;

namespace {

constexpr auto kMetricsCacheTime = std::chrono::seconds(5);
constexpr auto kTaskDurationWindow = std::chrono::hours(24);  // of the duration histogram
// Upper bounds of the task duration histogram, in milliseconds: ELT tasks
// take from a fraction of a second to hours.
constexpr int64_t kTaskDurationBucketsMs[] = {500,    1000,    5000,    10000,   30000,  60000,
                                              300000, 900000,  1800000, 3600000, 7200000, 21600000};

/// Milliseconds as seconds for Prometheus: "0.5", "12", "0.012".
std::string seconds_text(int64_t ms) {
  std::string text = std::to_string(ms / 1000);
  if (ms < 0 && ms / 1000 == 0) text = "-0";
  int64_t frac = (ms < 0 ? -ms : ms) % 1000;
  if (frac == 0) return text;
  char digits[8];
  std::snprintf(digits, sizeof digits, "%03d", static_cast<int>(frac));
  std::string fraction = digits;
  while (fraction.back() == '0') fraction.pop_back();
  return text + "." + fraction;
}

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
  std::string out;
  auto metric = [&out](const std::string& name, const std::string& type, const std::string& help) {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  // The store has no count queries, so runs are counted by paging; the
  // result is cached for a few seconds between scrapes.
  metric("sluice_runs", "gauge", "DAG runs by state.");
  for (RunState state : {RunState::kQueued, RunState::kRunning, RunState::kSuccess,
                         RunState::kFailed, RunState::kCanceled}) {
    RunFilter filter;
    filter.state = state;
    filter.limit = 5000;
    int64_t count = 0;
    for (;;) {
      size_t got = store_.list_runs(filter).size();
      count += static_cast<int64_t>(got);
      if (got < static_cast<size_t>(filter.limit)) break;
      filter.offset += filter.limit;
    }
    out += "sluice_runs{state=\"" + std::string(to_string(state)) + "\"} " +
           std::to_string(count) + "\n";
  }

  std::map<TaskState, int64_t> by_state;
  for (TaskState s : {TaskState::kNone, TaskState::kScheduled, TaskState::kQueued,
                      TaskState::kRunning, TaskState::kSuccess, TaskState::kFailed,
                      TaskState::kUpForRetry, TaskState::kUpForReschedule, TaskState::kSkipped,
                      TaskState::kUpstreamFailed, TaskState::kCanceled}) {
    by_state[s] = 0;
  }
  for (const RunRecord& run : store_.list_unfinished_runs()) {
    for (const TaskInstanceRecord& ti : store_.list_task_instances(run.id)) ++by_state[ti.state];
  }
  metric("sluice_task_instances", "gauge", "Task instances of unfinished runs by state.");
  for (const auto& [state, count] : by_state) {
    out += "sluice_task_instances{state=\"" + std::string(to_string(state)) + "\"} " +
           std::to_string(count) + "\n";
  }
  metric("sluice_queue_depth", "gauge", "Task instances queued and waiting for a worker.");
  out += "sluice_queue_depth " + std::to_string(by_state[TaskState::kQueued]) + "\n";

  metric("sluice_alert_backlog", "gauge", "Alerts not yet delivered.");
  out += "sluice_alert_backlog " + std::to_string(store_.list_alerts(true, 1000000).size()) + "\n";

  Timestamp now = clock_.now();
  int64_t alive = 0;
  int64_t slots = 0;
  for (const WorkerRecord& w : store_.list_workers()) {
    if (w.state != "stopped" && now - w.last_heartbeat < config_.worker.heartbeat_timeout) {
      ++alive;
      slots += w.slots;
    }
  }
  metric("sluice_workers_alive", "gauge", "Workers with a recent heartbeat.");
  out += "sluice_workers_alive " + std::to_string(alive) + "\n";
  metric("sluice_worker_slots", "gauge", "Task slots of live workers.");
  out += "sluice_worker_slots " + std::to_string(slots) + "\n";

  int64_t paused = 0;
  int64_t active = 0;
  std::vector<DagRecord> dags = store_.list_dags();
  for (const DagRecord& d : dags) {
    if (d.paused) ++paused;
    if (d.active) ++active;
  }
  metric("sluice_dags", "gauge", "DAGs known to the store.");
  out += "sluice_dags{kind=\"all\"} " + std::to_string(dags.size()) + "\n";
  out += "sluice_dags{kind=\"active\"} " + std::to_string(active) + "\n";
  out += "sluice_dags{kind=\"paused\"} " + std::to_string(paused) + "\n";
  metric("sluice_import_errors", "gauge", "DAG files that failed to load.");
  out += "sluice_import_errors " + std::to_string(store_.list_file_errors().size()) + "\n";

  std::vector<Millis> bounds;
  for (int64_t ms : kTaskDurationBucketsMs) bounds.push_back(Millis(ms));
  DurationHistogram durations = store_.task_duration_histogram(now - kTaskDurationWindow, bounds);
  metric("sluice_task_duration_seconds", "histogram",
         "Durations of task instances that ended in the last 24 hours.");
  for (size_t i = 0; i < durations.bounds.size() && i < durations.counts.size(); ++i) {
    out += "sluice_task_duration_seconds_bucket{le=\"" +
           seconds_text(durations.bounds[i].count()) + "\"} " +
           std::to_string(durations.counts[i]) + "\n";
  }
  out += "sluice_task_duration_seconds_bucket{le=\"+Inf\"} " + std::to_string(durations.count) +
         "\n";
  out += "sluice_task_duration_seconds_sum " + seconds_text(durations.sum.count()) + "\n";
  out += "sluice_task_duration_seconds_count " + std::to_string(durations.count) + "\n";

  std::vector<SchedulerRecord> schedulers = store_.list_schedulers();
  metric("sluice_scheduler_loop_lag_seconds", "gauge",
         "How late each scheduler's last loop iteration ran, as of its last heartbeat.");
  for (const SchedulerRecord& s : schedulers) {
    out += "sluice_scheduler_loop_lag_seconds{scheduler=\"" + label_value(s.id) +
           "\",leader=\"" + (s.leader ? "true" : "false") + "\"} " +
           seconds_text(s.loop_lag.count()) + "\n";
  }
  metric("sluice_scheduler_heartbeat_age_seconds", "gauge",
         "Time since each scheduler's last heartbeat (a large value: it is gone).");
  for (const SchedulerRecord& s : schedulers) {
    out += "sluice_scheduler_heartbeat_age_seconds{scheduler=\"" + label_value(s.id) +
           "\",leader=\"" + (s.leader ? "true" : "false") + "\"} " +
           seconds_text((now - s.last_heartbeat).count()) + "\n";
  }
  return out;
}

}  // namespace sluice
