#pragma once
// The model-based harness (tests/model/): a scenario is a random DAG, the runs
// made of it, and how every try of every task instance ends. Everything is
// plain data, so a failing scenario can be shrunk and printed as YAML.

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/dag.h"
#include "core/states.h"

namespace sluice::model {

struct ScenarioTask {
  std::vector<int> upstream;  // positions of upstream tasks, all lower than this one's
  TriggerRule rule = TriggerRule::kAllSuccess;
  int retries = 0;             // tries = retries + 1
  int map_items = -1;          // -1: not mapped; else a literal list of this many items
  int max_map_concurrency = 0;
  bool depends_on_past = false;  // only on unmapped tasks without upstream tasks
  bool in_pool = false;          // takes a slot of the scenario's small pool
};

/// A clear in the middle (`tasks clear`): once run `run` has ended, task
/// `task` of it is cleared, with every task downstream of it when
/// `downstream`, all instances of each, while the scenario's other runs may
/// still run. The store queues the run again and the scheduler restarts it
/// within max_active_runs. Only in scenarios without depends_on_past (whose
/// outcome would then depend on when the clear happens).
struct ScenarioClear {
  int run = 0;
  int task = 0;
  bool downstream = false;
  /// fails[task][instance]: how many of a cleared instance's tries after the
  /// clear fail. Try n fails iff n - base <= this, base being the instance's
  /// try number at the clear (0 for an instance that did not exist yet).
  std::vector<std::vector<int>> fails;
};

/// A mark by hand (`tasks mark`).
struct ScenarioMark {
  enum class Kind {
    /// While the first try of root task `upstream` of run 0 runs, task
    /// `task` (which waits for it: `upstream` is its only upstream task, or
    /// its rule is all_done) is marked `state`; its downstream tasks may
    /// then go ahead.
    kBeforeStart,
    /// Once run `run` has ended, task `task` (unmapped) is marked success,
    /// or failed when it succeeded. Only without depends_on_past (a later
    /// run's task may wait for this one).
    kAfterEnd,
  };
  Kind kind = Kind::kBeforeStart;
  int run = 0;
  int task = 0;
  int upstream = 0;
  TaskState state = TaskState::kSuccess;
};

struct Scenario {
  uint64_t seed = 0;
  std::vector<ScenarioTask> tasks;
  int runs = 1;  // runs of consecutive daily intervals, created as scheduled runs
  int max_active_runs = 16;
  int max_active_tasks = 16;
  int pool_slots = 128;
  /// fails[run][task][instance]: how many tries of that instance fail before
  /// one succeeds (an unmapped task has one instance). A try fails iff its
  /// number is <= this; with no tries left the instance fails.
  std::vector<std::vector<std::vector<int>>> fails;
  std::optional<ScenarioClear> clear;
  std::optional<ScenarioMark> mark;  // at most one of clear and a kAfterEnd mark

  int instances(int task) const {
    return tasks[task].map_items < 0 ? 1 : tasks[task].map_items;
  }
};

/// Task ids are "t0", "t1", ... by position.
std::string task_id(int task);
/// The DAG's id for a scenario: "model_SEED".
std::string dag_id(const Scenario& scenario);
/// The scenario's pool.
std::string pool_name(const Scenario& scenario);

/// A random scenario: 1-60 tasks, random edges, every trigger rule, retries,
/// failing tries, mapped tasks (empty ones too) with and without a cap,
/// depends_on_past, a small pool, max_active_tasks, 1-3 runs under
/// max_active_runs, and in some a clear or a mark in the middle. The same
/// seed gives the same scenario.
Scenario generate(uint64_t seed);

/// The tasks the scenario's clear clears, in order: its task, and with
/// `downstream` every task downstream of it.
std::vector<int> cleared_tasks(const Scenario& scenario);
/// Whether `mark` can be made in `scenario` as its kind says (see
/// ScenarioMark::Kind); shrinking drops a mark that no longer can.
bool mark_fits(const Scenario& scenario, const ScenarioMark& mark);

/// The DAG file of a scenario: every task a shell task running `command`,
/// with the map index as its argument for a mapped task.
std::string to_yaml(const Scenario& scenario, const std::string& command = "run");
/// The scenario in a form to paste into a regression test: YAML plus runs,
/// limits, the failing tries and the clear or mark in the middle.
std::string describe(const Scenario& scenario);

/// Smaller variants of `scenario`, the most aggressive first: without one
/// task (edges renumbered), without one edge, with one run fewer, with fewer
/// failing tries or retries, unmapped, without depends_on_past or the pool,
/// without the clear or the mark, a clear without its downstream tasks.
std::vector<Scenario> shrink_candidates(const Scenario& scenario);

}  // namespace sluice::model
