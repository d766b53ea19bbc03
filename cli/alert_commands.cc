// sluice alerts list | sla list
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "cli/table.h"
#include "core/config.h"
#include "core/store.h"
#include "core/text.h"
#include "engine/alerts.h"

namespace sluice {
namespace {

std::string time_or_dash(const std::optional<Timestamp>& t) { return t ? format_iso(*t) : "-"; }

}  // namespace

void add_alert_commands(CLI::App& app, CliContext& ctx, CommandResult& result) {
  CLI::App* alerts = app.add_subcommand("alerts", "Webhook alerts in the outbox");
  alerts->require_subcommand(1);
  auto undelivered = std::make_shared<bool>(false);
  auto limit = std::make_shared<int>(50);
  CLI::App* list = alerts->add_subcommand(
      "list",
      "Alerts, newest first: event, DAG, run, task, delivery state, attempts, the receiver's "
      "HTTP status and error at the last attempt");
  list->add_flag("--undelivered", *undelivered, "Only alerts not delivered (yet)");
  list->add_option("--limit", *limit, "At most this many (default 50)")
      ->check(CLI::Range(1, 100000));
  list->callback([&ctx, &result, undelivered, limit] {
    const std::vector<std::string> secrets = ctx.config().secrets();
    std::vector<AlertRecord> found = ctx.store().list_alerts(*undelivered, *limit);
    if (ctx.options.json) {
      nlohmann::json j = nlohmann::json::array();
      for (const AlertRecord& a : found) {
        j.push_back(alert_json(a, secrets));
      }
      ctx.out << j.dump(2) << "\n";
    } else if (found.empty()) {
      ctx.out << (*undelivered ? "Every alert has been delivered.\n"
                               : "No alerts yet. Set alerts.webhook in sluice.yaml or a DAG's "
                                 "alerts: to receive them.\n");
    } else {
      TextTable table({"CREATED", "EVENT", "DAG", "RUN", "TASK", "STATUS", "ATTEMPTS",
                       "NEXT ATTEMPT", "HTTP", "LAST ERROR"});
      for (const AlertRecord& a : found) {
        std::string error = mask_secrets(a.last_error, secrets);
        if (error.size() > 80) error = error.substr(0, 77) + "...";
        table.add({format_iso(a.created_at), a.event, a.dag_id, a.run_id,
                   a.task_id.empty() ? "-" : a.task_id, alert_status(a), std::to_string(a.attempts),
                   a.delivered_at ? "-" : time_or_dash(a.next_attempt_at),
                   a.last_status ? std::to_string(*a.last_status) : "-",
                   error.empty() ? "-" : error});
      }
      table.print(ctx.out);
    }
    result = kExitOk;
  });

  CLI::App* sla = app.add_subcommand("sla", "Recorded SLA misses");
  sla->require_subcommand(1);
  auto sla_dag = std::make_shared<std::string>();
  auto sla_limit = std::make_shared<int>(50);
  CLI::App* sla_list = sla->add_subcommand("list", "SLA misses, newest first");
  sla_list->add_option("DAG", *sla_dag, "Only this DAG");
  sla_list->add_option("--limit", *sla_limit, "At most this many (default 50)")
      ->check(CLI::Range(1, 100000));
  sla_list->callback([&ctx, &result, sla_dag, sla_limit] {
    std::vector<SlaMissRecord> found = ctx.store().list_sla_misses(*sla_dag, *sla_limit);
    if (ctx.options.json) {
      nlohmann::json j = nlohmann::json::array();
      for (const SlaMissRecord& m : found) {
        j.push_back(sla_miss_json(m));
      }
      ctx.out << j.dump(2) << "\n";
    } else if (found.empty()) {
      ctx.out << "No SLA misses recorded.\n";
    } else {
      TextTable table({"DETECTED", "DAG", "RUN", "TASK", "SLA", "DEADLINE", "ALERTED"});
      for (const SlaMissRecord& m : found) {
        table.add({format_iso(m.detected_at), m.dag_id, m.run_id,
                   m.task_id.empty() ? "-" : m.task_id, m.kind, format_iso(m.deadline),
                   m.alerted ? "yes" : "no"});
      }
      table.print(ctx.out);
    }
    result = kExitOk;
  });
}

}  // namespace sluice
