#include "tests/model/driver.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "core/config.h"
#include "core/dag_loader.h"
#include "core/work_signal.h"
#include "engine/dag_cache.h"
#include "engine/run_factory.h"
#include "scheduler/scheduler.h"
#include "worker/task_runner.h"
#include "worker/worker.h"

namespace sluice::model {
namespace {

/// Plays each try's planned outcome instead of starting a process, and
/// records when it started and ended on one logical clock shared by every
/// slot of both workers. Scenarios are added batch by batch; each keeps its
/// own record of tries, by DAG id.
class ScriptedLauncher : public ProcessLauncher {
 public:
  void add(const Scenario& scenario, std::map<std::string, int> run_index) {
    std::lock_guard<std::mutex> lock(mu_);
    Entry& entry = entries_[dag_id(scenario)];
    entry.scenario = scenario;
    entry.run_index = std::move(run_index);
  }

  /// `mark` makes the scenario's mark before the start: it is called inside
  /// the first try of the mark's upstream task, which waits for it.
  void set_mark(const Scenario& scenario, std::function<void()> mark) {
    std::lock_guard<std::mutex> lock(mu_);
    entries_[dag_id(scenario)].mark = std::move(mark);
  }

  /// The scenario's clear is about to happen: from now on the tries of its
  /// cleared instances numbered above their number in `before` (the run's
  /// instances just before the clear) play the clear's plan.
  void begin_clear(const Scenario& scenario, const std::vector<TaskInstanceRecord>& before) {
    std::lock_guard<std::mutex> lock(mu_);
    Entry& entry = entries_[dag_id(scenario)];
    entry.cleared.assign(scenario.tasks.size(), 0);
    for (int t : cleared_tasks(scenario)) entry.cleared[t] = 1;
    for (const TaskInstanceRecord& ti : before) {
      entry.base[{std::stoi(ti.task_id.substr(1)), ti.map_index}] = ti.try_number;
    }
  }

  /// A tick of the shared clock, for what the driver does in the middle.
  uint64_t tick() { return clock_.fetch_add(1) + 1; }

  ProcessResult run(const ProcessSpec& spec, const OutputSink& on_output,
                    const std::atomic<bool>& /*cancel*/,
                    const std::function<void(int pid)>& /*on_start*/) override {
    Try tr;
    std::string dag;
    std::string error;
    uint64_t seed = 0;
    int fails = 0;
    std::function<void()> mark;
    try {
      dag = spec.env.at("SLUICE_DAG_ID");
      tr.task = std::stoi(spec.env.at("SLUICE_TASK_ID").substr(1));
      tr.try_number = std::stoi(spec.env.at("SLUICE_TRY_NUMBER"));
      const std::string& command = spec.argv.back();  // "run" or "run N"
      if (command.size() > 4) tr.map_index = std::stoi(command.substr(4));
      std::lock_guard<std::mutex> lock(mu_);
      Entry& entry = entries_.at(dag);
      const Scenario& scenario = entry.scenario;
      seed = scenario.seed;
      tr.run = entry.run_index.at(spec.env.at("SLUICE_RUN_ID"));
      fails = entry.fails_of(tr);
      if (entry.mark && !entry.marking && scenario.mark->run == tr.run &&
          scenario.mark->upstream == tr.task && tr.try_number == 1) {
        entry.marking = true;
        mark = entry.mark;
      }
    } catch (const std::exception& e) {
      error = std::string("the fake launcher cannot tell which try this is: ") + e.what();
    }
    tr.start = tick();
    ProcessResult result;
    result.exit_code = 1;
    if (error.empty()) {
      if (mark) {
        // Taken before the mark commits: nothing it lets start starts earlier.
        const uint64_t at = tick();
        std::string failed;
        try {
          mark();
        } catch (const std::exception& e) {
          failed = std::string("the mark failed: ") + e.what();
        }
        std::lock_guard<std::mutex> lock(mu_);
        entries_[dag].marked_at = at;
        if (!failed.empty()) entries_[dag].errors.push_back(failed);
      }
      // A short pause on some tries lets other slots interleave with this one.
      const uint64_t mix = (seed * 31 + static_cast<uint64_t>(tr.task) * 7 +
                            static_cast<uint64_t>(tr.run) * 13 +
                            static_cast<uint64_t>(tr.try_number) +
                            static_cast<uint64_t>(tr.map_index + 1) * 17) % 8;
      if (mix < 3) std::this_thread::sleep_for(std::chrono::microseconds(300 * (mix + 1)));
      result.exit_code = tr.try_number <= fails ? 1 : 0;
      on_output(result.exit_code == 0 ? "ok\n" : "planned failure\n");
    }
    tr.end = tick();
    std::lock_guard<std::mutex> lock(mu_);
    Entry& entry = entries_[dag];
    if (error.empty()) entry.tries.push_back(tr);
    else entry.errors.push_back(error);
    return result;
  }

