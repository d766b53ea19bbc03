#pragma once
// Building alerts: which events a DAG wants, and each alert's payload (the
// JSON body POSTed to the webhook, SPEC section 7). Pure functions; the
// store writes the alerts in the transaction of the change that causes them,
// and scheduler/alert_delivery.h posts them.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/store.h"

namespace sluice {

struct Config;
struct Dag;

/// Process-wide alert settings from sluice.yaml: the default events and
/// webhook, the UI's base URL for links, and the secrets to mask.
struct AlertPolicy {
  std::vector<std::string> default_on = {"failure", "sla_miss", "recovery"};
  std::string default_webhook;       // may be empty: then only DAGs with a webhook alert
  std::string base_url;              // "https://sluice.example.com"; empty: relative links
  std::vector<std::string> secrets;  // masked in errors and log excerpts
};

AlertPolicy alert_policy_from(const Config& config);
/// The policy deciders of this process use (set once at start-up from the
/// configuration; tests set their own).
void set_alert_policy(AlertPolicy policy);
std::shared_ptr<const AlertPolicy> alert_policy();

/// True when `dag` wants `event` and has somewhere to send it (its own
/// webhook or the configured default). Without a webhook nothing is enqueued.
bool wants_alert(const Dag& dag, const AlertPolicy& policy, std::string_view event);

/// The last `max_lines` lines of `log` (at most `max_bytes`), secrets masked.
std::string log_excerpt(std::string_view log, const std::vector<std::string>& secrets,
                        int max_lines = 20, size_t max_bytes = 4000);

/// The UI link of a run (or of a task in it): base_url + "/#/dag/D/run/R[/task/T]".
std::string ui_url(const AlertPolicy& policy, const std::string& dag_id, const std::string& run_id,
                   const std::string& task_id = "");

/// One alert with its payload: event, dag_id, run_id, task_id, try_number,
/// data_interval_start, error, url, text. The store adds `event_id`.
AlertEvent make_alert(const std::string& event, const RunRecord& run, const std::string& task_id,
                      int try_number, const std::string& error, const AlertPolicy& policy);

/// Alerts of a decision that ends a run: `failure` (one per run, listing each
/// failed task with its error and log excerpt), `success`, and `recovery`
/// (success after the DAG's previous finished run failed). Appended to
/// `decisions.alerts` as far as the DAG wants them.
void add_run_end_alerts(const Dag& dag, const AlertPolicy& policy, const RunSnapshot& snapshot,
                        const RunEndContext& context, RunDecisions& decisions);

/// The `check_warning` alert of a try whose checks with severity warn
/// failed (one alert listing each), as far as the DAG wants it.
std::vector<AlertEvent> check_warning_alerts(const Dag& dag, const AlertPolicy& policy,
                                             const RunRecord& run, const std::string& task_id,
                                             int try_number,
                                             const std::vector<CheckResultRecord>& checks);

/// Alerts of one ended try: `retry` (up_for_retry) and `task_failure` (out of
/// tries), as far as the DAG wants them.
std::vector<AlertEvent> try_alerts(const Dag& dag, const AlertPolicy& policy, const RunRecord& run,
                                   const std::string& task_id, int try_number, TaskState state,
                                   const std::string& error, const std::string& log);

/// `decider` that also writes `alerts` in its transaction.
Decider with_alerts(Decider decider, std::vector<AlertEvent> alerts);

/// An outbox row's delivery: "delivered", "gave up", "pending" or "retrying".
std::string alert_status(const AlertRecord& alert);

/// An outbox row as `sluice alerts list --json` and GET /api/v1/alerts show
/// it, secrets masked.
nlohmann::json alert_json(const AlertRecord& alert, const std::vector<std::string>& secrets);

/// An SLA miss as `sluice sla list --json` and GET /api/v1/sla-misses show it.
nlohmann::json sla_miss_json(const SlaMissRecord& miss);

}  // namespace sluice
