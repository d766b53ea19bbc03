#pragma once
// The `external_task_sensor` task type: waits until another DAG's run (or one
// of its tasks) for the same data interval, shifted by an offset, succeeded
// (worker/sensor_executor).

#include <string>

#include "core/task_types/task_type.h"
#include "core/time.h"

namespace sluice {

/// The DAG (and task) to wait for, and how its interval relates to this run's.
struct ExternalTaskSensorTask {
  static constexpr std::string_view kType = "external_task_sensor";
  static constexpr bool kIsSensor = true;
  static constexpr std::string_view kKeys[] = {"dag", "task", "offset", "fail_on_failed"};

  std::string dag;
  std::string task;  // empty: the whole run
  Millis offset{0};
  bool fail_on_failed = true;

  static ExternalTaskSensorTask parse(SpecReader& reader);
  static ExternalTaskSensorTask from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
  void for_each_templated(const StringVisitor& visit) const;
  bool operator==(const ExternalTaskSensorTask&) const = default;
};

}  // namespace sluice
