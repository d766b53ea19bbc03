#pragma once
// Readiness: which task instances of a run may start, which are skipped or
// upstream_failed, when retries are due, and the run's resulting state. A pure
// function of the DAG, the states and the time; no database, no processes.

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/dag.h"
#include "core/store.h"

namespace sluice {

/// Decides the next transitions of one run:
/// - a run in state `queued` is left alone unless `start_run` is true, in
///   which case the decision moves it to `running`;
/// - in a running run, tasks in `none` whose upstream tasks are all finished
///   move to `queued` when their trigger rule holds, to `skipped` or
///   `upstream_failed` when it can no longer hold (as Airflow does: all_success
///   with a failed upstream -> upstream_failed, with a skipped one -> skipped);
///   a mapped task with max_map_concurrency K has at most K instances queued,
///   running or waiting to retry: the others stay `none` until one ends;
///   tasks with depends_on_past wait (stay `none`) until the same task
///   succeeded (or was skipped) in the previous interval's run, when there is one;
/// - `up_for_retry` and `up_for_reschedule` tasks whose next_try_at <= now move
///   to `queued`;
/// - when every task is finished the run becomes `success` (no task failed,
///   upstream_failed or canceled... as Airflow: the run fails when any leaf task
///   is failed/upstream_failed) or `failed`.
/// The decision never moves a task backwards and never touches running tasks.
RunDecisions decide_run(const Dag& dag, const RunSnapshot& snapshot, Timestamp now,
                        bool start_run = false);

/// The shape of a DAG as decide_run walks it: task ids, rules, upstream lists
/// and a topological order, packed so that a decision need not touch the
/// (large) Task structs. Building it is O(tasks + edges); callers that decide
/// often cache one per DAG version.
struct DagIndex {
  std::vector<std::string> ids;                   // as dag.tasks, same positions
  std::unordered_map<std::string, int> index_of;  // task id -> position
  std::vector<TriggerRule> rules;
  std::vector<bool> depends_on_past;
  bool any_depends_on_past = false;
  std::vector<int> map_concurrency;  // max_map_concurrency of each task; 0 = no cap
  std::vector<int> upstream_begin;  // upstream of task t: upstream[upstream_begin[t]..[t + 1])
  std::vector<int> upstream;
  std::vector<int> order;  // every task, upstream before downstream
  std::vector<int> downstream_begin;  // downstream of t: downstream[downstream_begin[t]..[t + 1])
  std::vector<int> downstream;
  std::vector<bool> scope_downstream_only;  // scope_is_downstream of each task

  /// `dag`'s task `task_id` (Dag::find_task by hash, not by scan); `dag`
  /// must be the one the index was built from.
  const Task* find_task(const Dag& dag, const std::string& task_id) const;

  /// Task ids a decision after `task_id` finished depends on (Decider::scope).
  std::vector<std::string> scope_after(const std::string& task_id) const;
  /// Whether every task of scope_after(task_id) but `task_id` itself is
  /// downstream of it (Decider::predictable).
  bool scope_is_downstream(const std::string& task_id) const;

  static DagIndex build(const Dag& dag);
};

/// decide_run with a prebuilt index; `index` must come from the same `dag`.
RunDecisions decide_run(const Dag& dag, const DagIndex& index, const RunSnapshot& snapshot,
                        Timestamp now, bool start_run = false);

/// The state a failed try leads to: up_for_retry (with its next_try_at) while
/// tries remain, else failed.
struct RetryDecision {
  TaskState state = TaskState::kFailed;
  std::optional<Timestamp> next_try_at;
};
RetryDecision decide_retry(const RetryPolicy& policy, int try_number, int max_tries,
                           Timestamp now);

}  // namespace sluice
