#include "engine/mark_preview.h"

#include <map>
#include <set>

#include "core/states.h"
#include "engine/readiness.h"

namespace sluice {

MarkPreview preview_mark(const Dag& dag, const RunRecord& run,
                         const std::vector<TaskInstanceRecord>& tasks, int64_t ti_id,
                         TaskState to, Timestamp now) {
  RunSnapshot snap;
  snap.run = run;
  std::map<int64_t, size_t> position;
  std::string marked_task;
  for (const TaskInstanceRecord& ti : tasks) {
    position[ti.id] = snap.tasks.size();
    snap.tasks.push_back({ti.id, ti.task_id, ti.map_index, ti.state, ti.try_number, ti.max_tries,
                          ti.next_try_at});
    if (ti.id == ti_id) marked_task = ti.task_id;
  }
  std::vector<TaskState> before;
  for (const TaskStateView& v : snap.tasks) before.push_back(v.state);
  if (auto it = position.find(ti_id); it != position.end()) snap.tasks[it->second].state = to;

  MarkPreview preview;
  preview.run_before = run.state;
  preview.run_after = run.state;
  // As the store does it: one decision after the mark, then the state of an
  // ended run decided again from its tasks.
  RunDecisions decisions = decide_run(dag, snap, now);
  for (const TaskTransition& t : decisions.tasks) {
    if (auto it = position.find(t.ti_id); it != position.end()) snap.tasks[it->second].state = t.to;
  }
  if (decisions.run_state) {
    preview.run_after = *decisions.run_state;
    snap.run.state = *decisions.run_state;
  }
  std::vector<TaskState> after;
  for (const TaskStateView& v : snap.tasks) after.push_back(v.state);
  if (auto redecided = run_state_after_mark(snap.run.state, after)) preview.run_after = *redecided;

  std::set<std::string> downstream = with_downstream(dag, {marked_task});
  for (size_t i = 0; i < snap.tasks.size(); ++i) {
    const TaskStateView& v = snap.tasks[i];
    PreviewedChange change{v.task_id, v.map_index, before[i], v.state};
    if (before[i] != v.state) preview.changes.push_back(change);
    if (v.task_id != marked_task && downstream.count(v.task_id) &&
        (v.state == TaskState::kUpstreamFailed || v.state == TaskState::kSkipped)) {
      preview.left_as_they_are.push_back(change);
    }
  }
  return preview;
}

}  // namespace sluice
