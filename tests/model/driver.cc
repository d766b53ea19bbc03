#include "tests/model/driver.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <mutex>
#include <thread>

#include "core/config.h"
#include "core/dag_loader.h"
#include "core/work_signal.h"
#include "scheduler/dag_cache.h"
#include "scheduler/run_factory.h"
#include "scheduler/scheduler.h"
#include "worker/task_runner.h"
#include "worker/worker.h"

namespace sluice::model {
namespace {

/// Plays each try's planned outcome instead of starting a process, and
/// records when it started and ended on one logical clock shared by every
/// slot of both workers.
class ScriptedLauncher : public ProcessLauncher {
 public:
  /// `scenarios` by DAG id, each with its run ids by run index.
  struct Entry {
    const Scenario* scenario = nullptr;
    size_t slot = 0;  // position in the batch
    std::map<std::string, int> run_index;
  };
  explicit ScriptedLauncher(std::map<std::string, Entry> entries, size_t batch)
      : entries_(std::move(entries)), tries_(batch), errors_(batch) {}

  ProcessResult run(const ProcessSpec& spec, const OutputSink& on_output,
                    const std::atomic<bool>& /*cancel*/,
                    const std::function<void(int pid)>& /*on_start*/) override {
    Try tr;
    const Entry* entry = nullptr;
    std::string error;
    try {
      entry = &entries_.at(spec.env.at("SLUICE_DAG_ID"));
      tr.run = entry->run_index.at(spec.env.at("SLUICE_RUN_ID"));
      tr.task = std::stoi(spec.env.at("SLUICE_TASK_ID").substr(1));
      tr.try_number = std::stoi(spec.env.at("SLUICE_TRY_NUMBER"));
      const std::string& command = spec.argv.back();  // "run" or "run N"
      if (command.size() > 4) tr.map_index = std::stoi(command.substr(4));
    } catch (const std::exception& e) {
      error = std::string("the fake launcher cannot tell which try this is: ") + e.what();
    }
    tr.start = clock_.fetch_add(1) + 1;
    ProcessResult result;
    result.exit_code = 1;
    if (error.empty()) {
      const Scenario& scenario = *entry->scenario;
      // A short pause on some tries lets other slots interleave with this one.
      const uint64_t mix = (scenario.seed * 31 + static_cast<uint64_t>(tr.task) * 7 +
                            static_cast<uint64_t>(tr.run) * 13 +
                            static_cast<uint64_t>(tr.try_number) +
                            static_cast<uint64_t>(tr.map_index + 1) * 17) % 8;
      if (mix < 3) std::this_thread::sleep_for(std::chrono::microseconds(300 * (mix + 1)));
      const int fails = scenario.fails.at(tr.run).at(tr.task).at(std::max(0, tr.map_index));
      result.exit_code = tr.try_number <= fails ? 1 : 0;
      on_output(result.exit_code == 0 ? "ok\n" : "planned failure\n");
    }
    tr.end = clock_.fetch_add(1) + 1;
    std::lock_guard<std::mutex> lock(mu_);
    if (entry) tries_[entry->slot].push_back(tr);
    if (!error.empty()) errors_[entry ? entry->slot : 0].push_back(error);
    return result;
  }

  size_t tries_started() const { return clock_.load(); }
  std::vector<Try> tries(size_t slot) {
    std::lock_guard<std::mutex> lock(mu_);
    return tries_[slot];
  }
  std::vector<std::string> errors(size_t slot) {
    std::lock_guard<std::mutex> lock(mu_);
    return errors_[slot];
  }

