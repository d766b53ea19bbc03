#pragma once
// The `sql` task type: runs templated statements on a warehouse connection
// (worker/sql_executor).

#include <string>

#include "core/task_types/task_type.h"

namespace sluice {

/// SQL statements for one connection, run in one transaction unless told not to.
struct SqlTask {
  static constexpr std::string_view kType = "sql";
  static constexpr bool kIsSensor = false;
  static constexpr std::string_view kKeys[] = {"conn", "sql", "transaction"};

  std::string conn;
  std::string sql;       // the SQL text; a file's contents are read at load time
  std::string sql_file;  // the path as written, when the SQL came from a file
  bool transaction = true;

  static SqlTask parse(SpecReader& reader);
  static SqlTask from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
  void for_each_templated(const StringVisitor& visit) const;
  bool operator==(const SqlTask&) const = default;
};

}  // namespace sluice
