#pragma once
// What a mark (setting a task instance's state by hand) would change in its
// run, worked out before it is done, so that the UI can say it in its
// confirmation: tasks that would start or end, and the run's state after.

#include <optional>
#include <string>
#include <vector>

#include "core/dag.h"
#include "core/store.h"

namespace sluice {

/// One task instance whose state the mark would change (the marked one too).
struct PreviewedChange {
  std::string task_id;
  int map_index = -1;
  TaskState from = TaskState::kNone;
  TaskState to = TaskState::kNone;
};

struct MarkPreview {
  std::vector<PreviewedChange> changes;
  RunState run_before = RunState::kQueued;
  RunState run_after = RunState::kQueued;
  /// Downstream instances left skipped or upstream_failed: a mark never moves
  /// a task backwards, so only clearing them runs them again.
  std::vector<PreviewedChange> left_as_they_are;
};

/// The preview of marking `ti_id` (one of `tasks`, the instances of `run`)
/// `to`, decided as the store would decide it at `now` (a task with
/// depends_on_past is decided as if its previous interval had succeeded).
MarkPreview preview_mark(const Dag& dag, const RunRecord& run,
                         const std::vector<TaskInstanceRecord>& tasks, int64_t ti_id,
                         TaskState to, Timestamp now);

}  // namespace sluice