 private:
  const std::map<std::string, Entry> entries_;
  std::atomic<uint64_t> clock_{0};
  std::mutex mu_;
  std::vector<std::vector<Try>> tries_;         // GUARDED_BY(mu_)
  std::vector<std::vector<std::string>> errors_;  // GUARDED_BY(mu_)
};

/// Whether the runs of a batch have ended, and whether one still has work
/// that the scheduler or a worker must take up: a task queued, running or
/// waiting to retry, or a queued run with room under max_active_runs (the
/// scheduler must start it). Otherwise what is left waits forever.
struct Activity {
  bool all_ended = true;
  bool busy = false;
};
Activity look(Store& store, const std::vector<Scenario>& batch,
              const std::vector<std::vector<int64_t>>& run_pks) {
  Activity a;
  for (size_t b = 0; b < batch.size(); ++b) {
    int running = 0, startable = 0;
    for (int64_t pk : run_pks[b]) {
      auto run = store.get_run_by_pk(pk);
      if (!run || !is_finished(run->state)) a.all_ended = false;
      if (!run) continue;
      if (run->state == RunState::kQueued) ++startable;
      if (run->state != RunState::kRunning) continue;
      ++running;
      for (const TaskInstanceRecord& ti : store.list_task_instances(pk)) {
        if (ti.state != TaskState::kNone && !is_finished(ti.state)) a.busy = true;
      }
    }
    if (startable > 0 && running < batch[b].max_active_runs) a.busy = true;
  }
  return a;
}

}  // namespace

std::vector<Observed> drive(const std::vector<Scenario>& batch, Store& store, Millis timeout) {
  std::vector<Observed> observed(batch.size());
  RealClock clock;
  std::map<std::string, int> pools = {{"default", 128}};
  for (const Scenario& scenario : batch) pools[pool_name(scenario)] = scenario.pool_slots;
  store.set_pools(pools);
  DagCache dags(store);

  // Each scenario's DAG, and its runs: daily intervals from 2026-01-01,
  // created as scheduled runs (so that depends_on_past has a previous
  // interval), queued for the scheduler.
  const Timestamp day0 = *parse_timestamp("2026-01-01T00:00:00Z");
  std::map<std::string, ScriptedLauncher::Entry> entries;
  struct Pending {
    std::shared_ptr<const Dag> dag;
    std::shared_ptr<const DagIndex> index;
    std::vector<NewRun> runs;
  };
  std::vector<Pending> pending(batch.size());
  for (size_t b = 0; b < batch.size(); ++b) {
    const Scenario& scenario = batch[b];
    const std::string yaml = to_yaml(scenario);
    const std::string file = "/model/" + dag_id(scenario) + ".yaml";
    LoadResult loaded = load_dag_text(file, yaml);
    if (!loaded.dag) {
      observed[b].errors.push_back("the scenario's DAG does not load: " +
                                   (loaded.errors.empty() ? "" : loaded.errors[0].to_string()));
      continue;
    }
    const int64_t version = store.upsert_dag(loaded.dag->id, file, loaded.content_hash, yaml,
                                             dag_to_json(*loaded.dag), false,
                                             loaded.dag->max_active_tasks, clock.now());
    pending[b].dag = dags.get(version);
    pending[b].index = dags.index(version);
    ScriptedLauncher::Entry& entry = entries[dag_id(scenario)];
    entry.scenario = &scenario;
    entry.slot = b;
    for (int r = 0; r < scenario.runs; ++r) {
      DataInterval interval{day0 + std::chrono::hours(24 * r),
                            day0 + std::chrono::hours(24 * (r + 1))};
      std::string run_id = make_run_id(RunType::kScheduled, interval.start);
      pending[b].runs.push_back(make_new_run(*pending[b].dag, version, RunType::kScheduled,
                                             interval, nlohmann::json::object(), run_id));
      entry.run_index[run_id] = r;
    }
  }

  ScriptedLauncher launcher(entries, batch.size());
  Config config;
  WorkSignal tasks_signal, runs_signal;
  SchedulerOptions options;
  options.scheduler_id = "model";
  options.poll_interval = Millis(5);
  options.idle_poll_interval = Millis(20);
  options.dag_refresh_interval = Millis(50);
  // depends_on_past waits are re-decided by the reconcile pass.
  options.reconcile_interval = Millis(20);
  options.heartbeat_timeout = Millis(120000);
  Scheduler scheduler(store, dags, clock, options, &runs_signal, &tasks_signal);
  auto worker_options = [&](const std::string& id, int slots) {
    WorkerOptions w;
    w.worker_id = id;
    w.slots = slots;
    w.poll_interval = Millis(20);
    w.heartbeat_interval = Millis(1000);
    w.kill_grace = Millis(100);
    return w;
  };
  Worker first(store, dags, clock, launcher, config, worker_options("model-a", 3), &tasks_signal,
               &runs_signal);
  Worker second(store, dags, clock, launcher, config, worker_options("model-b", 2), &tasks_signal,
                &runs_signal);
  std::atomic<bool> stop{false};
  std::thread scheduler_thread([&] { scheduler.run(stop); });
  std::thread first_thread([&] { first.run(stop); });
  std::thread second_thread([&] { second.run(stop); });

  // Runs are created while the workers already run, one scenario after the
  // other, so that scenarios interleave.
  std::vector<std::vector<int64_t>> run_pks(batch.size());
  for (size_t b = 0; b < batch.size(); ++b) {
    try {
      for (const NewRun& run : pending[b].runs) {
        auto created = store.create_run(
            run, make_decider(pending[b].dag, pending[b].index, clock.now()), clock.now());
        if (!created) throw std::runtime_error("run " + run.run_id + " already exists");
        run_pks[b].push_back(created->id);
        runs_signal.notify();
      }
    } catch (const std::exception& e) {
      observed[b].errors.push_back(std::string("creating the runs failed: ") + e.what());
    }
  }

  // Settled: every run ended, or nothing has been queued or running (and no
  // try has started) for a while, so what is left waits forever.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto quiet_since = std::chrono::steady_clock::now();
  size_t tries_seen = 0;
  while (true) {
    const Activity activity = look(store, batch, run_pks);
    const bool busy = activity.busy;
    if (activity.all_ended) break;
    size_t tries_now = launcher.tries_started();
    if (busy || tries_now != tries_seen) quiet_since = std::chrono::steady_clock::now();
    tries_seen = tries_now;
    if (std::chrono::steady_clock::now() - quiet_since > Millis(300)) break;
    if (std::chrono::steady_clock::now() > deadline) {
      for (Observed& o : observed) {
        o.errors.push_back("the runs did not settle within " + format_duration(timeout));
      }
      break;
    }
    std::this_thread::sleep_for(busy ? Millis(5) : Millis(2));
  }
  stop = true;
  tasks_signal.notify();
  runs_signal.notify();
  scheduler_thread.join();
  first_thread.join();
  second_thread.join();

  for (size_t b = 0; b < batch.size(); ++b) {
    observed[b].tries = launcher.tries(b);
    for (const std::string& e : launcher.errors(b)) observed[b].errors.push_back(e);
    for (int64_t pk : run_pks[b]) {
      auto run = store.get_run_by_pk(pk);
      observed[b].runs.push_back(run ? *run : RunRecord{});
      observed[b].instances.push_back(store.list_task_instances(pk));
      // What a failing scenario left queued must not reach a later batch's workers.
      if (run && !is_finished(run->state)) store.cancel_run(pk, clock.now());
    }
  }
  return observed;
}

}  // namespace sluice::model

