#include "engine/alerts.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <mutex>

#include "core/config.h"
#include "core/dag.h"
#include "core/record_json.h"
#include "core/secrets.h"
#include "core/text.h"

namespace sluice {
namespace {

std::mutex g_policy_mu;
std::shared_ptr<const AlertPolicy> g_policy =
    std::make_shared<AlertPolicy>();  // GUARDED_BY(g_policy_mu)

const char* headline(const std::string& event) {
  if (event == "failure") return "failed";
  if (event == "task_failure") return "task failed";
  if (event == "retry") return "task up for retry";
  if (event == "recovery") return "recovered";
  if (event == "success") return "succeeded";
  if (event == "sla_miss") return "missed its SLA";
  if (event == "check_warning") return "data check warning";
  return "alert";
}

}  // namespace

AlertPolicy alert_policy_from(const Config& config) {
  AlertPolicy policy;
  policy.default_on = config.alerts.on;
  policy.default_webhook = config.alerts.webhook;
  policy.base_url = config.web.base_url;
  policy.secrets = config.secrets();
  return policy;
}

void set_alert_policy(AlertPolicy policy) {
  std::lock_guard<std::mutex> lock(g_policy_mu);
  g_policy = std::make_shared<const AlertPolicy>(std::move(policy));
}

std::shared_ptr<const AlertPolicy> alert_policy() {
  std::lock_guard<std::mutex> lock(g_policy_mu);
  return g_policy;
}

bool wants_alert(const Dag& dag, const AlertPolicy& policy, std::string_view event) {
  if (dag.alerts.webhook.empty() && policy.default_webhook.empty()) return false;
  const std::vector<std::string>& on = dag.alerts.on.empty() ? policy.default_on : dag.alerts.on;
  return std::find(on.begin(), on.end(), event) != on.end();
}

std::string log_excerpt(std::string_view log, const std::vector<std::string>& secrets,
                        int max_lines, size_t max_bytes) {
  while (!log.empty() && (log.back() == '\n' || log.back() == '\r')) log.remove_suffix(1);
  size_t start = log.size();
  int lines = 0;
  while (start > 0) {
    size_t nl = log.rfind('\n', start - 1);
    if (nl == std::string_view::npos) {
      start = 0;
      break;
    }
    if (++lines == max_lines) {
      start = nl + 1;
      break;
    }
    start = nl;
  }
  std::string_view tail = log.substr(start);
  if (tail.size() > max_bytes) tail = tail.substr(tail.size() - max_bytes);
  return mask_secrets(std::string(tail), secrets);
}

std::string ui_url(const AlertPolicy& policy, const std::string& dag_id, const std::string& run_id,
                   const std::string& task_id) {
  std::string base = policy.base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::string url = base + "/#/dag/" + url_encode(dag_id);
  if (!run_id.empty()) url += "/run/" + url_encode(run_id);
  if (!task_id.empty()) url += "/task/" + url_encode(task_id);
  return url;
}

AlertEvent make_alert(const std::string& event, const RunRecord& run, const std::string& task_id,
                      int try_number, const std::string& error, const AlertPolicy& policy) {
  AlertEvent alert;
  alert.event = event;
  alert.dag_id = run.dag_id;
  alert.run_id = run.run_id;
  alert.task_id = task_id;
  std::string masked = mask_secrets(error, policy.secrets);
  std::string url = ui_url(policy, run.dag_id, run.run_id, task_id);
  std::string text = "[sluice] " + run.dag_id + " " + run.run_id;
  if (!task_id.empty()) text += " task " + task_id;
  if (try_number > 0 && !task_id.empty()) text += " (try " + std::to_string(try_number) + ")";
  text += std::string(" ") + headline(event);
  if (!masked.empty()) {
    std::string first_line = masked.substr(0, masked.find('\n'));
    if (first_line.size() > 300) first_line = first_line.substr(0, 300) + "...";
    text += ": " + first_line;
  }
  text += " <" + url + ">";
  alert.payload = {
      {"event", event},
      {"dag_id", run.dag_id},
      {"run_id", run.run_id},
      {"run_type", to_string(run.type)},
      {"task_id", task_id},
      {"try_number", try_number},
      {"data_interval_start", format_iso(run.interval.start)},
      {"data_interval_end", format_iso(run.interval.end)},
      {"error", masked},
      {"url", url},
      {"text", text},
  };
  return alert;
}

void add_run_end_alerts(const Dag& dag, const AlertPolicy& policy, const RunSnapshot& snapshot,
                        const RunEndContext& context, RunDecisions& decisions) {
  if (!decisions.run_state) return;
  const RunState state = *decisions.run_state;
  if (state == RunState::kFailed && wants_alert(dag, policy, "failure")) {
    nlohmann::json tasks = nlohmann::json::array();
    std::string first_task;
    int first_try = 0;
    std::string first_error;
    for (const TaskStateView& v : snapshot.tasks) {
      if (v.state != TaskState::kFailed) continue;
      auto found = context.failed.find(v.id);
      std::string error = found == context.failed.end() ? "" : found->second.error;
      std::string excerpt =
          found == context.failed.end() ? "" : log_excerpt(found->second.log_tail, policy.secrets);
      error = mask_secrets(error, policy.secrets);
      tasks.push_back({{"task_id", v.task_id},
                       {"map_index", v.map_index},
                       {"try_number", v.try_number},
                       {"error", error},
                       {"log", excerpt}});
      if (first_task.empty()) {
        first_task = v.task_id;
        first_try = v.try_number;
        first_error = excerpt.empty() ? error : error + (error.empty() ? "" : "\n") + excerpt;
      }
    }
    AlertEvent alert = make_alert("failure", snapshot.run, "", 0, first_error, policy);
    alert.payload["task_id"] = first_task;
    alert.payload["try_number"] = first_try;
    alert.payload["failed_tasks"] = tasks;
    std::string names;
    for (const auto& t : tasks)
      names += (names.empty() ? "" : ", ") + t["task_id"].get<std::string>();
    if (!names.empty()) {
      std::string url = alert.payload["url"].get<std::string>();
      alert.payload["text"] = "[sluice] " + snapshot.run.dag_id + " " + snapshot.run.run_id +
                              " failed; failed tasks: " + names + " <" + url + ">";
    }
    decisions.alerts.push_back(std::move(alert));
  }
  if (state == RunState::kSuccess) {
    if (context.previous_run_state == RunState::kFailed && wants_alert(dag, policy, "recovery")) {
      decisions.alerts.push_back(make_alert("recovery", snapshot.run, "", 0, "", policy));
    }
    if (wants_alert(dag, policy, "success")) {
      decisions.alerts.push_back(make_alert("success", snapshot.run, "", 0, "", policy));
    }
  }
}

std::vector<AlertEvent> try_alerts(const Dag& dag, const AlertPolicy& policy, const RunRecord& run,
                                   const std::string& task_id, int try_number, TaskState state,
                                   const std::string& error, const std::string& log) {
  const char* event = nullptr;
  if (state == TaskState::kUpForRetry) event = "retry";
  if (state == TaskState::kFailed) event = "task_failure";
  if (!event || !wants_alert(dag, policy, event)) return {};
  std::string excerpt = log_excerpt(log, policy.secrets);
  std::string masked = mask_secrets(error, policy.secrets);
  std::string body = excerpt.empty() ? masked : masked + (masked.empty() ? "" : "\n") + excerpt;
  AlertEvent alert = make_alert(event, run, task_id, try_number, body, policy);
  return {std::move(alert)};
}

std::vector<AlertEvent> check_warning_alerts(const Dag& dag, const AlertPolicy& policy,
                                             const RunRecord& run, const std::string& task_id,
                                             int try_number,
                                             const std::vector<CheckResultRecord>& checks) {
  std::vector<std::string> warned;
  for (const CheckResultRecord& c : checks) {
    if (c.status == "warn") warned.push_back(c.name + ": " + c.actual + " (passes at " + c.threshold + ")");
  }
  if (warned.empty() || !wants_alert(dag, policy, "check_warning")) return {};
  std::string body = mask_secrets(join(warned, "\n"), policy.secrets);
  return {make_alert("check_warning", run, task_id, try_number, body, policy)};
}

Decider with_alerts(Decider decider, std::vector<AlertEvent> alerts) {
  if (alerts.empty() || !decider.decide) return decider;
  decider.decide = [inner = std::move(decider.decide),
                    alerts = std::move(alerts)](const RunSnapshot& snapshot) {
    RunDecisions decisions = inner(snapshot);
    decisions.alerts.insert(decisions.alerts.end(), alerts.begin(), alerts.end());
    return decisions;
  };
  return decider;
}

std::string alert_status(const AlertRecord& alert) {
  if (alert.delivered_at) return "delivered";
  if (!alert.next_attempt_at) return "gave up";
  return alert.attempts == 0 ? "pending" : "retrying";
}

nlohmann::json alert_json(const AlertRecord& a, const std::vector<std::string>& secrets) {
  return {{"id", a.id},
          {"event_id", a.event_id},
          {"event", a.event},
          {"dag_id", a.dag_id},
          {"run_id", a.run_id},
          {"task_id", a.task_id},
          {"status", alert_status(a)},
          {"payload", mask_secrets_json(a.payload, secrets)},
          {"attempts", a.attempts},
          {"created_at", format_iso(a.created_at)},
          {"next_attempt_at", iso_or_null(a.next_attempt_at)},
          {"delivered_at", iso_or_null(a.delivered_at)},
          {"last_status", a.last_status ? nlohmann::json(*a.last_status) : nlohmann::json()},
          {"last_error", mask_secrets(a.last_error, secrets)}};
}

nlohmann::json sla_miss_json(const SlaMissRecord& m) {
  return {{"id", m.id},
          {"dag_id", m.dag_id},
          {"run_id", m.run_id},
          {"task_id", m.task_id},
          {"kind", m.kind},
          {"deadline", format_iso(m.deadline)},
          {"detected_at", format_iso(m.detected_at)},
          {"alerted", m.alerted}};
}

}  // namespace sluice
