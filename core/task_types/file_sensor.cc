#include "core/task_types/file_sensor.h"

#include <limits>

#include "core/task_types/spec_reader.h"

namespace sluice {

FileSensorTask FileSensorTask::parse(SpecReader& r) {
  FileSensorTask spec;
  if (const auto* e = r.require("path")) {
    if (auto s = r.as_template(*e)) spec.path = *s;
  }
  if (const auto* e = r.get("min_size")) {
    if (auto n = r.as_int(*e, 0, std::numeric_limits<int64_t>::max())) spec.min_size = *n;
  }
  return spec;
}

FileSensorTask FileSensorTask::from_json(const nlohmann::json& j) {
  return FileSensorTask{j.at("path").get<std::string>(), j.at("min_size").get<int64_t>()};
}

nlohmann::json FileSensorTask::to_json() const { return {{"path", path}, {"min_size", min_size}}; }

void FileSensorTask::for_each_templated(const StringVisitor& visit) const { visit(path); }

}  // namespace sluice
