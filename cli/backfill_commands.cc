// sluice backfill DAG --from D --to D ... | backfill list | show ID | cancel ID
#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>

#include "cli/cli.h"
#include "cli/table.h"
#include "core/config.h"
#include "core/error.h"
#include "core/store.h"
#include "core/text.h"
#include "engine/backfill.h"
#include "engine/dag_cache.h"
#include "engine/dag_sync.h"

namespace sluice {
namespace {

int64_t parse_backfill_id(const std::string& text) {
  try {
    size_t used = 0;
    long long id = std::stoll(text, &used);
    if (used == text.size() && id > 0) return id;
  } catch (const std::exception&) {
  }
  throw UserError("backfill ID '" + text + "' is not a number; `sluice backfill list` shows them");
}

BackfillRecord find_backfill(Store& store, int64_t id) {
  auto b = store.get_backfill(id);
  if (!b) {
    throw NotFoundError("no backfill " + std::to_string(id) + "; `sluice backfill list` shows them");
  }
  return *b;
}

std::string progress_line(const BackfillProgress& p, Millis elapsed) {
  std::string line = "[" + format_duration(std::chrono::duration_cast<std::chrono::seconds>(elapsed)) +
                     "] " + std::to_string(p.done) + "/" + std::to_string(p.total) + " done, " +
                     std::to_string(p.failed) + " failed, " + std::to_string(p.running) +
                     " running, " + std::to_string(p.pending) + " pending";
  int finished = p.done + p.failed;
  int left = p.pending + p.running;
  if (finished > 0 && left > 0) {
    Millis estimate = elapsed * left / finished;
    line += ", about " + format_duration(std::chrono::duration_cast<std::chrono::seconds>(estimate)) +
            " left";
  }
  return line;
}

/// Follows a backfill until it ended and none of its runs is active.
int follow_backfill(CliContext& ctx, Store& store, int64_t id) {
  auto began = std::chrono::steady_clock::now();
  bool tty = ctx.interactive();
  std::string last;
  while (true) {
    BackfillRecord b = find_backfill(store, id);
    BackfillProgress p = backfill_progress(store.list_backfill_intervals(id));
    Millis elapsed = std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - began);
    std::string line = progress_line(p, elapsed);
    if (tty) {
      ctx.out << "\r\033[K" << line << std::flush;
    } else if (line.substr(line.find(']')) != (last.empty() ? "" : last.substr(last.find(']')))) {
      ctx.out << line << "\n" << std::flush;
    }
    last = line;
    if (b.state != "running" && p.running == 0) {
      if (tty) ctx.out << "\n";
      ctx.out << "backfill " << id << " " << b.state << ": " << p.done << " succeeded, "
              << p.failed << " failed, " << p.skipped << " skipped\n";
      return b.state == "success" ? kExitOk : kExitRunFailed;
    }
    std::this_thread::sleep_for(Millis(tty ? 200 : 500));
  }
}

void print_plan(CliContext& ctx, const BackfillPlan& plan, bool dry_run) {
  const BackfillRecord& b = plan.backfill;
  int create = 0, rerun = 0, skip = 0;
  TextTable table({"ACTION", "DATA INTERVAL START", "REASON", "EXISTING RUN"});
  for (const PlannedInterval& p : plan.intervals) {
    if (p.action == "create") ++create;
    if (p.action == "rerun") ++rerun;
    if (p.action == "skip") ++skip;
    table.add({p.action, format_iso(p.interval.start), p.reason, p.run_id.empty() ? "-" : p.run_id});
  }
  if (dry_run) {
    ctx.out << "Backfill of " << b.dag_id << " from " << format_iso(b.range_from) << " to "
            << format_iso(b.range_to) << " (reprocess " << b.reprocess << ", "
            << (b.backwards ? "latest first" : "oldest first") << "):\n";
    table.print(ctx.out);
    ctx.out << "dry run: would create " << create << " runs, re-run " << rerun << ", skip "
            << skip << "; nothing changed\n";
    return;
  }
  ctx.out << "backfill " << b.id << " of " << b.dag_id << ": " << create << " runs to create, "
          << rerun << " to re-run, " << skip << " intervals skipped";
  if (b.total_runs == 0) {
    ctx.out << "; nothing to do\n";
    return;
  }
  ctx.out << "; the scheduler runs them, " << b.max_active_runs
          << " at a time.\nFollow it with `sluice backfill show " << b.id << "`.\n";
}

}  // namespace