namespace sluice::model {

std::vector<Observed> drive_processes(const std::vector<Scenario>& batch, Store& store,
                                      const std::string& dir, Millis timeout) {
  std::vector<Observed> observed(batch.size());
  const std::string events = dir + "/events", plan = dir + "/plan", script = dir + "/task.sh";
  {
    // The try's own record of its start and end, and its planned exit.
    std::ofstream out(script);
    out << "m=${1:--1}\n"
        << "echo \"S $SLUICE_DAG_ID $SLUICE_RUN_ID $SLUICE_TASK_ID $m $SLUICE_TRY_NUMBER\" >> "
        << events << "\n"
        << "f=$(grep -m1 \"^$SLUICE_DAG_ID $SLUICE_RUN_ID $SLUICE_TASK_ID $m \" " << plan
        << " | cut -d' ' -f5)\n"
        << "echo \"E $SLUICE_DAG_ID $SLUICE_RUN_ID $SLUICE_TASK_ID $m $SLUICE_TRY_NUMBER\" >> "
        << events << "\n"
        << "[ \"$SLUICE_TRY_NUMBER\" -gt \"${f:-0}\" ]\n";
  }
  std::remove(events.c_str());
  const Timestamp day0 = *parse_timestamp("2026-01-01T00:00:00Z");
  std::map<std::string, std::pair<size_t, std::map<std::string, int>>> by_dag;
  {
    std::ofstream out(plan);
    for (size_t b = 0; b < batch.size(); ++b) {
      const Scenario& s = batch[b];
      auto& [slot, runs] = by_dag[dag_id(s)];
      slot = b;
      for (int r = 0; r < s.runs; ++r) {
        std::string run_id =
            make_run_id(RunType::kScheduled, day0 + std::chrono::hours(24 * r));
        runs[run_id] = r;
        for (size_t t = 0; t < s.tasks.size(); ++t) {
          for (size_t i = 0; i < s.fails[r][t].size(); ++i) {
            int m = s.tasks[t].map_items < 0 ? -1 : static_cast<int>(i);
            out << dag_id(s) << " " << run_id << " " << task_id(static_cast<int>(t)) << " " << m
                << " " << s.fails[r][t][i] << "\n";
          }
        }
      }
    }
  }
  // The DAG files; the scheduler stores them on its next scan.
  for (const Scenario& s : batch) {
    std::ofstream(dir + "/dags/" + dag_id(s) + ".yaml") << to_yaml(s, "sh " + script);
  }
  std::map<std::string, int> pools = {{"default", 128}};
  for (const Scenario& s : batch) pools[pool_name(s)] = s.pool_slots;
  store.set_pools(pools);
  DagCache dags(store);
  RealClock clock;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<std::vector<int64_t>> run_pks(batch.size());
  for (size_t b = 0; b < batch.size(); ++b) {
    const Scenario& s = batch[b];
    std::optional<DagRecord> record;
    while (!(record = store.get_dag(dag_id(s))) || !record->version_id) {
      if (std::chrono::steady_clock::now() > deadline) break;
      std::this_thread::sleep_for(Millis(20));
    }
    if (!record || !record->version_id) {
      observed[b].errors.push_back("the scheduler never stored " + dag_id(s));
      continue;
    }
    auto dag = dags.get(*record->version_id);
    auto index = dags.index(*record->version_id);
    for (int r = 0; r < s.runs; ++r) {
      DataInterval interval{day0 + std::chrono::hours(24 * r),
                            day0 + std::chrono::hours(24 * (r + 1))};
      NewRun run = make_new_run(*dag, *record->version_id, RunType::kScheduled, interval,
                                nlohmann::json::object(),
                                make_run_id(RunType::kScheduled, interval.start));
      auto created = store.create_run(run, make_decider(dag, index, clock.now()), clock.now());
      if (created) run_pks[b].push_back(created->id);
    }
  }
  auto quiet_since = std::chrono::steady_clock::now();
  uintmax_t events_seen = 0;
  while (true) {
    const Activity activity = look(store, batch, run_pks);
    const bool busy = activity.busy;
    if (activity.all_ended) break;
    std::error_code ec;
    uintmax_t size = std::filesystem::file_size(events, ec);
    if (busy || size != events_seen) quiet_since = std::chrono::steady_clock::now();
    events_seen = size;
    if (std::chrono::steady_clock::now() - quiet_since > Millis(1500)) break;
    if (std::chrono::steady_clock::now() > deadline) {
      for (Observed& o : observed) {
        o.errors.push_back("the runs did not settle within " + format_duration(timeout));
      }
      break;
    }
    std::this_thread::sleep_for(Millis(20));
  }
  // Each line of the events file is one tick of the clock.
  std::ifstream in(events);
  std::string line;
  uint64_t tick = 0;
  std::map<std::tuple<std::string, int, int, int, int>, Try> open;
  while (std::getline(in, line)) {
    ++tick;
    std::istringstream fields(line);
    std::string kind, dag, run_id, task;
    int map_index = -1, try_number = 0;
    fields >> kind >> dag >> run_id >> task >> map_index >> try_number;
    auto found = by_dag.find(dag);
    if (found == by_dag.end() || !found->second.second.count(run_id) || task.size() < 2) continue;
    const size_t slot = found->second.first;
    const int run = found->second.second.at(run_id);
    const int t = std::stoi(task.substr(1));
    auto key = std::make_tuple(dag, run, t, map_index, try_number);
    if (kind == "S") {
      Try tr;
      tr.run = run;
      tr.task = t;
      tr.map_index = map_index;
      tr.try_number = try_number;
      tr.start = tick;
      if (open.count(key)) observed[slot].errors.push_back("a try started twice: " + line);
      open[key] = tr;
    } else if (kind == "E" && open.count(key)) {
      Try tr = open[key];
      open.erase(key);
      tr.end = tick;
      observed[slot].tries.push_back(tr);
    }
  }
  for (size_t b = 0; b < batch.size(); ++b) {
    for (int64_t pk : run_pks[b]) {
      auto run = store.get_run_by_pk(pk);
      observed[b].runs.push_back(run ? *run : RunRecord{});
      observed[b].instances.push_back(store.list_task_instances(pk));
    }
  }
  return observed;
}

}  // namespace sluice::model
