// The model-based harness: random scenarios run through the real scheduler,
// workers and store, checked against the reference model and the
// invariants (tests/model/model.h). SLUICE_MODEL_SCENARIOS sets how many
// scenarios each store runs (default 1000, split over the shards below; the
// test command's time is a budget, so larger counts, 6000 before a change to
// readiness or a store lands, are asked for by this variable);
// SLUICE_MODEL_SEED runs one seed alone. A failure prints its seed and the
// smallest scenario that still fails.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <sstream>

#include "core/log.h"
#include "tests/core/fault_store.h"
#include "tests/core/store_test_util.h"
#include "tests/test_util.h"
#include "tests/model/driver.h"
#include "tests/model/model.h"
#include "tests/model/scenario.h"

namespace sluice::model {
namespace {

constexpr int kShards = 8;

int scenario_count() {
  const char* text = std::getenv("SLUICE_MODEL_SCENARIOS");
  return text && *text ? std::atoi(text) : 1000;
}

constexpr size_t kBatch = 4;  // scenarios run at once, sharing the workers

Scenario scenario_of(uint64_t seed) { return generate(seed); }

std::vector<std::string> run_scenario(const Scenario& scenario, InProcessRig& rig) {
  return check(scenario, rig.drive({scenario}).at(0));
}

/// Shrinks a failing scenario: takes the first smaller variant that still
/// fails, until none does (or the budget is spent).
Scenario shrink(Scenario failing, InProcessRig& rig, std::vector<std::string>& problems) {
  int budget = 400;
  uint64_t next_seed = (uint64_t{1} << 40) + failing.seed * 1000;  // a DAG of its own per try
  bool smaller = true;
  while (smaller && budget > 0) {
    smaller = false;
    for (Scenario candidate : shrink_candidates(failing)) {
      if (--budget < 0) break;
      candidate.seed = next_seed++;
      std::vector<std::string> found = run_scenario(candidate, rig);
      if (!found.empty()) {
        failing = std::move(candidate);
        problems = std::move(found);
        smaller = true;
        break;
      }
    }
  }
  return failing;
}

/// What the runs did, for a failure's message: each run's state and times,
/// and its task instances' states and times, in ms from the first run's creation.
std::string history(const Observed& o) {
  if (o.runs.empty()) return "";
  const Timestamp zero = o.runs[0].created_at;
  auto ms = [&](const std::optional<Timestamp>& t) {
    return t ? std::to_string(std::chrono::duration_cast<Millis>(*t - zero).count()) : "-";
  };
  std::ostringstream out;
  for (size_t r = 0; r < o.runs.size(); ++r) {
    const RunRecord& run = o.runs[r];
    out << "  run " << r << ": " << to_string(run.state) << " created " << ms(run.created_at)
        << " started " << ms(run.started_at) << " ended " << ms(run.ended_at) << "\n";
    for (const TaskInstanceRecord& ti : o.instances[r]) {
      out << "    " << ti.task_id << (ti.map_index >= 0 ? "[" + std::to_string(ti.map_index) + "]" : "")
          << " " << to_string(ti.state) << " try " << ti.try_number << " queued "
          << ms(ti.queued_at) << " started " << ms(ti.started_at) << " ended " << ms(ti.ended_at)
          << "\n";
    }
  }
  return out.str();
}

/// Runs `seeds` on `rig` in batches, checks each history and, at the first
/// failure, shrinks it and reports it. Returns how many tries ran.
size_t run_seeds(const std::string& backend, const std::string& label,
                 const std::vector<uint64_t>& seeds, InProcessRig& rig) {
  const auto started = std::chrono::steady_clock::now();
  size_t tries = 0, tasks = 0;
  for (size_t first = 0; first < seeds.size(); first += kBatch) {
    std::vector<Scenario> batch;
    for (size_t i = first; i < std::min(seeds.size(), first + kBatch); ++i) {
      batch.push_back(scenario_of(seeds[i]));
    }
    std::vector<Observed> observed = rig.drive(batch);
    bool failed = false;
    for (size_t b = 0; b < batch.size() && !failed; ++b) {
      const Scenario& scenario = batch[b];
      tries += observed[b].tries.size();
      tasks += scenario.tasks.size();
      std::vector<std::string> problems = check(scenario, observed[b]);
      if (problems.empty()) continue;
      failed = true;
      std::ostringstream first_found;
      for (const std::string& p : problems) first_found << "  " << p << "\n";
      first_found << history(observed[b]);
      Scenario small = shrink(scenario, rig, problems);
      std::ostringstream shrunk;
      for (const std::string& p : problems) shrunk << "  " << p << "\n";
      ADD_FAILURE() << "scenario seed " << scenario.seed << " (" << backend
                    << ") broke the invariants (rerun alone: SLUICE_MODEL_SEED=" << scenario.seed
                    << "):\n" << first_found.str() << "smallest failing variant:\n"
                    << describe(small) << "which breaks:\n" << shrunk.str();
    }
    if (failed) break;  // one shrunk failure is enough to act on
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "[model] " << backend << " " << label << ": " << seeds.size() << " scenarios, "
            << tasks << " tasks, " << tries << " tries in " << seconds << " s\n";
  return tries;
}

/// The seeds of shard `shard` of `count` scenarios starting at `base`, or
/// SLUICE_MODEL_SEED alone (in shard 0).
std::vector<uint64_t> seeds_of_shard(int shard, int shards, int count, uint64_t base) {
  std::vector<uint64_t> seeds;
  if (const char* one = std::getenv("SLUICE_MODEL_SEED"); one && *one) {
    if (shard == 0) seeds.push_back(std::strtoull(one, nullptr, 10));
  } else {
    for (int i = shard; i < count; i += shards) seeds.push_back(base + static_cast<uint64_t>(i));
  }
  return seeds;
}

class ModelTest : public ::testing::TestWithParam<std::tuple<std::string, int>> {};

TEST_P(ModelTest, RandomScenariosKeepEveryInvariant) {
  const auto& [backend, shard] = GetParam();
  set_log_level(LogLevel::kError);
  std::unique_ptr<Store> store = testing::make_test_store(backend);
  InProcessRig rig(*store);
  std::vector<uint64_t> seeds = seeds_of_shard(shard, kShards, scenario_count(), 1);
  EXPECT_GT(run_seeds(backend, "shard " + std::to_string(shard), seeds, rig), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Stores, ModelTest,
    ::testing::Combine(::testing::Values("sqlite", "postgres"), ::testing::Range(0, kShards)),
    [](const auto& info) {
      return std::get<0>(info.param) + "_" + std::to_string(std::get<1>(info.param));
    });

int process_scenario_count() {
  const char* text = std::getenv("SLUICE_MODEL_PROCESS_SCENARIOS");
  return text && *text ? std::atoi(text) : 48;
}

/// The same invariants with real `sluice scheduler` and `sluice worker`
/// processes and shell tasks that record their own start and end.
class ModelProcessTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelProcessTest, RandomScenariosKeepEveryInvariantWithRealProcesses) {
  const std::string backend = GetParam();
  set_log_level(LogLevel::kError);
  std::unique_ptr<Store> store = testing::make_test_store(backend);
  const std::string url = testing::last_test_store_url(backend);
  testing::TempDir dir;
  dir.write("sluice.yaml", "db: \"" + url + "\"\ndags: dags\n"
            "worker:\n  heartbeat_interval: 500ms\n  heartbeat_timeout: 60s\n"
            "scheduler:\n  dag_scan_interval: 100ms\n");
  dir.write("dags/.keep", "");
  std::map<std::string, std::string> env = {{"TMPDIR", dir.path()}};
  auto start = [&](const std::vector<std::string>& args, const std::string& log) {
    return std::make_unique<testing::Process>(testing::sluice_argv(args), dir.path(),
                                              dir.file(log), env);
  };
  auto scheduler = start({"scheduler"}, "scheduler.log");
  auto worker_a = start({"worker", "--slots", "3"}, "worker-a.log");
  auto worker_b = start({"worker", "--slots", "2"}, "worker-b.log");
  const auto started = std::chrono::steady_clock::now();
  size_t tries = 0, scenarios = 0;
  const int count = process_scenario_count();
  for (int first = 0; first < count; first += static_cast<int>(kBatch)) {
    std::vector<Scenario> batch;
    for (int i = first; i < std::min(count, first + static_cast<int>(kBatch)); ++i) {
      Scenario s = scenario_of(static_cast<uint64_t>(i) + 1);
      s.seed += uint64_t{1} << 32;  // DAG ids apart from the in-process runs
      batch.push_back(std::move(s));
    }
    std::vector<Observed> observed = drive_processes(batch, *store, dir.path());
    bool failed = false;
    for (size_t b = 0; b < batch.size(); ++b) {
      ++scenarios;
      tries += observed[b].tries.size();
      std::vector<std::string> problems = check(batch[b], observed[b]);
      if (problems.empty()) continue;
      failed = true;
      std::ostringstream text;
      for (const std::string& p : problems) text << "  " << p << "\n";
      ADD_FAILURE() << "scenario (generated from seed " << (batch[b].seed - (uint64_t{1} << 32))
                    << ") broke the invariants with real processes:\n"
                    << text.str() << describe(batch[b]) << "scheduler log:\n"
                    << testing::read_file(dir.file("scheduler.log")).substr(0, 4000);
    }
    if (failed) break;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "[model, processes] " << backend << ": " << scenarios << " scenarios, " << tries
            << " tries in " << seconds << " s\n";
  EXPECT_GT(tries, 0u);
}

INSTANTIATE_TEST_SUITE_P(Stores, ModelProcessTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

/// The reference model on its own: the repro and a few hand-worked cases.
TEST(ReferenceModel, AllSuccessWithAFailedAndASkippedUpstreamMayEndEitherWay) {
  Scenario s;
  s.tasks.resize(4);
  s.tasks[1].upstream = {0};
  s.tasks[2].map_items = 0;  // an empty expansion: skipped
  s.tasks[3].upstream = {1, 2};
  s.fails = {{{9}, {0}, {}, {0}}};
  s.fails[0][2] = {0};
  auto runs = expect(s);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].outcomes[0], (std::vector<Outcome>{{{-1, TaskState::kFailed}}}));
  EXPECT_EQ(runs[0].outcomes[1], (std::vector<Outcome>{{{-1, TaskState::kUpstreamFailed}}}));
  EXPECT_EQ(runs[0].outcomes[2], (std::vector<Outcome>{{{-1, TaskState::kSkipped}}}));
  EXPECT_EQ(runs[0].outcomes[3].size(), 2u);  // upstream_failed or skipped, by order
  EXPECT_FALSE(runs[0].may_hang);
}

TEST(ReferenceModel, DependsOnPastHangsAfterAFailureAndHoldsTheRunSlot) {
  Scenario s;
  s.tasks.resize(1);
  s.tasks[0].depends_on_past = true;
  s.runs = 3;
  s.max_active_runs = 1;
  s.fails = {{{9}}, {{0}}, {{0}}};
  auto runs = expect(s);
  EXPECT_EQ(runs[0].outcomes[0], (std::vector<Outcome>{{{-1, TaskState::kFailed}}}));
  EXPECT_EQ(runs[1].outcomes[0], (std::vector<Outcome>{{{-1, TaskState::kNone}}}));
  EXPECT_TRUE(runs[1].starts);
  EXPECT_FALSE(runs[1].may_end);
  EXPECT_FALSE(runs[2].starts);
}

/// What one run whose `tasks` tasks all succeeded leaves, but for its tries.
Observed one_successful_run(int tasks) {
  Observed o;
  o.runs.resize(1);
  o.runs[0].state = RunState::kSuccess;
  o.instances.resize(1);
  for (int t = 0; t < tasks; ++t) {
    TaskInstanceRecord rec;
    rec.task_id = task_id(t);
    rec.state = TaskState::kSuccess;
    o.instances[0].push_back(rec);
  }
  return o;
}

TEST(ReferenceModel, CheckFindsATaskStartedBeforeItsUpstreamEnded) {
  // The repro: `sib` started while `slow` still ran.
  Scenario s;
  s.tasks.resize(4);
  s.tasks[1].upstream = {0};      // sib <- slow
  s.tasks[3].upstream = {2, 1};   // join <- fast, sib
  s.fails = {{{0}, {0}, {0}, {0}}};
  Observed o = one_successful_run(4);
  o.tries = {{0, 0, -1, 1, 1, 10}, {0, 2, -1, 1, 2, 3}, {0, 1, -1, 1, 4, 5}, {0, 3, -1, 1, 6, 7}};
  std::vector<std::string> problems = check(s, o);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("t1 try 1 started at 4 before its all_success rule held"),
            std::string::npos)
      << problems[0];
  o.tries = {{0, 0, -1, 1, 1, 2}, {0, 2, -1, 1, 3, 4}, {0, 1, -1, 1, 5, 6}, {0, 3, -1, 1, 7, 8}};
  EXPECT_TRUE(check(s, o).empty());
}

/// A chain t0 -> t1 whose t0 fails for good in run 0.
Scenario failed_chain() {
  Scenario s;
  s.tasks.resize(2);
  s.tasks[1].upstream = {0};
  s.fails = {{{9}, {0}}};
  return s;
}

TEST(ReferenceModel, AClearedTaskIsDecidedAgainAndTheOthersKeepTheirStates) {
  Scenario s = failed_chain();
  s.clear = ScenarioClear{0, 0, true, {{0}, {0}}};
  const std::vector<Outcome> at_clear = {{{-1, TaskState::kFailed}},
                                         {{-1, TaskState::kUpstreamFailed}}};
  RunExpectation again = expect_after_clear(s, at_clear);
  EXPECT_EQ(again.outcomes[0], (std::vector<Outcome>{{{-1, TaskState::kSuccess}}}));
  EXPECT_EQ(again.outcomes[1], (std::vector<Outcome>{{{-1, TaskState::kSuccess}}}));
  s.clear->downstream = false;  // t1 is not cleared: it stays upstream_failed
  again = expect_after_clear(s, at_clear);
  EXPECT_EQ(again.outcomes[1], (std::vector<Outcome>{{{-1, TaskState::kUpstreamFailed}}}));
  s.clear->fails = {{9}, {0}};  // fails again: nothing changes
  again = expect_after_clear(s, at_clear);
  EXPECT_EQ(again.outcomes[0], (std::vector<Outcome>{{{-1, TaskState::kFailed}}}));
}

TEST(ReferenceModel, AnExpandedMappedTaskClearedUnderAFailedUpstreamFailsEveryInstance) {
  Scenario s;
  s.tasks.resize(2);
  s.tasks[1].upstream = {0};
  s.tasks[1].map_items = 2;
  s.fails = {{{0}, {0, 0}}};
  s.clear = ScenarioClear{0, 0, true, {{9}, {0, 0}}};
  RunExpectation again = expect_after_clear(
      s, {{{-1, TaskState::kSuccess}}, {{0, TaskState::kSuccess}, {1, TaskState::kSuccess}}});
  EXPECT_EQ(
      again.outcomes[1],
      (std::vector<Outcome>{{{0, TaskState::kUpstreamFailed}, {1, TaskState::kUpstreamFailed}}}));
}

TEST(ReferenceModel, AMarkBeforeTheStartIsTheTasksOutcome) {
  Scenario s;
  s.tasks.resize(3);
  s.tasks[1].upstream = {0};
  s.tasks[2].upstream = {1};
  s.fails = {{{0}, {0}, {0}}};
  ScenarioMark mark;
  mark.task = 1;
  mark.upstream = 0;
  mark.state = TaskState::kFailed;
  ASSERT_TRUE(mark_fits(s, mark));
  s.mark = mark;
  auto runs = expect(s);
  EXPECT_EQ(runs[0].outcomes[1], (std::vector<Outcome>{{{-1, TaskState::kFailed}}}));
  EXPECT_EQ(runs[0].outcomes[2], (std::vector<Outcome>{{{-1, TaskState::kUpstreamFailed}}}));
  s.tasks[1].rule = TriggerRule::kAlways;  // would not wait for t0: no mark can come between
  EXPECT_FALSE(mark_fits(s, mark));
}

/// What a run of `failed_chain()` cleared after its end observed: t0 failed
/// its try 1, then after the clear (tick 3) succeeded, and t1 ran.
Observed cleared_chain_history() {
  Observed o = one_successful_run(2);
  o.instances[0][0].try_number = 2;
  o.instances[0][1].try_number = 1;
  o.clear.at = 3;
  o.clear.run.state = RunState::kFailed;
  o.clear.instances = o.instances[0];
  o.clear.instances[0].state = TaskState::kFailed;
  o.clear.instances[0].try_number = 1;
  o.clear.instances[1].state = TaskState::kUpstreamFailed;
  o.clear.instances[1].try_number = 0;
  o.tries = {{0, 0, -1, 1, 1, 2}, {0, 0, -1, 2, 4, 5}, {0, 1, -1, 1, 6, 7}};
  return o;
}

TEST(ReferenceModel, CheckNumbersTriesAfterAClearOnFromTheTryNumberAtTheClear) {
  Scenario s = failed_chain();
  s.clear = ScenarioClear{0, 0, true, {{0}, {0}}};
  Observed o = cleared_chain_history();
  EXPECT_TRUE(check(s, o).empty()) << ::testing::PrintToString(check(s, o));
  o.tries[1].try_number = 1;  // the store started the cleared task's tries over
  std::vector<std::string> problems = check(s, o);
  ASSERT_FALSE(problems.empty());
  EXPECT_NE(problems[0].find("run 0 after the clear t0 ran tries numbered 1"), std::string::npos)
      << problems[0];
}

TEST(ReferenceModel, CheckFindsAClearedTaskStartedBeforeItsClearedUpstreamEnded) {
  Scenario s = failed_chain();
  s.clear = ScenarioClear{0, 0, true, {{0}, {0}}};
  Observed o = cleared_chain_history();
  o.tries[2].start = 4;  // t1 started with t0's second try
  std::vector<std::string> problems = check(s, o);
  ASSERT_EQ(problems.size(), 1u) << ::testing::PrintToString(problems);
  EXPECT_NE(problems[0].find("run 0 after the clear t1 try 1 started at 4 before"),
            std::string::npos)
      << problems[0];
}

TEST(ReferenceModel, ShrinkingKeepsClearsAndMarksConsistent) {
  int clears = 0, marks = 0;
  for (uint64_t seed = 1; seed <= 400; ++seed) {
    const Scenario s = generate(seed);
    if (!s.clear && !s.mark) continue;
    clears += s.clear ? 1 : 0;
    marks += s.mark ? 1 : 0;
    EXPECT_NE(describe(s).find(s.clear ? "# clear: " : "# mark: "), std::string::npos);
    for (const Scenario& c : shrink_candidates(s)) {
      if (c.clear) {
        ASSERT_LT(c.clear->run, c.runs) << seed;
        ASSERT_LT(c.clear->task, static_cast<int>(c.tasks.size())) << seed;
        ASSERT_EQ(c.clear->fails.size(), c.tasks.size()) << seed;
        for (size_t t = 0; t < c.tasks.size(); ++t) {
          ASSERT_EQ(c.clear->fails[t].size(),
                    static_cast<size_t>(std::max(1, c.instances(static_cast<int>(t)))))
              << seed;
        }
      }
      if (c.mark) {
        ASSERT_TRUE(mark_fits(c, *c.mark)) << seed;
      }
    }
  }
  // About 1 in 4 scenarios without depends_on_past has a clear; some a mark.
  EXPECT_GT(clears, 40);
  EXPECT_GT(marks, 20);
}


/// The same invariants while the store fails at random under the scheduler
/// and the workers (tests/core/fault_store.h): claims, reports, run
/// creation, reads of the unfinished runs, reconciles, log appends and
/// heartbeats fail, before the store was reached or after it committed.
/// Runs may settle and end later, but nothing else may change: no early
/// start, no try run twice, no state the model does not allow, nothing left
/// behind. SLUICE_MODEL_FAULT_SCENARIOS (default 40 per store) and
/// SLUICE_MODEL_FAULT_RATE (default 0.03 of those calls) set the load; the
/// seeds start at 500000, apart from the plain harness's.
class ModelFaultTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelFaultTest, RandomScenariosKeepEveryInvariantWhileTheStoreFails) {
  const std::string& backend = GetParam();
  set_log_level(LogLevel::kError);
  const char* count_text = std::getenv("SLUICE_MODEL_FAULT_SCENARIOS");
  const int count = count_text && *count_text ? std::atoi(count_text) : 40;
  const char* rate_text = std::getenv("SLUICE_MODEL_FAULT_RATE");
  const double rate = rate_text && *rate_text ? std::atof(rate_text) : 0.03;
  std::unique_ptr<Store> store = testing::make_test_store(backend);
  testing::FaultStore faulty(*store);
  faulty.fail_at_random(rate, 7);
  InProcessRig rig(*store, &faulty);
  std::vector<uint64_t> seeds = seeds_of_shard(0, 1, count, 500000);
  EXPECT_GT(run_seeds(backend, "with faults", seeds, rig), 0u);
  int faults = 0;
  for (const char* method : {"create_run", "list_unfinished_runs", "reconcile_run", "claim_tasks",
                             "finish_task", "append_log", "heartbeat_worker"}) {
    faults += faulty.failures(method);
  }
  std::cout << "[model] " << backend << ": " << faults << " store calls failed on purpose\n";
  if (count >= 20) {
    EXPECT_GT(faults, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Stores, ModelFaultTest, ::testing::Values("sqlite", "postgres"));

}  // namespace
}  // namespace sluice::model
