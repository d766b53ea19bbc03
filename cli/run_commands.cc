// sluice trigger | runs ... | tasks ... | dags test
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <thread>

#include <date/date.h>

#include <CLI/CLI.hpp>

#include "cli/cli.h"
#include "cli/table.h"
#include "core/config.h"
#include "core/dag_loader.h"
#include "core/error.h"
#include "core/host.h"
#include "core/record_json.h"
#include "core/store.h"
#include "core/text.h"
#include "core/work_signal.h"
#include "engine/dag_cache.h"
#include "engine/dag_sync.h"
#include "engine/run_factory.h"
#include "engine/task_lookup.h"
#include "engine/trigger.h"
#include "scheduler/scheduler.h"
#include "worker/executor.h"
#include "worker/mapping.h"
#include "worker/task_runner.h"
#include "worker/template_context.h"
#include "worker/worker.h"

namespace sluice {
namespace {

std::string duration_between(const std::optional<Timestamp>& a, const std::optional<Timestamp>& b) {
  if (!a) return "-";
  Timestamp end = b.value_or(RealClock().now());
  return format_duration(std::chrono::duration_cast<Millis>(end - *a));
}

std::string opt_time(const std::optional<Timestamp>& t) { return t ? format_iso(*t) : "-"; }

/// Makes sure the store knows the DAGs of the DAG folder (a CLI run before
/// any scheduler has).
void ensure_dag_stored(CliContext& ctx, Store& store, const std::string& dag_id) {
  if (auto record = store.get_dag(dag_id); record && record->version_id) return;
  std::error_code ec;
  if (!std::filesystem::is_directory(ctx.config().dags_dir, ec)) return;
  DagFolderSync(store, ctx.config().dags_dir).sync(RealClock().now());
}

RunRecord find_run(Store& store, const std::string& dag_id, const std::string& run_id) {
  if (run_id == "latest") {
    // The run created last (the one just triggered), whatever its interval.
    RunFilter filter;
    filter.dag_id = dag_id;
    filter.limit = 1;
    filter.newest_created_first = true;
    auto runs = store.list_runs(filter);
    if (runs.empty()) throw NotFoundError("DAG '" + dag_id + "' has no runs yet");
    return runs.front();
  }
  auto run = store.get_run(dag_id, run_id);
  if (!run) {
    throw NotFoundError("no run '" + run_id + "' of DAG '" + dag_id +
                        "'; `sluice runs list " + dag_id + "` shows its runs");
  }
  return *run;
}

/// Follows a run to its end with a progress line; returns the exit code.
int follow_run(CliContext& ctx, Store& store, const RunRecord& start) {
  auto began = std::chrono::steady_clock::now();
  bool tty = ctx.interactive();
  std::string last_line;
  while (true) {
    auto run = store.get_run_by_pk(start.id);
    if (!run) throw NotFoundError("run " + start.run_id + " disappeared");
    std::map<std::string, int> counts;
    for (const TaskInstanceRecord& ti : store.list_task_instances(run->id)) {
      ++counts[to_string(ti.state)];
    }
    std::string line;
    for (const auto& [state, n] : counts) line += state + " " + std::to_string(n) + "  ";
    int secs = static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(
                                    std::chrono::steady_clock::now() - began)
                                    .count());
    line = "[" + std::to_string(secs) + "s] " + to_string(run->state) + ": " + line;
    if (tty) {
      ctx.out << "\r\033[K" << line << std::flush;
    } else if (line != last_line) {
      ctx.out << line << "\n" << std::flush;
    }
    last_line = line;
    if (is_finished(run->state)) {
      if (tty) ctx.out << "\n";
      ctx.out << "run " << run->run_id << " " << to_string(run->state) << "\n";
      if (run->state != RunState::kSuccess) {
        for (const TaskInstanceRecord& ti : store.list_task_instances(run->id)) {
          if (ti.state == TaskState::kFailed) {
            ctx.out << "  failed: " << ti.task_id << ": " << ti.error << "\n";
          }
        }
      }
      return run->state == RunState::kSuccess ? kExitOk : kExitRunFailed;
    }
    std::this_thread::sleep_for(Millis(tty ? 200 : 500));
  }
}

/// Follows several runs to their end with one progress line (runs per
/// state); exit 0 when every one succeeded, else 2 with each failed task listed.
int follow_runs(CliContext& ctx, Store& store, const std::vector<RunRecord>& started) {
  if (started.size() == 1) return follow_run(ctx, store, started.front());
  auto began = std::chrono::steady_clock::now();
  bool tty = ctx.interactive();
  std::string last_line;
  while (true) {
    std::map<std::string, int> counts;
    std::vector<RunRecord> now;
    for (const RunRecord& r : started) {
      auto run = store.get_run_by_pk(r.id);
      if (!run) throw NotFoundError("run " + r.run_id + " disappeared");
      ++counts[to_string(run->state)];
      now.push_back(*run);
    }
    std::string line;
    for (const auto& [state, n] : counts) line += state + " " + std::to_string(n) + "  ";
    int secs = static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(
                                    std::chrono::steady_clock::now() - began)
                                    .count());
    line = "[" + std::to_string(secs) + "s] " + std::to_string(started.size()) + " runs: " + line;
    if (tty) {
      ctx.out << "\r\033[K" << line << std::flush;
    } else if (line != last_line) {
      ctx.out << line << "\n" << std::flush;
    }
    last_line = line;
    bool all_done = std::all_of(now.begin(), now.end(),
                                [](const RunRecord& r) { return is_finished(r.state); });
    if (all_done) {
      if (tty) ctx.out << "\n";
      int failed = 0;
      for (const RunRecord& run : now) {
        if (run.state == RunState::kSuccess) continue;
        ++failed;
        ctx.out << "run " << run.run_id << " " << to_string(run.state) << "\n";
        for (const TaskInstanceRecord& ti : store.list_task_instances(run.id)) {
          if (ti.state == TaskState::kFailed) {
            ctx.out << "  failed: " << ti.task_id << ": " << ti.error << "\n";
          }
        }
      }
      ctx.out << (now.size() - failed) << " of " << now.size() << " runs succeeded\n";
      return failed == 0 ? kExitOk : kExitRunFailed;
    }
    std::this_thread::sleep_for(Millis(tty ? 200 : 500));
  }
}

