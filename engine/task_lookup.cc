#include "engine/task_lookup.h"

#include <set>

#include "core/error.h"
#include "core/text.h"

namespace sluice {

namespace {

/// "0..3" for a mapped task's indexes, "none (the task is not mapped)" otherwise.
std::string index_range(const std::vector<const TaskInstanceRecord*>& found) {
  int low = found.front()->map_index;
  int high = low;
  for (const TaskInstanceRecord* ti : found) {
    low = std::min(low, ti->map_index);
    high = std::max(high, ti->map_index);
  }
  if (high < 0) return "none: the task is not mapped (or not expanded yet)";
  return std::to_string(low) + ".." + std::to_string(high);
}

}  // namespace

const TaskInstanceRecord& find_task_instance(const std::vector<TaskInstanceRecord>& tasks,
                                             const std::string& run_id,
                                             const std::string& task_id,
                                             std::optional<int> map_index) {
  std::vector<const TaskInstanceRecord*> found;
  std::set<std::string> ids;
  for (const TaskInstanceRecord& ti : tasks) {
    if (ti.task_id == task_id) found.push_back(&ti);
    ids.insert(ti.task_id);
  }
  if (found.empty()) {
    throw NotFoundError("no task '" + task_id + "' in run '" + run_id + "'" +
                        did_you_mean(task_id, {ids.begin(), ids.end()}));
  }
  if (!map_index) {
    if (found.size() == 1) return *found.front();
    throw UserError("task '" + task_id + "' is mapped into " + std::to_string(found.size()) +
                    " instances in run '" + run_id + "': choose one by its map index, " +
                    index_range(found));
  }
  for (const TaskInstanceRecord* ti : found) {
    if (ti->map_index == *map_index) return *ti;
  }
  throw NotFoundError("task '" + task_id + "' has no instance with map_index " +
                      std::to_string(*map_index) + " in run '" + run_id +
                      "'; its map indexes: " + index_range(found));
}

}  // namespace sluice