void add_backfill_commands(CLI::App& app, CliContext& ctx, CommandResult& result) {
  struct Args {
    std::string dag, from, to, reprocess = "none", conf;
    int max_active_runs = 0;
    bool backwards = false, dry_run = false, wait = false;
    std::string id;
    bool now = false;
    std::string list_dag;
  };
  auto args = std::make_shared<Args>();
  CLI::App* backfill = app.add_subcommand(
      "backfill", "Run a DAG over a past date range (and list, show, cancel backfills)");
  backfill->add_option("dag", args->dag, "DAG id");
  backfill->add_option("--from", args->from,
                       "First day (2026-01-01) or timestamp, in the DAG's time zone");
  backfill->add_option("--to", args->to,
                       "Last day (included to its end) or timestamp, in the DAG's time zone");
  backfill->add_option("--reprocess", args->reprocess,
                       "Intervals that already have a run: none (default: skip them), failed "
                       "(re-run failed ones), all (re-run completed ones too)");
  CLI::Option* max_active = backfill->add_option("--max-active-runs", args->max_active_runs,
                       "Runs of this backfill active at once (default: the DAG's max_active_runs)");
  backfill->add_flag("--backwards", args->backwards, "Latest interval first");
  backfill->add_flag("--dry-run", args->dry_run,
                     "Print the intervals it would create or re-run, and why; change nothing");
  backfill->add_option("--conf", args->conf, "JSON object overriding the DAG's params");
  backfill->add_flag("--wait", args->wait,
                     "Follow the backfill; exit 0 when every run succeeded, 2 otherwise");

  CLI::App* list = backfill->add_subcommand("list", "Backfills, newest first");
  list->add_option("--dag", args->list_dag, "Only this DAG's backfills");
  CLI::App* show = backfill->add_subcommand("show", "A backfill and the state of each interval");
  show->add_option("id", args->id, "Backfill id")->required();
  CLI::App* cancel = backfill->add_subcommand(
      "cancel", "Stop a backfill: queued runs are canceled, running ones finish");
  cancel->add_option("id", args->id, "Backfill id")->required();
  cancel->add_flag("--now", args->now, "Also cancel running runs, terminating their tasks");

  list->callback([&ctx, &result, args] {
    Store& store = ctx.store();
    std::vector<BackfillRecord> found = store.list_backfills(args->list_dag, false, 200);
    if (ctx.options.json) {
      nlohmann::json j = nlohmann::json::array();
      for (const BackfillRecord& b : found) j.push_back(backfill_json(b));
      ctx.out << j.dump(2) << "\n";
    } else if (found.empty()) {
      ctx.out << "no backfills yet; start one with `sluice backfill DAG --from D --to D`\n";
    } else {
      TextTable table({"ID", "DAG", "FROM", "TO", "REPROCESS", "STATE", "SUCCEEDED", "FAILED",
                       "RUNS", "CREATED"});
      for (const BackfillRecord& b : found) {
        table.add({std::to_string(b.id), b.dag_id, format_iso(b.range_from),
                   format_iso(b.range_to), b.reprocess, b.state, std::to_string(b.succeeded_runs),
                   std::to_string(b.failed_runs), std::to_string(b.total_runs),
                   format_iso(b.created_at)});
      }
      table.print(ctx.out);
    }
    result = kExitOk;
  });

  show->callback([&ctx, &result, args] {
    Store& store = ctx.store();
    int64_t id = parse_backfill_id(args->id);
    BackfillRecord b = find_backfill(store, id);
    std::vector<BackfillIntervalRecord> intervals = store.list_backfill_intervals(id);
    if (ctx.options.json) {
      ctx.out << backfill_json(b, intervals).dump(2) << "\n";
      result = kExitOk;
      return;
    }
    BackfillProgress p = backfill_progress(intervals);
    ctx.out << "backfill " << b.id << " of " << b.dag_id << ": " << b.state << "\n"
            << "  range      " << format_iso(b.range_from) << " .. " << format_iso(b.range_to)
            << "\n  reprocess  " << b.reprocess << ", max " << b.max_active_runs
            << " active runs" << (b.backwards ? ", latest first" : "") << "\n"
            << "  progress   " << p.done << "/" << p.total << " done, " << p.failed
            << " failed, " << p.running << " running, " << p.pending << " pending, "
            << p.skipped << " skipped\n";
    if (!b.conf.empty()) ctx.out << "  conf       " << b.conf.dump() << "\n";
    TextTable table({"DATA INTERVAL START", "ACTION", "REASON", "RUN", "STATE"});
    for (const BackfillIntervalRecord& i : intervals) {
      std::string state = i.run_state ? to_string(*i.run_state)
                          : i.run_pk  ? "deleted"
                          : i.action == "skip" ? "-"
                                               : "pending";
      table.add({format_iso(i.interval.start), i.action, i.reason,
                 i.run_pk ? i.run_id : "-", state});
    }
    table.print(ctx.out);
    result = kExitOk;
  });

  cancel->callback([&ctx, &result, args] {
    Store& store = ctx.store();
    int64_t id = parse_backfill_id(args->id);
    cancel_backfill(store, id, args->now, RealClock().now());
    BackfillProgress p = backfill_progress(store.list_backfill_intervals(id));
    ctx.out << "backfill " << id << " canceled";
    if (p.running > 0) {
      ctx.out << "; " << p.running << " runs still finishing"
              << (args->now ? " (their tasks are being terminated)" : "");
    }
    ctx.out << "\n";
    result = kExitOk;
  });

  backfill->callback([&ctx, &result, args, list, show, cancel, max_active] {
    if (list->parsed() || show->parsed() || cancel->parsed()) return;
    if (args->dag.empty()) {
      throw UserError(
          "`sluice backfill` needs a DAG id or one of: list, show, cancel "
          "(example: sluice backfill my_dag --from 2026-01-01 --to 2026-01-31)");
    }
    if (args->from.empty() || args->to.empty()) {
      throw UserError("`sluice backfill " + args->dag + "` needs --from and --to (example: " +
                      "--from 2026-01-01 --to 2026-01-31)");
    }
    Store& store = ctx.store();
    if (auto record = store.get_dag(args->dag); !record || !record->version_id) {
      // A CLI run before any scheduler has read the DAG folder.
      std::error_code ec;
      if (std::filesystem::is_directory(ctx.config().dags_dir, ec)) {
        DagFolderSync(store, ctx.config().dags_dir).sync(RealClock().now());
      }
    }
    DagCache dags(store);
    BackfillRequest request;
    request.dag_id = args->dag;
    request.from = args->from;
    request.to = args->to;
    request.reprocess = args->reprocess;
    if (max_active->count() > 0) request.max_active_runs = args->max_active_runs;
    request.backwards = args->backwards;
    request.conf = parse_conf_flag(args->conf);
    request.dry_run = args->dry_run;
    BackfillPlan plan = create_backfill(store, dags, request, RealClock().now());
    if (ctx.options.json && !args->wait) {
      ctx.out << plan_json(plan).dump(2) << "\n";
    } else {
      print_plan(ctx, plan, args->dry_run);
    }
    result = kExitOk;
    if (args->wait && !args->dry_run) result = follow_backfill(ctx, store, plan.backfill.id);
  });
}

}  // namespace sluice
