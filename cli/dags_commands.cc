// sluice dags validate | list | show | pause | unpause
#include <filesystem>
#include <iostream>
#include <optional>
#include <set>

#include <CLI/CLI.hpp>

#include "cli/cli.h"
#include "cli/table.h"
#include "core/config.h"
#include "core/dag_loader.h"
#include "core/error.h"
#include "core/record_json.h"
#include "core/store.h"
#include "core/text.h"
#include "engine/next_run.h"

namespace sluice {
namespace {

std::string local_time(Timestamp t, const Dag& dag) {
  const date::time_zone* zone = dag.schedule.zone() ? dag.schedule.zone() : find_zone("UTC");
  return format_local(t, zone, "%Y-%m-%d %H:%M %Z");
}

std::string schedule_text(const Dag& dag) {
  return dag.schedule.expression().empty() ? "null" : dag.schedule.expression();
}

/// Catch-up beyond this many runs earns a warning from `dags validate`.
constexpr size_t kCatchupWarnRuns = 1000;

/// A warning when catch-up would run more than kCatchupWarnRuns intervals,
/// at the line of `catchup:` in `content`; nullopt otherwise.
std::optional<Diagnostic> catchup_warning(const Dag& dag, const std::string& content,
                                          Timestamp now) {
  if (!dag.catchup || dag.schedule.kind() != Schedule::Kind::kCron) return std::nullopt;
  if (count_complete_intervals(dag.schedule, dag.bounds(), now, kCatchupWarnRuns) <=
      kCatchupWarnRuns) {
    return std::nullopt;
  }
  int line = 1;
  for (size_t at = 0, number = 1; at < content.size(); ++number) {
    if (content.compare(at, 8, "catchup:") == 0) {
      line = static_cast<int>(number);
      break;
    }
    size_t next = content.find('\n', at);
    if (next == std::string::npos) break;
    at = next + 1;
  }
  return Diagnostic{dag.file, line, 1,
                    "catchup: true from start_date " + format_iso(dag.start_date).substr(0, 10) +
                        " with schedule '" + dag.schedule.expression() +
                        "' has more than 1,000 runs to catch up; the scheduler queues them a "
                        "few at a time as earlier ones start. To skip them set catchup: false "
                        "or a later start_date (and run the past with `sluice backfill`)"};
}

/// Validates files and folders; prints every problem. Returns the exit code.
int validate(CliContext& ctx, std::vector<std::string> paths) {
  if (paths.empty()) paths.push_back(ctx.config().dags_dir);
  int dags = 0;
  int problems = 0;
  std::set<std::string> seen_ids;
  Timestamp now = RealClock().now();
  for (const std::string& path : paths) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      FolderLoadResult folder = load_dag_folder(path);
      dags += static_cast<int>(folder.dags.size());
      for (const Diagnostic& d : folder.warnings) ctx.err << "warning: " << d.to_string() << "\n";
      for (const LoadResult& file : folder.files) {
        if (!file.dag) continue;
        if (auto d = catchup_warning(*file.dag, file.content, now)) {
          ctx.err << "warning: " << d->to_string() << "\n";
        }
      }
      for (const Diagnostic& d : folder.errors) {
        ctx.out << d.to_string() << "\n";
        ++problems;
      }
    } else if (std::filesystem::exists(path, ec)) {
      LoadResult result = load_dag_file(path);
      for (const Diagnostic& d : result.warnings) ctx.err << "warning: " << d.to_string() << "\n";
      for (const Diagnostic& d : result.errors) {
        ctx.out << d.to_string() << "\n";
        ++problems;
      }
      if (result.errors.empty() && result.dag) {
        if (auto d = catchup_warning(*result.dag, result.content, now)) {
          ctx.err << "warning: " << d->to_string() << "\n";
        }
        if (!seen_ids.insert(result.dag->id).second) {
          ctx.out << path << ":1:1: DAG id '" << result.dag->id
                  << "' is defined by another file given; rename one of them\n";
          ++problems;
        } else {
          ++dags;
        }
      }
    } else {
      ctx.out << path << ": no such file or folder\n";
      ++problems;
    }
  }
  if (problems > 0) {
    ctx.out << problems << (problems == 1 ? " problem" : " problems") << " found; " << dags
            << (dags == 1 ? " DAG" : " DAGs") << " valid\n";
    return kExitBadInput;
  }
  ctx.out << dags << (dags == 1 ? " DAG" : " DAGs") << " valid, no problems\n";
  return kExitOk;
}

