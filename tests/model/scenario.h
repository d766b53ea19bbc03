#pragma once
// The model-based harness (tests/model/): a scenario is a random DAG, the runs
// made of it, and how every try of every task instance ends. Everything is
// plain data, so a failing scenario can be shrunk and printed as YAML.

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "core/dag.h"

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
/// max_active_runs. The same seed gives the same scenario.
Scenario generate(uint64_t seed);

/// The DAG file of a scenario: every task a shell task running `command`,
/// with the map index as its argument for a mapped task.
std::string to_yaml(const Scenario& scenario, const std::string& command = "run");
/// The scenario in a form to paste into a regression test: YAML plus runs,
/// limits and the failing tries.
std::string describe(const Scenario& scenario);

/// Smaller variants of `scenario`, the most aggressive first: without one
/// task (edges renumbered), without one edge, with one run fewer, with fewer
/// failing tries or retries, unmapped, without depends_on_past or the pool.
std::vector<Scenario> shrink_candidates(const Scenario& scenario);

}  // namespace sluice::model
