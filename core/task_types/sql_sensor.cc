#include "core/task_types/sql_sensor.h"

#include "core/task_types/spec_reader.h"

namespace sluice {

SqlSensorTask SqlSensorTask::parse(SpecReader& r) {
  SqlSensorTask spec;
  if (const auto* e = r.require("conn")) {
    if (auto s = r.as_string(*e)) spec.conn = *s;
  }
  if (const auto* e = r.require("sql")) {
    if (auto s = r.as_sql(*e, nullptr)) spec.sql = *s;
  }
  return spec;
}

SqlSensorTask SqlSensorTask::from_json(const nlohmann::json& j) {
  return SqlSensorTask{j.at("conn").get<std::string>(), j.at("sql").get<std::string>()};
}

nlohmann::json SqlSensorTask::to_json() const { return {{"conn", conn}, {"sql", sql}}; }

void SqlSensorTask::for_each_templated(const StringVisitor& visit) const { visit(sql); }

}  // namespace sluice
