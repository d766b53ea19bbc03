#include "tests/model/driver.h"

#include <atomic>
#include <chrono>
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
  ScriptedLauncher(const Scenario& scenario, std::map<std::string, int> run_index)
      : scenario_(scenario), run_index_(std::move(run_index)) {}

  ProcessResult run(const ProcessSpec& spec, const OutputSink& on_output,
                    const std::atomic<bool>& /*cancel*/,
                    const std::function<void(int pid)>& /*on_start*/) override {
    Try tr;
    std::string error;
    try {
      tr.run = run_index_.at(spec.env.at("SLUICE_RUN_ID"));
      tr.task = std::stoi(spec.env.at("SLUICE_TASK_ID").substr(1));
      tr.try_number = std::stoi(spec.env.at("SLUICE_TRY_NUMBER"));
      const std::string& command = spec.argv.back();  // "run" or "run N"
      if (command.size() > 4) tr.map_index = std::stoi(command.substr(4));
    } catch (const std::exception& e) {
      error = std::string("the fake launcher cannot tell which try this is: ") + e.what();
    }
    tr.start = clock_.fetch_add(1) + 1;
    // A short pause on some tries lets other slots interleave with this one.
    const uint64_t mix = (scenario_.seed * 31 + static_cast<uint64_t>(tr.task) * 7 +
                          static_cast<uint64_t>(tr.run) * 13 + static_cast<uint64_t>(tr.try_number) +
                          static_cast<uint64_t>(tr.map_index + 1) * 17) % 8;
    if (mix < 3) std::this_thread::sleep_for(std::chrono::microseconds(300 * (mix + 1)));
    ProcessResult result;
    if (error.empty()) {
      const int fails = scenario_.fails[tr.run][tr.task][std::max(0, tr.map_index)];
      result.exit_code = tr.try_number <= fails ? 1 : 0;
      on_output(result.exit_code == 0 ? "ok\n" : "planned failure\n");
    } else {
      result.exit_code = 1;
    }
    tr.end = clock_.fetch_add(1) + 1;
    std::lock_guard<std::mutex> lock(mu_);
    tries_.push_back(tr);
    if (!error.empty()) errors_.push_back(error);
    return result;
  }

  std::vector<Try> tries() {
    std::lock_guard<std::mutex> lock(mu_);
    return tries_;
  }
  std::vector<std::string> errors() {
    std::lock_guard<std::mutex> lock(mu_);
    return errors_;
  }

 private:
  const Scenario& scenario_;
  std::map<std::string, int> run_index_;
  std::atomic<uint64_t> clock_{0};
  std::mutex mu_;
  std::vector<Try> tries_;         // GUARDED_BY(mu_)
  std::vector<std::string> errors_;  // GUARDED_BY(mu_)
};

}  // namespace

Observed drive(const Scenario& scenario, Store& store, Millis timeout) {
  Observed observed;
  const std::string yaml = to_yaml(scenario);
  const std::string file = "/model/" + dag_id(scenario) + ".yaml";
  LoadResult loaded = load_dag_text(file, yaml);
  if (!loaded.dag) {
    observed.errors.push_back("the scenario's DAG does not load: " +
                              (loaded.errors.empty() ? "" : loaded.errors[0].to_string()));
    return observed;
  }
  RealClock clock;
  const Timestamp now = clock.now();
  store.set_pools({{"default", 128}, {pool_name(scenario), scenario.pool_slots}});
  const int64_t version = store.upsert_dag(loaded.dag->id, file, loaded.content_hash, yaml,
                                           dag_to_json(*loaded.dag), false,
                                           loaded.dag->max_active_tasks, now);
  DagCache dags(store);
  std::shared_ptr<const Dag> dag = dags.get(version);
  std::shared_ptr<const DagIndex> index = dags.index(version);

  // Daily intervals from 2026-01-01, created as scheduled runs (so that
  // depends_on_past has a previous interval), queued for the scheduler.
  const Timestamp day0 = *parse_timestamp("2026-01-01T00:00:00Z");
  std::vector<NewRun> new_runs;
  std::map<std::string, int> run_index;
  for (int r = 0; r < scenario.runs; ++r) {
    DataInterval interval{day0 + std::chrono::hours(24 * r), day0 + std::chrono::hours(24 * (r + 1))};
    std::string run_id = make_run_id(RunType::kScheduled, interval.start);
    new_runs.push_back(make_new_run(*dag, version, RunType::kScheduled, interval,
                                    nlohmann::json::object(), run_id));
    run_index[run_id] = r;
  }

  ScriptedLauncher launcher(scenario, run_index);
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

  std::vector<int64_t> run_pks;
  try {
    for (const NewRun& run : new_runs) {
      auto created = store.create_run(run, make_decider(dag, index, clock.now()), clock.now());
      if (!created) throw std::runtime_error("run " + run.run_id + " already exists");
      run_pks.push_back(created->id);
      runs_signal.notify();
    }
  } catch (const std::exception& e) {
    observed.errors.push_back(std::string("creating the runs failed: ") + e.what());
  }

  // Settled: every run ended, or nothing has been queued or running (and no
  // try has started) for a while, so what is left waits forever.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto quiet_since = std::chrono::steady_clock::now();
  size_t tries_seen = 0;
  while (observed.errors.empty()) {
    bool all_ended = true, busy = false;
    for (int64_t pk : run_pks) {
      auto run = store.get_run_by_pk(pk);
      if (!run || !is_finished(run->state)) all_ended = false;
      if (run && run->state == RunState::kRunning) {
        for (const TaskInstanceRecord& ti : store.list_task_instances(pk)) {
          if (ti.state != TaskState::kNone && !is_finished(ti.state)) busy = true;
        }
      }
    }
    if (all_ended) break;
    size_t tries_now = launcher.tries().size();
    if (busy || tries_now != tries_seen) quiet_since = std::chrono::steady_clock::now();
    tries_seen = tries_now;
    if (std::chrono::steady_clock::now() - quiet_since > Millis(300)) break;
    if (std::chrono::steady_clock::now() > deadline) {
      observed.errors.push_back("the runs did not settle within " + format_duration(timeout));
      break;
    }
    std::this_thread::sleep_for(Millis(2));
  }
  stop = true;
  tasks_signal.notify();
  runs_signal.notify();
  scheduler_thread.join();
  first_thread.join();
  second_thread.join();

  observed.tries = launcher.tries();
  for (const std::string& e : launcher.errors()) observed.errors.push_back(e);
  for (int64_t pk : run_pks) {
    auto run = store.get_run_by_pk(pk);
    observed.runs.push_back(run ? *run : RunRecord{});
    observed.instances.push_back(store.list_task_instances(pk));
  }
  return observed;
}

}  // namespace sluice::model
