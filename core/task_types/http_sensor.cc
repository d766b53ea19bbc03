#include "core/task_types/http_sensor.h"

#include "core/task_types/spec_reader.h"

namespace sluice {

HttpSensorTask HttpSensorTask::parse(SpecReader& r) {
  HttpSensorTask spec;
  if (const auto* e = r.require("url")) {
    if (auto s = r.as_template(*e)) spec.url = *s;
  }
  if (const auto* e = r.get("status")) {
    if (auto n = r.as_int(*e, 100, 599)) spec.status = static_cast<int>(*n);
  }
  if (const auto* e = r.get("contains")) {
    if (auto s = r.as_template(*e)) spec.contains = *s;
  }
  return spec;
}

HttpSensorTask HttpSensorTask::from_json(const nlohmann::json& j) {
  return HttpSensorTask{j.at("url").get<std::string>(), j.at("status").get<int>(),
                        j.at("contains").get<std::string>()};
}

nlohmann::json HttpSensorTask::to_json() const {
  return {{"url", url}, {"status", status}, {"contains", contains}};
}

void HttpSensorTask::for_each_templated(const StringVisitor& visit) const {
  visit(url);
  visit(contains);
}

}  // namespace sluice