int list_dags(CliContext& ctx) {
  FolderLoadResult folder = load_dag_folder(ctx.config().dags_dir);
  Store* store = ctx.existing_store();
  std::map<std::string, DagRecord> records;
  if (store) {
    for (DagRecord& r : store->list_dags()) records[r.dag_id] = std::move(r);
  }
  Timestamp now = RealClock().now();
  nlohmann::json json = nlohmann::json::array();
  TextTable table({"DAG", "SCHEDULE", "PAUSED", "NEXT RUN", "LAST RUN", "FILE"});
  for (const Dag& dag : folder.dags) {
    bool paused = dag.paused;
    auto rec = records.find(dag.id);
    if (rec != records.end()) paused = rec->second.paused;
    // As the API and the UI show it: the next interval's start, and from
    // when the run is created; nothing while the DAG is paused.
    std::string next = paused && dag.schedule.kind() != Schedule::Kind::kNone ? "(paused)" : "-";
    std::optional<NextRun> next_interval;
    if (dag.schedule.kind() != Schedule::Kind::kNone) {
      std::optional<RunRecord> latest = store ? store->latest_interval_run(dag.id) : std::nullopt;
      next_interval = next_run(dag, paused,
                               latest ? std::optional(latest->interval.start) : std::nullopt, now);
      if (next_interval) {
        next = local_time(next_interval->interval.start, dag) + " (runs after " +
               (next_interval->run_after <= now ? std::string("now")
                                                : local_time(next_interval->run_after, dag)) +
               ")";
      }
    }
    std::string last = "-";
    if (store) {
      RunFilter filter;
      filter.dag_id = dag.id;
      filter.limit = 1;
      auto runs = store->list_runs(filter);
      if (!runs.empty()) last = to_string(runs.front().state);
    }
    table.add({dag.id, schedule_text(dag), paused ? "yes" : "no", next, last, dag.file});
    // The API's names (GET /api/v1/dags); next_interval_start, older, is
    // next_run.data_interval_start.
    json.push_back({{"dag_id", dag.id},
                    {"schedule", dag.schedule.expression().empty()
                                     ? nlohmann::json(nullptr)
                                     : nlohmann::json(dag.schedule.expression())},
                    {"timezone", dag.timezone},
                    {"description", dag.description},
                    {"tags", dag.tags},
                    {"task_count", dag.tasks.size()},
                    {"paused", paused},
                    {"next_run", next_run_json(next_interval)},
                    {"next_interval_start",
                     next_interval ? nlohmann::json(format_iso(next_interval->interval.start))
                                   : nullptr},
                    {"last_run_state", last == "-" ? nlohmann::json(nullptr) : nlohmann::json(last)},
                    {"file", dag.file}});
  }
  nlohmann::json errors = nlohmann::json::array();
  for (const Diagnostic& d : folder.errors) errors.push_back(d.to_string());
  if (ctx.options.json) {
    ctx.out << nlohmann::json{{"dags", json}, {"errors", errors}}.dump(2) << "\n";
    return folder.errors.empty() ? kExitOk : kExitBadInput;
  }
  if (table.empty()) {
    ctx.out << "No DAGs in " << ctx.config().dags_dir << "\n";
  } else {
    table.print(ctx.out);
  }
  if (!folder.errors.empty()) {
    ctx.out << "\nFiles with errors (not loaded):\n";
    for (const Diagnostic& d : folder.errors) ctx.out << "  " << d.to_string() << "\n";
  }
  return kExitOk;
}

/// Tasks in dependency order (upstream first, file order among equals).
std::vector<const Task*> topological(const Dag& dag) {
  std::vector<const Task*> out;
  std::set<std::string> done;
  while (out.size() < dag.tasks.size()) {
    bool progressed = false;
    for (const Task& task : dag.tasks) {
      if (done.count(task.id)) continue;
      bool ready = true;
      for (const std::string& dep : task.depends_on) ready = ready && done.count(dep);
      if (ready) {
        out.push_back(&task);
        done.insert(task.id);
        progressed = true;
      }
    }
    if (!progressed) break;  // a cycle; the loader rejects these
  }
  return out;
}

const Dag find_dag(CliContext& ctx, const std::string& dag_id) {
  FolderLoadResult folder = load_dag_folder(ctx.config().dags_dir);
  std::vector<std::string> ids;
  for (const Dag& dag : folder.dags) {
    if (dag.id == dag_id) return dag;
    ids.push_back(dag.id);
  }
  for (const Diagnostic& d : folder.errors) {
    if (d.file.find(dag_id) != std::string::npos) {
      throw UserError("DAG '" + dag_id + "' has errors:\n" + d.to_string());
    }
  }
  throw NotFoundError("no DAG '" + dag_id + "' in " + ctx.config().dags_dir +
                      did_you_mean(dag_id, ids) + "; `sluice dags list` shows them all" +
                      unloaded_files(folder.errors));
}

