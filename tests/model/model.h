#pragma once
// The reference model and the invariants of the model-based harness.
//
// The reference model is a deliberately simple executor of a scenario: no
// store, no threads, no time. It walks the tasks of each run in order and, for
// each, lists every outcome the trigger rules allow, whatever the order in
// which its upstream instances ended. The invariants are checked on what the
// real system did: the final task and run states, and the history of tries
// (start and end of each on one shared logical clock).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/store.h"
#include "tests/model/scenario.h"

namespace sluice::model {

/// What the trigger rule of a task says for a given count of its upstream
/// instances, written out from Airflow's documented rules.
enum class Verdict { kWait, kRun, kSkip, kUpstreamFailed };
Verdict rule_verdict(TriggerRule rule, int success, int failed, int skipped, int unfinished);

/// One way a task of a run can end up: its instances' states by map index
/// (-1 for an unmapped task or a mapped task's placeholder).
using Outcome = std::map<int, TaskState>;

/// The reference model's answer for one run.
struct RunExpectation {
  bool starts = true;  // false: max_active_runs never gives it a slot
  /// Every legal outcome of each task; empty when too many combinations
  /// were possible to list (the task is then not compared).
  std::vector<std::vector<Outcome>> outcomes;
  /// Whether the run can end; false when a task can wait forever
  /// (depends_on_past on a task that did not succeed the interval before).
  bool may_end = true;
  bool may_hang = false;
};

/// The reference model: every run's legal outcomes (a mark before the start
/// included; a clear's second round and a mark after the end are not).
std::vector<RunExpectation> expect(const Scenario& scenario);

/// The reference model for the second round of the scenario's cleared run:
/// the instances that were not cleared keep `at_clear` (each task's states
/// at the clear, which round one decided), the cleared ones are decided
/// again by their rules and run as the clear plans.
RunExpectation expect_after_clear(const Scenario& scenario, const std::vector<Outcome>& at_clear);

/// One try as the fake process launcher saw it, on the shared logical clock.
struct Try {
  int run = 0;
  int task = 0;
  int map_index = -1;
  int try_number = 0;
  uint64_t start = 0;
  uint64_t end = 0;
};

/// A clear or a mark the driver made in the middle.
struct ObservedAction {
  uint64_t at = 0;  // when, on the shared clock; 0: it never happened
  /// The run and its instances just before it (for a clear or a mark after
  /// the end: what round one left).
  RunRecord run;
  std::vector<TaskInstanceRecord> instances;
  TaskState state = TaskState::kNone;  // the state a mark set
};

/// What the real system did with a scenario.
struct Observed {
  std::vector<Try> tries;
  std::vector<RunRecord> runs;  // by run index
  std::vector<std::vector<TaskInstanceRecord>> instances;  // by run index
  ObservedAction clear, mark;
  std::vector<std::string> errors;  // the driver's own complaints (timeouts...)
  // How long after its last task's end a run may end: a scheduler pass, or
  // longer when the driver injects store faults (the loop then backs off).
  Millis run_end_slack{1000};
};

/// Every invariant the history breaks, one line each; empty when it holds.
std::vector<std::string> check(const Scenario& scenario, const Observed& observed);

}  // namespace sluice::model
