#include "core/task_types/external_task_sensor.h"

#include "core/task_types/spec_reader.h"

namespace sluice {

ExternalTaskSensorTask ExternalTaskSensorTask::parse(SpecReader& r) {
  ExternalTaskSensorTask spec;
  if (const auto* e = r.require("dag")) {
    if (auto s = r.as_string(*e)) {
      spec.dag = *s;
      if (!loader::valid_id(*s))
        r.error(e->value, loader::quote_value(*s) + " is not a valid DAG id");
    }
  }
  if (const auto* e = r.get("task")) {
    if (auto s = r.as_string(*e)) spec.task = *s;
  }
  if (const auto* e = r.get("offset")) {
    if (auto d = r.as_duration(*e, /*allow_negative=*/true)) spec.offset = *d;
  }
  if (const auto* e = r.get("fail_on_failed")) {
    if (auto b = r.as_bool(*e)) spec.fail_on_failed = *b;
  }
  return spec;
}

ExternalTaskSensorTask ExternalTaskSensorTask::from_json(const nlohmann::json& j) {
  ExternalTaskSensorTask t;
  t.dag = j.at("dag").get<std::string>();
  t.task = j.at("task").get<std::string>();
  t.offset = Millis{j.at("offset_ms").get<int64_t>()};
  t.fail_on_failed = j.at("fail_on_failed").get<bool>();
  return t;
}

nlohmann::json ExternalTaskSensorTask::to_json() const {
  return {{"dag", dag},
          {"task", task},
          {"offset_ms", offset.count()},
          {"fail_on_failed", fail_on_failed}};
}

// The DAG and task names are plain ids: nothing to render.
void ExternalTaskSensorTask::for_each_templated(const StringVisitor&) const {}

}  // namespace sluice
