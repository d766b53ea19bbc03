#pragma once
// Dynamic task mapping on the worker side: the items a mapped task expands
// into, the outputs of mapped upstream tasks (a list per task, in map order)
// and the `item` / `map_index` template variables.

#include <vector>

#include <nlohmann/json.hpp>

namespace sluice {

struct Task;
struct TaskInstanceRecord;

/// Renders the items of `task.map` against `context` (the placeholder's
/// template context). Literal items are kept (strings rendered as templates);
/// an items template must render to a JSON array; dates give every
/// YYYY-MM-DD from `from` to `to` inclusive (none when `to` is earlier).
/// Stops after `limit` + 1 items, so that an over-long list is seen without
/// being built in full. Throws UserError naming the task and the problem.
std::vector<nlohmann::json> render_map_items(const Task& task, const nlohmann::json& context,
                                             int limit);

/// Task id -> outputs of every successful instance in `instances`; a mapped
/// task (instances with map_index >= 0) gives a list in map order, with null
/// for an instance that did not succeed.
nlohmann::json collect_outputs(const std::vector<TaskInstanceRecord>& instances);

}  // namespace sluice