void print_task_table(CliContext& ctx, const std::vector<TaskInstanceRecord>& tasks) {
  TextTable table({"TASK", "STATE", "TRY", "STARTED", "DURATION", "ERROR"});
  // A mapped task's instances together, in map order, where its first one is.
  std::map<std::string, size_t> first;
  for (size_t i = 0; i < tasks.size(); ++i) first.emplace(tasks[i].task_id, i);
  std::vector<const TaskInstanceRecord*> ordered;
  for (const TaskInstanceRecord& ti : tasks) ordered.push_back(&ti);
  std::stable_sort(ordered.begin(), ordered.end(), [&](const auto* a, const auto* b) {
    size_t fa = first[a->task_id], fb = first[b->task_id];
    return fa != fb ? fa < fb : a->map_index < b->map_index;
  });
  for (const TaskInstanceRecord* instance : ordered) {
    const TaskInstanceRecord& ti = *instance;
    std::string id = ti.map_index >= 0 ? ti.task_id + "[" + std::to_string(ti.map_index) + "]"
                                       : ti.task_id;
    table.add({id, to_string(ti.state),
               std::to_string(ti.try_number) + "/" + std::to_string(ti.max_tries),
               opt_time(ti.started_at), duration_between(ti.started_at, ti.ended_at),
               ti.error.substr(0, 80)});
  }
  table.print(ctx.out);
}

/// Task ids matching `pattern` plus everything downstream of them.
std::set<std::string> tasks_with_downstream(const Dag& dag, const std::string& pattern) {
  std::set<std::string> selected;
  std::regex re;
  try {
    re = std::regex(pattern);
  } catch (const std::regex_error& e) {
    throw UserError("--task '" + pattern + "' is not a valid regular expression");
  }
  for (const Task& task : dag.tasks) {
    if (pattern.empty() || std::regex_search(task.id, re)) selected.insert(task.id);
  }
  return with_downstream(dag, std::move(selected));
}

/// Writes a try's log lines straight to the terminal (tasks test).
class TerminalLog : public LogWriter {
 public:
  explicit TerminalLog(std::ostream& out) : out_(out) {}
  void write(std::string_view text) override { out_ << text << std::flush; }

 private:
  std::ostream& out_;
};

Dag load_dag_from_folder(CliContext& ctx, const std::string& dag_id, std::string* file) {
  FolderLoadResult folder = load_dag_folder(ctx.config().dags_dir);
  std::vector<std::string> ids;
  for (size_t i = 0; i < folder.dags.size(); ++i) {
    if (folder.dags[i].id == dag_id) {
      if (file) *file = folder.dags[i].file;
      return folder.dags[i];
    }
    ids.push_back(folder.dags[i].id);
  }
  for (const Diagnostic& d : folder.errors) {
    if (d.file.find(dag_id) != std::string::npos) {
      throw UserError("DAG '" + dag_id + "' does not load:\n" + d.to_string());
    }
  }
  throw NotFoundError("no DAG '" + dag_id + "' in " + ctx.config().dags_dir +
                      did_you_mean(dag_id, ids) + unloaded_files(folder.errors));
}

