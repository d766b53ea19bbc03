#pragma once
// Finding one task instance of a run by task id and map index, as the CLI's
// `tasks logs|mark|clear` and the API's task-instance routes address it.

#include <optional>
#include <string>
#include <vector>

#include "core/store.h"

namespace sluice {

/// The instance of `task_id` in `tasks` (one run's instances, `run_id` for
/// messages) with `map_index`; without an index, the task's only instance.
/// NotFoundError names the task (with a did-you-mean) or the indexes the
/// task has; UserError, when a mapped task's instance is asked for without
/// an index, gives the range to choose from.
const TaskInstanceRecord& find_task_instance(const std::vector<TaskInstanceRecord>& tasks,
                                             const std::string& run_id,
                                             const std::string& task_id,
                                             std::optional<int> map_index);

}  // namespace sluice