  size_t tries_started() const { return clock_.load(); }
  /// What the tries of `scenario` did, and what could not be told apart.
  void collect(const Scenario& scenario, Observed& observed) {
    std::lock_guard<std::mutex> lock(mu_);
    Entry& entry = entries_[dag_id(scenario)];
    observed.tries = entry.tries;
    for (const std::string& e : entry.errors) observed.errors.push_back(e);
    if (entry.mark) observed.mark.at = entry.marked_at;
  }

 private:
  struct Entry {
    Scenario scenario;
    std::map<std::string, int> run_index;  // run id -> run index
    std::vector<Try> tries;
    std::vector<std::string> errors;
    std::function<void()> mark;  // the mark before the start, if any
    bool marking = false;
    uint64_t marked_at = 0;
    std::vector<char> cleared;                // by task, once the clear began
    std::map<std::pair<int, int>, int> base;  // try numbers at the clear

    /// How many tries of `tr`'s instance fail: a cleared instance's tries
    /// after the clear count from its try number then.
    int fails_of(const Try& tr) const {
      const size_t instance = static_cast<size_t>(std::max(0, tr.map_index));
      int fails = scenario.fails.at(tr.run).at(tr.task).at(instance);
      if (!cleared.empty() && tr.run == scenario.clear->run && cleared.at(tr.task)) {
        auto found = base.find({tr.task, tr.map_index});
        const int before = found == base.end() ? 0 : found->second;
        if (tr.try_number > before) fails = before + scenario.clear->fails.at(tr.task).at(instance);
      }
      return fails;
    }
  };
  std::atomic<uint64_t> clock_{0};
  std::mutex mu_;
  std::map<std::string, Entry> entries_;  // GUARDED_BY(mu_), by DAG id
};

const Timestamp kDay0 = *parse_timestamp("2026-01-01T00:00:00Z");

/// The id of a scenario's run `r`: scheduled runs on daily intervals from
/// 2026-01-01 (so that depends_on_past has a previous interval).
DataInterval run_interval(int r) {
  return {kDay0 + std::chrono::hours(24 * r), kDay0 + std::chrono::hours(24 * (r + 1))};
}
std::string run_id_of(int r) { return make_run_id(RunType::kScheduled, run_interval(r).start); }

/// Creates the scenario's runs, queued for the scheduler; returns their keys.
std::vector<int64_t> create_runs(Store& store, DagCache& dags, int64_t version,
                                 const Scenario& scenario, const Clock& clock) {
  auto dag = dags.get(version);
  auto index = dags.index(version);
  std::vector<int64_t> pks;
  for (int r = 0; r < scenario.runs; ++r) {
    NewRun run = make_new_run(*dag, version, RunType::kScheduled, run_interval(r),
                              nlohmann::json::object(), run_id_of(r));
    auto created = store.create_run(run, make_decider(dag, index, clock.now()), clock.now());
    if (!created) throw std::runtime_error("run " + run.run_id + " already exists");
    pks.push_back(created->id);
  }
  return pks;
}

void set_pools(Store& store, const std::vector<Scenario>& batch) {
  std::map<std::string, int> pools = {{"default", 128}};
  for (const Scenario& scenario : batch) pools[pool_name(scenario)] = scenario.pool_slots;
  store.set_pools(pools);
}

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

/// Waits until every run of the batch ended, or nothing was busy and
/// `progress` did not move for `quiet` (what is left then waits forever).
/// Past `timeout` every scenario gets an error. `act`, when set, is called
/// first on every poll (it makes the clears and marks that wait for a run's
/// end) and returns whether some still wait.
/// How much longer than usual "quiet" must last on this machine now: on a
/// machine loaded beyond its cores, a scheduler or worker thread can wait
/// its turn for longer than a quiet spell, and a run that was about to start
/// would be taken for one that never will.
double quiet_scale() {
  double load[1] = {0};
  const long cores = std::max(1L, static_cast<long>(std::thread::hardware_concurrency()));
  if (getloadavg(load, 1) != 1) return 1;
  return std::clamp(load[0] / static_cast<double>(cores), 1.0, 20.0);
}

void settle(Store& store, const std::vector<Scenario>& batch,
            const std::vector<std::vector<int64_t>>& run_pks,
            const std::function<uint64_t()>& progress, Millis quiet, Millis poll, Millis timeout,
            std::vector<Observed>& observed, const std::function<bool()>& act = {}) {
  quiet = Millis(static_cast<int64_t>(static_cast<double>(quiet.count()) * quiet_scale()));
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto quiet_since = std::chrono::steady_clock::now();
  uint64_t seen = progress();
  while (true) {
    const bool waiting = act && act();
    const Activity activity = look(store, batch, run_pks);
    if (activity.all_ended && !waiting) return;
    const uint64_t now_seen = progress();
    if (activity.busy || now_seen != seen) quiet_since = std::chrono::steady_clock::now();
    seen = now_seen;
    if (std::chrono::steady_clock::now() - quiet_since > quiet) return;
    if (std::chrono::steady_clock::now() > deadline) {
      for (Observed& o : observed) {
        o.errors.push_back("the runs did not settle within " + format_duration(timeout));
      }
      return;
    }
    std::this_thread::sleep_for(activity.busy ? poll : poll / 2);
  }
}

/// The runs' final records; then cancels what a failing scenario left
/// unfinished, so that it cannot reach a later batch's workers. Every run is
/// read before any is canceled: a canceled run frees its slot under
/// max_active_runs, and the scheduler could start a queued run of the same
/// scenario before it is read.
void collect_runs(Store& store, const std::vector<std::vector<int64_t>>& run_pks,
                  const Clock& clock, std::vector<Observed>& observed) {
  std::vector<int64_t> unfinished;
  for (size_t b = 0; b < run_pks.size(); ++b) {
    for (int64_t pk : run_pks[b]) {
      auto run = store.get_run_by_pk(pk);
      observed[b].runs.push_back(run ? *run : RunRecord{});
      observed[b].instances.push_back(store.list_task_instances(pk));
      if (run && !is_finished(run->state)) unfinished.push_back(pk);
    }
  }
  for (int64_t pk : unfinished) store.cancel_run(pk, clock.now());
}

/// Marks task `task` (unmapped) of `run` as `tasks mark` does: `state`, or
/// without one success, or failed when it succeeded. Returns the state set.
TaskState mark_task(Store& store, DagCache& dags, const RunRecord& run, const std::string& task,
                    std::optional<TaskState> state, Timestamp now) {
  for (const TaskInstanceRecord& ti : store.list_task_instances(run.id)) {
    if (ti.task_id != task || ti.map_index != -1) continue;
    TaskState to = ti.state == TaskState::kSuccess ? TaskState::kFailed : TaskState::kSuccess;
    if (state) to = *state;
    store.mark_task_instance(ti.id, to, "test", make_decider(dags.get(run.version_id), now), now);
    return to;
  }
  throw std::runtime_error("run " + run.run_id + " has no task " + task + " to mark");
}

/// What a driver does around a clear or a mark in the middle.
struct MiddleHooks {
  /// Before a clear: the cleared run's instances as the clear finds them.
  std::function<void(const Scenario&, const std::vector<TaskInstanceRecord>&)> before_clear;
  /// The moment of a clear ('C') or a mark ('M') in run `run` of the
  /// scenario, taken just before it: a tick of the driver's clock, or 0 when
  /// the driver reads it from its events later.
  std::function<uint64_t(const Scenario&, char what, int run)> stamp;
  std::function<void()> after;  // wakes whoever takes up the change
};

/// Makes the clears and marks that wait for a run's end, as `tasks clear`
/// (every instance of the cleared tasks) and `tasks mark` do, each once
/// (`acted`), recording in `observed` what the run was just before. Returns
/// whether some still wait.
bool act_after_ends(Store& store, DagCache& dags, const std::vector<Scenario>& batch,
                    const std::vector<std::vector<int64_t>>& run_pks, std::vector<char>& acted,
                    const MiddleHooks& hooks, const Clock& clock, std::vector<Observed>& observed) {
  bool waiting = false;
  for (size_t b = 0; b < batch.size(); ++b) {
    const Scenario& s = batch[b];
    const bool mark = s.mark && s.mark->kind == ScenarioMark::Kind::kAfterEnd;
    if ((!s.clear && !mark) || acted[b] || run_pks[b].empty()) continue;
    const int r = s.clear ? s.clear->run : s.mark->run;
    std::optional<RunRecord> run = store.get_run_by_pk(run_pks[b][r]);
    if (!run || !is_finished(run->state)) {
      waiting = true;
      continue;
    }
    acted[b] = 1;
    ObservedAction& action = s.clear ? observed[b].clear : observed[b].mark;
    action.run = *run;
    action.instances = store.list_task_instances(run->id);
    const Timestamp now = clock.now();
    try {
      if (s.clear) {
        std::set<std::string> cleared;
        for (int t : cleared_tasks(s)) cleared.insert(task_id(t));
        std::vector<int64_t> ids;
        for (const TaskInstanceRecord& ti : action.instances) {
          if (cleared.count(ti.task_id)) ids.push_back(ti.id);
        }
        hooks.before_clear(s, action.instances);
        action.at = hooks.stamp(s, 'C', r);
        store.clear_task_instances(run->id, ids, make_decider(dags.get(run->version_id), now), now);
      } else {
        action.at = hooks.stamp(s, 'M', r);
        action.state = mark_task(store, dags, *run, task_id(s.mark->task), std::nullopt, now);
      }
      hooks.after();
    } catch (const std::exception& e) {
      observed[b].errors.push_back(std::string("the ") + (s.clear ? "clear" : "mark") +
                                   " failed: " + e.what());
    }
  }
  return waiting;
}

}  // namespace

/// One scheduler and two workers (3 + 2 slots) in threads of this process,
/// started once and shared by every batch.
struct InProcessRig::Parts {
  explicit Parts(Store& s) : store(s), dags(s) {}
  Store& store;
  bool faults = false;
  RealClock clock;
  DagCache dags;
  ScriptedLauncher launcher;
  Config config;
  WorkSignal tasks_signal, runs_signal;
  std::unique_ptr<Scheduler> scheduler;
  std::unique_ptr<Worker> first, second;
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
};

InProcessRig::InProcessRig(Store& store, Store* faulty) : parts_(std::make_unique<Parts>(store)) {
  Parts& p = *parts_;
  p.faults = faulty != nullptr;
  Store& used = faulty ? *faulty : store;
  SchedulerOptions options;
  options.scheduler_id = "model";
  options.poll_interval = Millis(5);
  options.idle_poll_interval = Millis(20);
  options.dag_refresh_interval = Millis(50);
  // depends_on_past waits end on the wake-up of the task that frees them,
  // never on the reconcile pass.
  options.reconcile_interval = Millis(3600000);
  options.heartbeat_timeout = Millis(120000);
  p.scheduler = std::make_unique<Scheduler>(used, p.dags, p.clock, options, &p.runs_signal,
                                            &p.tasks_signal);
  auto worker = [&](const std::string& id, int slots) {
    WorkerOptions w;
    w.worker_id = id;
    w.slots = slots;
    w.poll_interval = Millis(20);
    w.heartbeat_interval = Millis(1000);
    w.kill_grace = Millis(100);
    w.lost_claim_grace = Millis(1000);
    return std::make_unique<Worker>(used, p.dags, p.clock, p.launcher, p.config, w,
                                    &p.tasks_signal, &p.runs_signal);
  };
  p.first = worker("model-a", 3);
  p.second = worker("model-b", 2);
  p.threads.emplace_back([&p] { p.scheduler->run(p.stop); });
  p.threads.emplace_back([&p] { p.first->run(p.stop); });
  p.threads.emplace_back([&p] { p.second->run(p.stop); });
}

InProcessRig::~InProcessRig() {
  Parts& p = *parts_;
  p.stop = true;
  p.tasks_signal.notify();
  p.runs_signal.notify();
  for (std::thread& t : p.threads) t.join();
}

std::vector<Observed> InProcessRig::drive(const std::vector<Scenario>& batch, Millis timeout) {
  Parts& p = *parts_;
  std::vector<Observed> observed(batch.size());
  set_pools(p.store, batch);
  // Each scenario's DAG is stored first; the runs are created while the
  // workers already run, one scenario after the other, so that scenarios
  // interleave.
  std::vector<int64_t> versions(batch.size(), 0);
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
    versions[b] = p.store.upsert_dag(loaded.dag->id, file, loaded.content_hash, yaml,
                                     dag_to_json(*loaded.dag), false,
                                     loaded.dag->max_active_tasks, p.clock.now());
    std::map<std::string, int> run_index;
    for (int r = 0; r < scenario.runs; ++r) run_index[run_id_of(r)] = r;
    p.launcher.add(scenario, std::move(run_index));
    if (scenario.mark && scenario.mark->kind == ScenarioMark::Kind::kBeforeStart) {
      p.launcher.set_mark(scenario, [&p, dag = dag_id(scenario), mark = *scenario.mark] {
        auto run = p.store.get_run(dag, run_id_of(mark.run));
        if (!run) throw std::runtime_error("no run " + run_id_of(mark.run));
        mark_task(p.store, p.dags, *run, task_id(mark.task), mark.state, p.clock.now());
        p.tasks_signal.notify();
      });
    }
  }
  std::vector<std::vector<int64_t>> run_pks(batch.size());
  for (size_t b = 0; b < batch.size(); ++b) {
    if (!versions[b]) continue;
    try {
      run_pks[b] = create_runs(p.store, p.dags, versions[b], batch[b], p.clock);
      p.runs_signal.notify();
    } catch (const std::exception& e) {
      observed[b].errors.push_back(std::string("creating the runs failed: ") + e.what());
    }
  }
  // The clears and marks that wait for a run's end.
  MiddleHooks hooks;
  hooks.before_clear = [&p](const Scenario& s, const std::vector<TaskInstanceRecord>& before) {
    p.launcher.begin_clear(s, before);
  };
  hooks.stamp = [&p](const Scenario&, char, int) { return p.launcher.tick(); };
  hooks.after = [&p] {
    p.runs_signal.notify();
    p.tasks_signal.notify();
  };
  std::vector<char> acted(batch.size(), 0);
  auto act = [&] {
    return act_after_ends(p.store, p.dags, batch, run_pks, acted, hooks, p.clock, observed);
  };
  auto tries_started = [&p] { return p.launcher.tries_started(); };
  // Under faults the scheduler and workers back off for up to 5 s and hand
  // back lost claims after a second or two: quiet means longer.
  const Millis quiet = p.faults ? Millis(12000) : Millis(300);
  settle(p.store, batch, run_pks, tries_started, quiet, Millis(4), timeout, observed, act);
  for (size_t b = 0; b < batch.size(); ++b) {
    p.launcher.collect(batch[b], observed[b]);
    if (p.faults) observed[b].run_end_slack = Millis(15000);
  }
  collect_runs(p.store, run_pks, p.clock, observed);
  return observed;
}

