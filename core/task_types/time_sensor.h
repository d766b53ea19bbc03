#pragma once
// The `time_sensor` task type: waits until a time after the data interval's
// end (worker/sensor_executor).

#include "core/task_types/task_type.h"
#include "core/time.h"

namespace sluice {

/// How long after the interval's end the sensor succeeds.
struct TimeSensorTask {
  static constexpr std::string_view kType = "time_sensor";
  static constexpr bool kIsSensor = true;
  static constexpr std::string_view kKeys[] = {"after"};

  Millis after{0};

  static TimeSensorTask parse(SpecReader& reader);
  static TimeSensorTask from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
  void for_each_templated(const StringVisitor& visit) const;
  bool operator==(const TimeSensorTask&) const = default;
};

}  // namespace sluice