/// sluice tasks watermark: shows, sets (`set`) or removes (`reset`) the mark.
int tasks_watermark(CliContext& ctx, const std::string& dag_id, const std::string& task_id,
                    const std::optional<std::string>& set, bool reset) {
  Dag dag = load_dag_from_folder(ctx, dag_id, nullptr);
  const Task* task = nullptr;
  std::vector<std::string> incremental_ids;
  for (const Task& t : dag.tasks) {
    const auto* extract = std::get_if<ExtractTask>(&t.spec);
    if (extract && extract->incremental) incremental_ids.push_back(t.id);
    if (t.id == task_id) task = &t;
  }
  const auto* extract = task ? std::get_if<ExtractTask>(&task->spec) : nullptr;
  if (!extract || !extract->incremental) {
    throw UserError("task '" + task_id + "' of " + dag_id +
                    (task ? " is not an extract with incremental:" : " does not exist") +
                    did_you_mean(task_id, incremental_ids) +
                    (incremental_ids.empty() ? "; the DAG has no incremental extract"
                                             : "; incremental extracts: " + join(incremental_ids, ", ")));
  }
  Store& store = ctx.store();
  const std::string& column = extract->incremental->column;
  std::string done;
  if (reset) {
    bool had = store.delete_watermark(dag_id, task_id);
    done = had ? "removed the mark" : "there was no mark";
  } else if (set) {
    std::optional<Watermark> old = store.get_watermark(dag_id, task_id);
    Watermark mark = make_watermark(column, *set);
    // A value of the stored mark's kind keeps it (10 stays a number of a number column).
    if (old && old->column == column && old->kind != mark.kind) {
      if (std::optional<std::string> key = watermark_sort_key(old->kind, *set)) {
        mark.kind = old->kind;
        mark.sort_key = *key;
      }
    }
    mark.dag_id = dag_id;
    mark.task_id = task_id;
    mark.updated_at = RealClock().now();
    store.set_watermark(mark);
    done = "set the mark";
  }
  std::optional<Watermark> mark = store.get_watermark(dag_id, task_id);
  if (ctx.options.json) {
    nlohmann::json j = {{"dag_id", dag_id}, {"task_id", task_id}, {"column", column},
                        {"value", nullptr}};
    if (mark) {
      j["column"] = mark->column;
      j["value"] = mark->value;
      j["kind"] = mark->kind;
      j["run_id"] = mark->run_id;
      j["updated_at"] = format_iso(mark->updated_at);
    }
    ctx.out << j.dump(2) << "\n";
    return kExitOk;
  }
  if (!done.empty()) ctx.out << done << "\n";
  if (!mark) {
    ctx.out << dag_id << "." << task_id << ": no high-water mark of " << column
            << " (the next run reads every row)\n";
  } else {
    ctx.out << dag_id << "." << task_id << ": " << mark->column << " = " << mark->value << " ("
            << mark->kind << ", "
            << (mark->run_id.empty() ? std::string("set by hand") : "from " + mark->run_id)
            << " at " << format_iso(mark->updated_at) << ")\n";
  }
  return kExitOk;
}

