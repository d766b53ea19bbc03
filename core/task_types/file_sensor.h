#pragma once
// The `file_sensor` task type: waits until a file matching a glob exists
// (worker/sensor_executor).

#include <cstdint>
#include <string>

#include "core/task_types/task_type.h"

namespace sluice {

/// A glob (relative to the task's cwd) and the size a matching file must reach.
struct FileSensorTask {
  static constexpr std::string_view kType = "file_sensor";
  static constexpr bool kIsSensor = true;
  static constexpr std::string_view kKeys[] = {"path", "min_size"};

  std::string path;  // glob
  int64_t min_size = 0;

  static FileSensorTask parse(SpecReader& reader);
  static FileSensorTask from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
  void for_each_templated(const StringVisitor& visit) const;
  bool operator==(const FileSensorTask&) const = default;
};

}  // namespace sluice
