#pragma once
// The task-type registry: every task type Sluice knows, one line each in
// TaskSpec below, and what the loader and the store look up by a type's name.
// How to add a type: core/task_types/task_type.h.

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "core/task_types/check.h"
#include "core/task_types/external_task_sensor.h"
#include "core/task_types/extract.h"
#include "core/task_types/file_sensor.h"
#include "core/task_types/http_sensor.h"
#include "core/task_types/shell.h"
#include "core/task_types/spark_submit.h"
#include "core/task_types/sql.h"
#include "core/task_types/sql_sensor.h"
#include "core/task_types/tcp_sensor.h"
#include "core/task_types/time_sensor.h"

namespace sluice {

/// Whether no two of the types share a name.
template <typename... Spec>
constexpr bool distinct_task_type_names() {
  std::string_view names[] = {Spec::kType...};
  for (size_t i = 0; i < sizeof...(Spec); ++i) {
    for (size_t j = i + 1; j < sizeof...(Spec); ++j) {
      if (names[i] == names[j]) return false;
    }
  }
  return true;
}

/// The alternatives of a task's spec: each must satisfy TaskTypeSpec (the
/// compiler names the one that does not), and no two may share a name.
template <TaskTypeSpec... Spec>
struct TaskTypeList {
  static_assert(distinct_task_type_names<Spec...>(), "two task types have the same kType");
  using Variant = std::variant<Spec...>;
};

/// What a task does, by type: one line a type (and its include above).
// clang-format off
using TaskSpec = TaskTypeList<
    ShellTask,
    ExtractTask,
    SqlTask,
    CheckTask,
    SparkSubmitTask,
    FileSensorTask,
    SqlSensorTask,
    HttpSensorTask,
    ExternalTaskSensorTask,
    TimeSensorTask,
    TcpSensorTask
>::Variant;
// clang-format on

/// One task type's table, for code that knows the type only by its name.
struct TaskType {
  std::string_view name;
  bool is_sensor = false;
  std::vector<std::string> keys;  // its own keys, in its table's order
  TaskSpec (*parse)(SpecReader& reader) = nullptr;
  /// Throws nlohmann::json::exception or UserError on a malformed spec.
  TaskSpec (*from_json)(const nlohmann::json& j) = nullptr;
};

/// Every task type, in the order of TaskSpec's alternatives: `spec.index()`
/// indexes it.
const std::vector<TaskType>& task_types();
/// The type named `name`, or null.
const TaskType* find_task_type(std::string_view name);

/// A spec in the store's form (see dag_to_json).
nlohmann::json spec_to_json(const TaskSpec& spec);
/// Calls `visit` with every string of `spec` that the worker renders.
void for_each_templated(const TaskSpec& spec, const StringVisitor& visit);

namespace task_types_detail {

template <typename F, size_t... I>
bool with_task_type(std::string_view name, F& f, std::index_sequence<I...>) {
  auto try_one = [&]<typename Spec>(std::type_identity<Spec> spec) {
    if (Spec::kType != name) return false;
    f(spec);
    return true;
  };
  return (try_one(std::type_identity<std::variant_alternative_t<I, TaskSpec>>{}) || ...);
}

}  // namespace task_types_detail

/// Calls `f(std::type_identity<Spec>{})` for the spec type of the task type
/// named `name`, and says whether there is one. `f` is instantiated for every
/// type, so code that must handle each type (an executor for each) fails to
/// compile when one is missing.
template <typename F>
bool with_task_type(std::string_view name, F&& f) {
  return task_types_detail::with_task_type(
      name, f, std::make_index_sequence<std::variant_size_v<TaskSpec>>{});
}

}  // namespace sluice
