#pragma once
// The `sql_sensor` task type: waits until a query's first column of its first
// row is truthy (worker/sensor_executor).

#include <string>

#include "core/task_types/task_type.h"

namespace sluice {

/// A query (inline or a .sql file) on one connection.
struct SqlSensorTask {
  static constexpr std::string_view kType = "sql_sensor";
  static constexpr bool kIsSensor = true;
  static constexpr std::string_view kKeys[] = {"conn", "sql"};

  std::string conn;
  std::string sql;

  static SqlSensorTask parse(SpecReader& reader);
  static SqlSensorTask from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
  void for_each_templated(const StringVisitor& visit) const;
  bool operator==(const SqlSensorTask&) const = default;
};

}  // namespace sluice
