// sluice workers list
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "cli/table.h"
#include "core/config.h"
#include "core/store.h"
#include "core/text.h"

namespace sluice {
namespace {

/// "alive" while heartbeating within the limit, "lost" past it, else the
/// state the worker recorded when it stopped.
std::string worker_status(const WorkerRecord& w, Timestamp now, Millis heartbeat_timeout) {
  if (w.state == "stopped") return "stopped";
  if (now - w.last_heartbeat >= heartbeat_timeout) return "lost";
  return w.state == "running" ? "alive" : w.state;
}

}  // namespace

void add_worker_commands(CLI::App& app, CliContext& ctx, CommandResult& result) {
  CLI::App* workers = app.add_subcommand("workers", "Workers that registered with the database");
  workers->require_subcommand(1);
  CLI::App* list = workers->add_subcommand(
      "list", "Every worker: host, pid, slots, queues, last heartbeat and status");
  list->callback([&ctx, &result] {
    Timestamp now = RealClock().now();
    Millis timeout = ctx.config().worker.heartbeat_timeout;
    std::vector<WorkerRecord> found = ctx.store().list_workers();
    if (ctx.options.json) {
      nlohmann::json j = nlohmann::json::array();
      for (const WorkerRecord& w : found) {
        std::string status = worker_status(w, now, timeout);
        j.push_back({{"id", w.id},
                     {"host", w.host},
                     {"pid", w.pid},
                     {"slots", w.slots},
                     {"queues", w.queues},
                     {"state", w.state},
                     {"status", status},
                     {"alive", status == "alive" || status == "draining"},
                     {"started_at", format_iso(w.started_at)},
                     {"last_heartbeat", format_iso(w.last_heartbeat)}});
      }
      ctx.out << j.dump(2) << "\n";
    } else if (found.empty()) {
      ctx.out << "No workers have registered yet: start one with `sluice worker`\n";
    } else {
      TextTable table({"ID", "HOST", "PID", "SLOTS", "QUEUES", "STATUS", "LAST HEARTBEAT"});
      for (const WorkerRecord& w : found) {
        Millis age = std::chrono::duration_cast<Millis>(now - w.last_heartbeat);
        table.add({w.id, w.host, std::to_string(w.pid), std::to_string(w.slots),
                   join(w.queues, ","), worker_status(w, now, timeout),
                   format_duration(std::max(age, Millis(0))) + " ago"});
      }
      table.print(ctx.out);
    }
    result = kExitOk;
  });
}

}  // namespace sluice
