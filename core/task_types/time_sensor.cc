#include "core/task_types/time_sensor.h"

#include "core/task_types/spec_reader.h"

namespace sluice {

TimeSensorTask TimeSensorTask::parse(SpecReader& r) {
  TimeSensorTask spec;
  if (const auto* e = r.require("after")) {
    if (auto d = r.as_duration(*e)) spec.after = *d;
  }
  return spec;
}

TimeSensorTask TimeSensorTask::from_json(const nlohmann::json& j) {
  return TimeSensorTask{Millis{j.at("after_ms").get<int64_t>()}};
}

nlohmann::json TimeSensorTask::to_json() const { return {{"after_ms", after.count()}}; }

// A duration: nothing to render.
void TimeSensorTask::for_each_templated(const StringVisitor&) const {}

}  // namespace sluice