int show_dag(CliContext& ctx, const std::string& dag_id) {
  Dag dag = find_dag(ctx, dag_id);
  std::vector<DataInterval> next;
  Timestamp from = std::max(dag.start_date, RealClock().now() - std::chrono::hours(24 * 366));
  if (dag.schedule.kind() != Schedule::Kind::kNone) {
    if (auto last = latest_complete_interval(dag.schedule, dag.bounds(), RealClock().now())) {
      from = last->start + Millis(1);
    } else {
      from = dag.start_date;
    }
    for (int i = 0; i < 5; ++i) {
      auto interval = next_interval_after(dag.schedule, dag.bounds(), from);
      if (!interval) break;
      next.push_back(*interval);
      from = interval->start + Millis(1);
      if (dag.schedule.kind() == Schedule::Kind::kOnce) break;
    }
  }
  if (ctx.options.json) {
    nlohmann::json j = mask_secrets_json(dag_to_json(dag), literal_secrets(dag));
    nlohmann::json intervals = nlohmann::json::array();
    for (const DataInterval& i : next) {
      // data_interval_* as in the API; start and end, older, are the same.
      intervals.push_back({{"data_interval_start", format_iso(i.start)},
                           {"data_interval_end", format_iso(i.end)},
                           {"start", format_iso(i.start)},
                           {"end", format_iso(i.end)}});
    }
    j["next_intervals"] = intervals;
    ctx.out << j.dump(2) << "\n";
    return kExitOk;
  }
  ctx.out << "DAG " << dag.id << "  (" << dag.file << ")\n";
  if (!dag.description.empty()) ctx.out << dag.description << "\n";
  ctx.out << "schedule: " << schedule_text(dag) << " in " << dag.timezone
          << "   catchup: " << (dag.catchup ? "true" : "false")
          << "   max_active_runs: " << dag.max_active_runs
          << "   paused: " << (dag.paused ? "true" : "false") << "\n\n";
  TextTable table({"TASK", "TYPE", "DEPENDS ON", "TRIGGER RULE", "RETRIES", "POOL"});
  for (const Task* task : topological(dag)) {
    table.add({task->id, task->type, task->depends_on.empty() ? "-" : join(task->depends_on, ", "),
               to_string(task->trigger_rule), std::to_string(task->retry.retries), task->pool});
  }
  table.print(ctx.out);
  ctx.out << "\nNext data intervals (" << dag.timezone << "):\n";
  if (next.empty()) ctx.out << "  none (schedule: " << schedule_text(dag) << ")\n";
  for (const DataInterval& i : next) {
    ctx.out << "  " << local_time(i.start, dag) << "  ->  " << local_time(i.end, dag) << "\n";
  }
  return kExitOk;
}

int set_paused(CliContext& ctx, const std::string& dag_id, bool paused) {
  Store& store = ctx.store();
  if (!store.get_dag(dag_id)) {
    std::vector<std::string> ids;
    for (const DagRecord& r : store.list_dags()) ids.push_back(r.dag_id);
    throw NotFoundError("no DAG '" + dag_id + "' in the database" + did_you_mean(dag_id, ids) +
                        " (the scheduler stores DAGs once it has read their files)");
  }
  store.set_paused(dag_id, paused);
  ctx.out << "DAG " << dag_id << (paused ? " paused" : " unpaused") << "\n";
  return kExitOk;
}

}  // namespace

void add_dags_commands(CLI::App& app, CliContext& ctx, CommandResult& result) {
  CLI::App* dags = app.add_subcommand("dags", "Validate, list, show, pause and test DAGs");
  dags->require_subcommand(1);

  auto paths = std::make_shared<std::vector<std::string>>();
  CLI::App* validate_cmd = dags->add_subcommand(
      "validate", "Check DAG files; prints every problem as FILE:LINE:COL: message");
  validate_cmd->add_option("paths", *paths, "Files or folders (default: the DAG folder)");
  validate_cmd->callback([&ctx, &result, paths] { result = validate(ctx, *paths); });

  dags->add_subcommand("list", "DAGs with schedule, paused, next run and last run state")
      ->callback([&ctx, &result] { result = list_dags(ctx); });

  auto dag_id = std::make_shared<std::string>();
  CLI::App* show = dags->add_subcommand("show", "Tasks, dependencies and the next 5 data intervals");
  show->add_option("dag", *dag_id, "DAG id")->required();
  show->callback([&ctx, &result, dag_id] { result = show_dag(ctx, *dag_id); });

  auto pause_id = std::make_shared<std::string>();
  CLI::App* pause = dags->add_subcommand("pause", "Stop creating scheduled runs of a DAG");
  pause->add_option("dag", *pause_id, "DAG id")->required();
  pause->callback([&ctx, &result, pause_id] { result = set_paused(ctx, *pause_id, true); });

  auto unpause_id = std::make_shared<std::string>();
  CLI::App* unpause = dags->add_subcommand("unpause", "Resume scheduled runs of a DAG");
  unpause->add_option("dag", *unpause_id, "DAG id")->required();
  unpause->callback([&ctx, &result, unpause_id] { result = set_paused(ctx, *unpause_id, false); });
}

}  // namespace sluice