std::vector<Observed> drive_processes(const std::vector<Scenario>& batch, Store& store,
                                      const std::string& dir, Millis timeout) {
  std::vector<Observed> observed(batch.size());
  const std::string events = dir + "/events", plan = dir + "/plan", script = dir + "/task.sh";
  {
    // The try's own record of its start and end, and its planned exit: the
    // plan's last line for the instance whose base is below the try number
    // ("DAG RUN TASK INDEX BASE FAILS": tries BASE+1..BASE+FAILS fail; a
    // clear adds lines with the try number at the clear as BASE). A try
    // that a mark waits in ("H DAG RUN TASK INDEX TRY") holds until the
    // driver has marked (at most a minute).
    std::ofstream out(script);
    out << "m=${1:--1}\n"
        << "k=\"$SLUICE_DAG_ID $SLUICE_RUN_ID $SLUICE_TASK_ID $m\"\n"
        << "echo \"S $k $SLUICE_TRY_NUMBER\" >> " << events << "\n"
        << "if grep -qx \"H $k $SLUICE_TRY_NUMBER\" " << plan << "; then\n"
        << "  w=0\n"
        << "  while [ ! -e \"" << dir << "/go_$SLUICE_DAG_ID\" ] && [ $w -lt 6000 ]; do\n"
        << "    sleep 0.01; w=$((w + 1))\n"
        << "  done\n"
        << "fi\n"
        << "f=$(awk -v k=\"$k\" -v n=\"$SLUICE_TRY_NUMBER\" "
        << "'$1\" \"$2\" \"$3\" \"$4 == k && $5 < n + 0 { f = $5 + $6 } END { print f + 0 }' "
        << plan << ")\n"
        << "echo \"E $k $SLUICE_TRY_NUMBER\" >> " << events << "\n"
        << "[ \"$SLUICE_TRY_NUMBER\" -gt \"$f\" ]\n";
  }
  std::remove(events.c_str());
  std::map<std::string, std::pair<size_t, std::map<std::string, int>>> by_dag;
  {
    std::ofstream out(plan);
    for (size_t b = 0; b < batch.size(); ++b) {
      const Scenario& s = batch[b];
      auto& [slot, runs] = by_dag[dag_id(s)];
      slot = b;
      for (int r = 0; r < s.runs; ++r) {
        runs[run_id_of(r)] = r;
        for (size_t t = 0; t < s.tasks.size(); ++t) {
          for (size_t i = 0; i < s.fails[r][t].size(); ++i) {
            int m = s.tasks[t].map_items < 0 ? -1 : static_cast<int>(i);
            out << dag_id(s) << " " << run_id_of(r) << " " << task_id(static_cast<int>(t)) << " "
                << m << " 0 " << s.fails[r][t][i] << "\n";
          }
        }
      }
      if (s.mark && s.mark->kind == ScenarioMark::Kind::kBeforeStart) {
        out << "H " << dag_id(s) << " " << run_id_of(s.mark->run) << " "
            << task_id(s.mark->upstream) << " -1 1\n";
      }
      std::filesystem::remove(dir + "/go_" + dag_id(s));
    }
  }
  // The DAG files; the scheduler stores them on its next scan.
  for (const Scenario& s : batch) {
    std::ofstream(dir + "/dags/" + dag_id(s) + ".yaml") << to_yaml(s, "sh " + script);
  }
  set_pools(store, batch);
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
    try {
      run_pks[b] = create_runs(store, dags, *record->version_id, s, clock);
    } catch (const std::exception& e) {
      observed[b].errors.push_back(std::string("creating the runs failed: ") + e.what());
    }
  }
  auto events_size = [&events]() -> uint64_t {
    std::error_code ec;
    uintmax_t size = std::filesystem::file_size(events, ec);
    return ec ? 0 : size;
  };
  // Clears and marks: a line in the events file gives their moment.
  auto note = [&events](const Scenario& s, char what, int run) {
    std::ofstream(events, std::ios::app)
        << what << " " << dag_id(s) << " " << run_id_of(run) << std::endl;
    return uint64_t{0};
  };
  MiddleHooks hooks;
  hooks.before_clear = [&plan](const Scenario& s, const std::vector<TaskInstanceRecord>& before) {
    // The cleared instances' tries from now on, counted from their number
    // now; a mapped task that expands only now gets its instances' lines.
    std::ostringstream lines;
    const std::string run = run_id_of(s.clear->run);
    for (int t : cleared_tasks(s)) {
      std::map<int, int> base;
      for (const TaskInstanceRecord& ti : before) {
        if (ti.task_id == task_id(t)) base[ti.map_index] = ti.try_number;
      }
      for (size_t i = 0; i < s.clear->fails[t].size(); ++i) {
        const int m = s.tasks[t].map_items < 0 ? -1 : static_cast<int>(i);
        lines << dag_id(s) << " " << run << " " << task_id(t) << " " << m << " "
              << (base.count(m) ? base[m] : 0) << " " << s.clear->fails[t][i] << "\n";
      }
    }
    std::ofstream(plan, std::ios::app) << lines.str() << std::flush;
  };
  hooks.stamp = note;
  hooks.after = [] {};
  std::vector<char> acted(batch.size(), 0), marked(batch.size(), 0);
  auto act = [&] {
    bool waiting = act_after_ends(store, dags, batch, run_pks, acted, hooks, clock, observed);
    // A mark before the start: once the held first try of its upstream task
    // runs, the marked task still waits; then the try goes on.
    for (size_t b = 0; b < batch.size(); ++b) {
      const Scenario& s = batch[b];
      if (!s.mark || s.mark->kind != ScenarioMark::Kind::kBeforeStart || marked[b] ||
          run_pks[b].empty()) {
        continue;
      }
      waiting = true;
      std::optional<RunRecord> run = store.get_run_by_pk(run_pks[b][s.mark->run]);
      if (!run) continue;
      bool held = false;
      for (const TaskInstanceRecord& ti : store.list_task_instances(run->id)) {
        held = held || (ti.task_id == task_id(s.mark->upstream) &&
                        ti.state == TaskState::kRunning && ti.try_number == 1);
      }
      if (!held) continue;
      marked[b] = 1;
      note(s, 'M', s.mark->run);
      try {
        mark_task(store, dags, *run, task_id(s.mark->task), s.mark->state, clock.now());
      } catch (const std::exception& e) {
        observed[b].errors.push_back(std::string("the mark failed: ") + e.what());
      }
      std::ofstream(dir + "/go_" + dag_id(s)) << "\n";
    }
    return waiting;
  };
  settle(store, batch, run_pks, events_size, Millis(1500), Millis(20), timeout, observed, act);
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
    if (found == by_dag.end() || !found->second.second.count(run_id)) continue;
    const size_t slot = found->second.first;
    if (kind == "C") observed[slot].clear.at = tick;
    if (kind == "M") observed[slot].mark.at = tick;
    if (task.size() < 2) continue;
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
  collect_runs(store, run_pks, clock, observed);
  return observed;
}

}  // namespace sluice::model