int tasks_test(CliContext& ctx, const std::string& dag_id, const std::string& task_id,
               const std::string& date) {
  Dag dag = load_dag_from_folder(ctx, dag_id, nullptr);
  const Task* task = dag.find_task(task_id);
  if (!task) {
    std::vector<std::string> ids;
    for (const Task& t : dag.tasks) ids.push_back(t.id);
    throw NotFoundError("DAG '" + dag_id + "' has no task '" + task_id + "'" +
                        did_you_mean(task_id, ids));
  }
  Timestamp now = RealClock().now();
  RunRecord run;
  run.dag_id = dag.id;
  run.type = RunType::kManual;
  run.interval = manual_interval(dag, date.empty() ? std::nullopt : std::optional(date), now);
  run.run_id = "test__" + format_iso(now);
  run.state = RunState::kRunning;
  const Config& config = ctx.config();
  nlohmann::json context = build_template_context(dag, *task, run, 1, config, [] {
    return nlohmann::json::object();
  });
  if (task->map) {
    // A mapped task is tested with its first item (upstream outputs are empty here).
    std::vector<nlohmann::json> items = render_map_items(*task, context, 1);
    if (items.empty()) throw UserError("task '" + task->id + "' maps over no items here");
    context["item"] = items[0];
    context["map_index"] = 0;
    ctx.err << "[sluice] mapped task: testing instance 0, item " << items[0].dump() << "\n";
  }
  std::unique_ptr<TaskExecutor> executor = make_executor(task->type);
  if (!executor) throw UserError("task type '" + task->type + "' cannot run here yet");
  TerminalLog terminal(ctx.out);
  const std::vector<std::string> secrets = task_secrets(config, dag);
  MaskingLogWriter log(terminal, secrets);
  std::atomic<bool> cancel{false};
  RealProcessLauncher launcher;
  RealClock clock;
  TaskContext tctx{dag,    *task,    run,      1,  context, config, log, cancel, launcher,
                   task->is_sensor() ? std::nullopt : task->timeout, {}, std::nullopt, &clock};
  ctx.err << "[sluice] testing " << dag.id << "." << task->id << " for interval "
          << format_iso(run.interval.start) << " (nothing is stored)\n";
  TaskOutcome outcome = executor->execute(tctx);
  log.finish();
  outcome.outputs = mask_secrets_json(std::move(outcome.outputs), secrets);
  for (auto it = outcome.outputs.begin(); it != outcome.outputs.end(); ++it) {
    ctx.err << "[sluice] output " << it.key() << " = " << it.value().dump() << "\n";
  }
  if (outcome.status == TaskOutcome::Status::kSuccess) {
    ctx.err << "[sluice] task succeeded\n";
    return kExitOk;
  }
  ctx.err << "[sluice] task " << (outcome.status == TaskOutcome::Status::kSkipped ? "skipped"
                                  : outcome.status == TaskOutcome::Status::kReschedule
                                      ? "not ready yet (would reschedule)"
                                      : "failed: " + mask_secrets(outcome.error, secrets))
          << "\n";
  return outcome.status == TaskOutcome::Status::kSkipped ? kExitOk : kExitRunFailed;
}

/// Runs a whole DAG in-process on a scratch SQLite store.
int dags_test(CliContext& ctx, const std::string& dag_id, const std::string& date,
              const std::string& conf_text) {
  std::string file;
  Dag dag = load_dag_from_folder(ctx, dag_id, &file);
  nlohmann::json conf = parse_conf_flag(conf_text);
  validate_conf(dag, conf);
  char tmpl[] = "/tmp/sluice-dags-test.XXXXXX";
  if (!mkdtemp(tmpl)) throw Error("cannot create a scratch folder in /tmp");
  std::string scratch = tmpl;
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } cleanup{scratch};
  std::unique_ptr<Store> store = Store::open("sqlite://" + scratch + "/test.db");
  store->migrate();
  LoadResult loaded = load_dag_file(file);
  RealClock clock;
  Timestamp now = clock.now();
  int64_t version = store->upsert_dag(dag.id, file, loaded.content_hash, loaded.content,
                                      dag_to_json(dag), false, dag.max_active_tasks, now);
  DagCache dags(*store);
  TriggerRequest request{dag.id, date.empty() ? std::nullopt : std::optional(date), conf};
  RunRecord run = trigger_run(*store, dags, request, now);
  (void)version;
  ctx.out << "testing DAG " << dag.id << ": run " << run.run_id << " on a scratch store\n";
  const Config& config = ctx.config();
  WorkSignal signal;
  SchedulerOptions sopts;
  sopts.poll_interval = Millis(50);
  // Exactly the one run asked for: no scheduled runs of a scheduled DAG.
  sopts.create_scheduled_runs = false;
  Scheduler scheduler(*store, dags, clock, sopts, &signal);
  RealProcessLauncher launcher;
  WorkerOptions wopts;
  wopts.slots = std::max(1, config.worker.slots);
  wopts.worker_id = "dags-test";
  wopts.poll_interval = Millis(50);
  wopts.heartbeat_interval = Millis(500);
  Worker worker(*store, dags, clock, launcher, config, wopts, &signal, &signal);
  std::atomic<bool> stop{false};
  std::thread scheduler_thread([&] { scheduler.run(stop); });
  std::thread worker_thread([&] { worker.run(stop); });
  while (true) {
    auto current = store->get_run_by_pk(run.id);
    if (current && is_finished(current->state)) break;
    signal.wait(signal.generation(), Millis(100));
  }
  stop = true;
  signal.notify();
  scheduler_thread.join();
  worker_thread.join();
  auto final_run = store->get_run_by_pk(run.id);
  auto tasks = store->list_task_instances(run.id);
  print_task_table(ctx, tasks);
  for (const TaskInstanceRecord& ti : tasks) {
    if (ti.state != TaskState::kFailed) continue;
    LogSlice slice = store->read_log(ti.id, ti.try_number, 0);
    ctx.out << "\n--- log of " << ti.task_id << " (try " << ti.try_number << ") ---\n"
            << slice.data << "\n";
  }
  ctx.out << "run " << to_string(final_run->state) << "\n";
  return final_run->state == RunState::kSuccess ? kExitOk : kExitRunFailed;
}

}  // namespace

void add_run_commands(CLI::App& app, CliContext& ctx, CommandResult& result) {
  // sluice trigger DAG [--date D] [--conf JSON] [--wait]
  struct TriggerArgs {
    std::string dag, date, conf;
    bool wait = false;
  };
  auto targs = std::make_shared<TriggerArgs>();
  CLI::App* trigger = app.add_subcommand("trigger", "Start a manual run of a DAG");
  trigger->add_option("dag", targs->dag, "DAG id")->required();
  trigger->add_option("--date", targs->date,
                      "Data interval: a date (the interval starting that day) or a timestamp "
                      "(the interval containing it); default: the latest complete interval");
  trigger->add_option("--conf", targs->conf, "JSON object overriding the DAG's params");
  trigger->add_flag("--wait", targs->wait, "Follow the run; exit 0 on success, 2 on failure");
  trigger->callback([&ctx, &result, targs] {
    Store& store = ctx.store();
    ensure_dag_stored(ctx, store, targs->dag);
    DagCache dags(store);
    TriggerRequest request{targs->dag,
                           targs->date.empty() ? std::nullopt : std::optional(targs->date),
                           parse_conf_flag(targs->conf)};
    RunRecord run = trigger_run(store, dags, request, RealClock().now());
    if (ctx.options.json && !targs->wait) {
      ctx.out << run_json(run, ctx.config().secrets()).dump(2) << "\n";
    } else {
      ctx.out << "created run " << run.run_id << " of " << run.dag_id << " (data interval "
              << format_iso(run.interval.start) << " .. " << format_iso(run.interval.end)
              << ")\n";
    }
    result = targs->wait ? follow_run(ctx, store, run) : kExitOk;
  });

  // sluice runs list|show|cancel
  CLI::App* runs = app.add_subcommand("runs", "List, show and cancel runs");
  runs->require_subcommand(1);
  struct ListArgs {
    std::string dag, state;
    int limit = 25;
  };
  auto largs = std::make_shared<ListArgs>();
  CLI::App* list = runs->add_subcommand("list", "Runs, newest first");
  list->add_option("dag", largs->dag, "Only this DAG");
  list->add_option("--state", largs->state, "queued, running, success, failed or canceled");
  list->add_option("--limit", largs->limit, "How many (default 25)");
  list->callback([&ctx, &result, largs] {
    RunFilter filter;
    filter.dag_id = largs->dag;
    filter.limit = largs->limit;
    if (!largs->state.empty()) {
      filter.state = parse_run_state(largs->state);
      if (!filter.state) {
        throw UserError("--state '" + largs->state +
                        "' is not a run state: use queued, running, success, failed or canceled");
      }
    }
    std::vector<RunRecord> found = ctx.store().list_runs(filter);
    if (ctx.options.json) {
      nlohmann::json j = nlohmann::json::array();
      const std::vector<std::string> secrets = ctx.config().secrets();
      for (const RunRecord& r : found) j.push_back(run_json(r, secrets));
      ctx.out << j.dump(2) << "\n";
    } else if (found.empty()) {
      ctx.out << "No runs" << (largs->dag.empty() ? "" : " of " + largs->dag) << "\n";
    } else {
      TextTable table({"DAG", "RUN ID", "TYPE", "STATE", "INTERVAL START", "DURATION"});
      for (const RunRecord& r : found) {
        table.add({r.dag_id, r.run_id, to_string(r.type), to_string(r.state),
                   format_iso(r.interval.start), duration_between(r.started_at, r.ended_at)});
      }
      table.print(ctx.out);
    }
    result = kExitOk;
  });

  struct RunArgs {
    std::string dag, run;
  };
  auto sargs = std::make_shared<RunArgs>();
  CLI::App* show = runs->add_subcommand("show", "A run and its task instances");
  show->add_option("dag", sargs->dag, "DAG id")->required();
  show->add_option("run_id", sargs->run, "Run id, or latest")->required();
  show->callback([&ctx, &result, sargs] {
    Store& store = ctx.store();
    RunRecord run = find_run(store, sargs->dag, sargs->run);
    auto tasks = store.list_task_instances(run.id);
    if (ctx.options.json) {
      const std::vector<std::string> secrets = ctx.config().secrets();
      nlohmann::json j = run_json(run, secrets);
      j["tasks"] = nlohmann::json::array();
      for (const auto& ti : tasks) j["tasks"].push_back(task_json(ti, secrets, true));
      j["timezone"] = "UTC";  // as GET /api/v1/dags/D/runs/R says it
      try {
        j["timezone"] = dag_from_json(store.get_version(run.version_id).definition).timezone;
      } catch (const std::exception&) {
        // A definition this binary cannot read: the times are UTC either way.
      }
      ctx.out << j.dump(2) << "\n";
    } else {
      ctx.out << "run " << run.run_id << " of " << run.dag_id << ": " << to_string(run.state)
              << " (" << to_string(run.type) << ")\n"
              << "data interval " << format_iso(run.interval.start) << " .. "
              << format_iso(run.interval.end) << "\n"
              << "started " << opt_time(run.started_at) << ", ended " << opt_time(run.ended_at)
              << ", duration " << duration_between(run.started_at, run.ended_at) << "\n";
      if (!run.conf.empty()) ctx.out << "conf " << run.conf.dump() << "\n";
      ctx.out << "\n";
      print_task_table(ctx, tasks);
    }
    result = kExitOk;
  });

  auto cargs = std::make_shared<RunArgs>();
  CLI::App* cancel = runs->add_subcommand("cancel", "Cancel a run; running tasks are terminated");
  cancel->add_option("dag", cargs->dag, "DAG id")->required();
  cancel->add_option("run_id", cargs->run, "Run id, or latest")->required();
  cancel->callback([&ctx, &result, cargs] {
    Store& store = ctx.store();
    RunRecord run = find_run(store, cargs->dag, cargs->run);
    if (is_finished(run.state)) {
      throw UserError("run " + run.run_id + " already ended (" + to_string(run.state) + ")");
    }
    store.cancel_run(run.id, RealClock().now());
    ctx.out << "canceled run " << run.run_id << " of " << run.dag_id
            << "; running tasks are terminated by their workers\n";
    result = kExitOk;
  });

  // sluice tasks test|clear|logs|mark|watermark
  CLI::App* tasks = app.add_subcommand(
      "tasks", "Test, clear, mark tasks, read their logs and move their watermarks");
  tasks->require_subcommand(1);

  struct TestArgs {
    std::string dag, task, date;
  };
  auto ttargs = std::make_shared<TestArgs>();
  CLI::App* ttest =
      tasks->add_subcommand("test", "Run one task here and now; log to the terminal, store nothing");
  ttest->add_option("dag", ttargs->dag, "DAG id")->required();
  ttest->add_option("task", ttargs->task, "Task id")->required();
  ttest->add_option("--date", ttargs->date, "Data interval (as for trigger)");
  ttest->callback([&ctx, &result, ttargs] {
    result = tasks_test(ctx, ttargs->dag, ttargs->task, ttargs->date);
  });

  struct ClearArgs {
    std::string dag, task, from, to;
    bool failed_only = false;
    bool dry_run = false;
    bool wait = false;
    std::optional<int> index;
  };
  auto clargs = std::make_shared<ClearArgs>();
  CLI::App* clear = tasks->add_subcommand(
      "clear", "Clear task instances (and their downstream) so they run again");
  clear->add_option("dag", clargs->dag, "DAG id")->required();
  clear->add_option("--task", clargs->task, "Regular expression of task ids (default: all)");
  clear->add_option("--from", clargs->from, "First interval start day");
  clear->add_option("--to", clargs->to, "Last interval start day");
  clear->add_flag("--failed-only", clargs->failed_only, "Only failed and upstream_failed tasks");
  clear->add_option("--map-index,--index", clargs->index,
                    "Only this map index of the --task mapped task (its downstream in full)");
  clear->add_flag("--dry-run", clargs->dry_run,
                  "List the task instances that would be cleared; change nothing");
  clear->add_flag("--wait", clargs->wait,
                  "Follow the cleared runs to their end; exit 0 when all succeed, 2 otherwise");
  clear->callback([&ctx, &result, clargs] {
    if (clargs->index && clargs->task.empty()) {
      throw UserError("--map-index needs --task: name the mapped task whose instance to clear");
    }
    if (clargs->dry_run && clargs->wait) {
      throw UserError("--dry-run changes nothing, so there is nothing to --wait for; use one");
    }
    Store& store = ctx.store();
    DagCache dags(store);
    Timestamp now = RealClock().now();
    RunFilter filter;
    filter.dag_id = clargs->dag;
    filter.limit = 100000;
    std::optional<Timestamp> from, to;
    std::vector<RunRecord> found = store.list_runs(filter);
    if (found.empty()) throw NotFoundError("DAG '" + clargs->dag + "' has no runs to clear");
    auto dag0 = dags.get(found.front().version_id);
    const date::time_zone* zone = dag0->schedule.zone();
    if (!clargs->from.empty()) {
      from = parse_timestamp(clargs->from, zone);
      if (!from) throw UserError("--from '" + clargs->from + "' is not a date");
    }
    if (!clargs->to.empty()) {
      to = parse_timestamp(clargs->to, zone);
      if (!to) throw UserError("--to '" + clargs->to + "' is not a date");
      // Through the end of that local day (23 or 25 hours when the clocks change).
      if (is_bare_date(clargs->to)) {
        *to = to_utc(zone, date::floor<date::days>(to_local(zone, *to)) + date::days{1}) -
              Millis(1);
      }
    }
    int cleared = 0;
    std::vector<RunRecord> touched;
    nlohmann::json would = nlohmann::json::array();
    TextTable preview({"RUN", "TASK", "STATE", "TRY"});
    for (const RunRecord& run : found) {
      if (from && run.interval.start < *from) continue;
      if (to && run.interval.start > *to) continue;
      auto dag = dags.get(run.version_id);
      std::set<std::string> selected = tasks_with_downstream(*dag, clargs->task);
      std::vector<int64_t> ids;
      for (const TaskInstanceRecord& ti : store.list_task_instances(run.id)) {
        if (!selected.count(ti.task_id)) continue;
        // --index: of the tasks --task names, only that instance.
        if (clargs->index && ti.map_index != *clargs->index &&
            std::regex_search(ti.task_id, std::regex(clargs->task))) {
          continue;
        }
        if (ti.state == TaskState::kRunning || ti.state == TaskState::kQueued) continue;
        if (clargs->failed_only && ti.state != TaskState::kFailed &&
            ti.state != TaskState::kUpstreamFailed) {
          continue;
        }
        ids.push_back(ti.id);
        if (clargs->dry_run) {
          std::string id = ti.map_index >= 0
                               ? ti.task_id + "[" + std::to_string(ti.map_index) + "]"
                               : ti.task_id;
          preview.add({run.run_id, id, to_string(ti.state), std::to_string(ti.try_number)});
          would.push_back({{"run_id", run.run_id},
                           {"task_id", ti.task_id},
                           {"map_index", ti.map_index},
                           {"state", to_string(ti.state)},
                           {"try_number", ti.try_number}});
        }
      }
      if (ids.empty()) continue;
      touched.push_back(run);
      if (clargs->dry_run) {
        cleared += static_cast<int>(ids.size());
        continue;
      }
      cleared += store.clear_task_instances(run.id, ids, make_decider(dag, now), now);
    }
    if (clargs->dry_run) {
      if (ctx.options.json) {
        ctx.out << would.dump(2) << "\n";
      } else {
        if (cleared > 0) preview.print(ctx.out);
        ctx.out << "would clear " << cleared << " task instance(s) in " << touched.size()
                << " run(s); nothing was changed\n";
      }
      result = kExitOk;
      return;
    }
    ctx.out << "cleared " << cleared << " task instance(s) in " << touched.size() << " run(s)\n";
    result = clargs->wait && !touched.empty() ? follow_runs(ctx, store, touched) : kExitOk;
  });

  struct LogArgs {
    std::string dag, run, task;
    int try_number = 0;
    std::optional<int> index;
    bool follow = false;
  };
  auto lgargs = std::make_shared<LogArgs>();
  CLI::App* logs = tasks->add_subcommand("logs", "Print a task's log");
  logs->add_option("dag", lgargs->dag, "DAG id")->required();
  logs->add_option("run_id", lgargs->run, "Run id, or latest")->required();
  logs->add_option("task", lgargs->task, "Task id")->required();
  logs->add_option("--try", lgargs->try_number, "Try number (default: the latest)");
  logs->add_option("--map-index,--index", lgargs->index,
                   "Which instance of a mapped task (its map index)");
  logs->add_flag("--follow", lgargs->follow, "Keep printing while the task runs");
  logs->callback([&ctx, &result, lgargs] {
    Store& store = ctx.store();
    RunRecord run = find_run(store, lgargs->dag, lgargs->run);
    auto tis = store.list_task_instances(run.id);
    TaskInstanceRecord ti = find_task_instance(tis, run.run_id, lgargs->task, lgargs->index);
    int try_number = lgargs->try_number > 0 ? lgargs->try_number : std::max(1, ti.try_number);
    int64_t offset = 0;
    while (true) {
      LogSlice slice = store.read_log(ti.id, try_number, offset);
      ctx.out << slice.data << std::flush;
      offset = slice.next_offset;
      if (!slice.data.empty()) continue;
      if (!lgargs->follow) break;
      auto current = store.get_task_instance(ti.id);
      if (!current || current->try_number != try_number ||
          current->state != TaskState::kRunning) {
        LogSlice rest = store.read_log(ti.id, try_number, offset);
        ctx.out << rest.data << std::flush;
        break;
      }
      std::this_thread::sleep_for(Millis(300));
    }
    result = kExitOk;
  });

  struct MarkArgs {
    std::string dag, run, task, state;
    std::optional<int> index;
  };
  auto margs = std::make_shared<MarkArgs>();
  CLI::App* mark = tasks->add_subcommand("mark", "Set a task instance to success or failed");
  mark->add_option("dag", margs->dag, "DAG id")->required();
  mark->add_option("run_id", margs->run, "Run id, or latest")->required();
  mark->add_option("task", margs->task, "Task id")->required();
  mark->add_option("state", margs->state, "success or failed")->required();
  mark->add_option("--map-index,--index", margs->index,
                   "Which instance of a mapped task (its map index)");
  mark->callback([&ctx, &result, margs] {
    if (margs->state != "success" && margs->state != "failed") {
      throw UserError("state '" + margs->state + "' cannot be set by hand: use success or failed");
    }
    Store& store = ctx.store();
    DagCache dags(store);
    RunRecord run = find_run(store, margs->dag, margs->run);
    auto tis = store.list_task_instances(run.id);
    const TaskInstanceRecord& ti = find_task_instance(tis, run.run_id, margs->task, margs->index);
    Timestamp now = RealClock().now();
    store.mark_task_instance(ti.id, *parse_task_state(margs->state),
                             "cli: " + user_name() + "@" + host_name(),
                             make_decider(dags.get(run.version_id), now), now);
    std::string id = ti.map_index >= 0 ? ti.task_id + "[" + std::to_string(ti.map_index) + "]"
                                       : ti.task_id;
    ctx.out << "marked " << id << " of " << run.run_id << " " << margs->state
            << " (its tries keep their times)\n";
    result = kExitOk;
  });

  // sluice tasks watermark DAG TASK [--set VALUE | --reset]
  struct WatermarkArgs {
    std::string dag, task, set;
    bool reset = false;
  };
  auto wargs = std::make_shared<WatermarkArgs>();
  CLI::App* watermark = tasks->add_subcommand(
      "watermark",
      "Show an incremental extract's high-water mark, or move it (--set VALUE, --reset)");
  watermark->add_option("dag", wargs->dag, "DAG id")->required();
  watermark->add_option("task", wargs->task, "Task id (an extract with incremental:)")->required();
  CLI::Option* set_opt = watermark->add_option(
      "--set", wargs->set,
      "Set the mark to VALUE (backwards too): the next run reads rows above it");
  watermark->add_flag("--reset", wargs->reset, "Remove the mark: the next run reads every row")
      ->excludes(set_opt);
  watermark->callback([&ctx, &result, wargs, set_opt] {
    result = tasks_watermark(ctx, wargs->dag, wargs->task,
                             set_opt->count() ? std::optional(wargs->set) : std::nullopt,
                             wargs->reset);
  });

  // sluice dags test DAG [--date D]
  struct DagTestArgs {
    std::string dag, date, conf;
  };
  auto dtargs = std::make_shared<DagTestArgs>();
  CLI::App* dags_cmd = nullptr;
  for (CLI::App* sub : app.get_subcommands({})) {
    if (sub->get_name() == "dags") dags_cmd = sub;
  }
  if (dags_cmd) {
    CLI::App* dtest = dags_cmd->add_subcommand(
        "test", "Run the whole DAG here, in-process, on a scratch store (for CI)");
    dtest->add_option("dag", dtargs->dag, "DAG id")->required();
    dtest->add_option("--date", dtargs->date, "Data interval (as for trigger)");
    dtest->add_option("--conf", dtargs->conf, "JSON object overriding params");
    dtest->callback([&ctx, &result, dtargs] {
      result = dags_test(ctx, dtargs->dag, dtargs->date, dtargs->conf);
    });
  }
}

}  // namespace sluice
