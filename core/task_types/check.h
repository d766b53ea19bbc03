#pragma once
// The `check` task type: runs data checks on a warehouse connection and fails
// listing each failing one (worker/check_executor).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/task_types/task_type.h"

namespace sluice {

/// One data check of a `check` task.
struct Check {
  enum class Kind { kSqlExpect, kNotNull, kUnique, kRowCount };
  Kind kind = Kind::kSqlExpect;
  std::string sql;
  std::string expect;  // "> 0", "between 1 and 5"
  std::string table;
  std::vector<std::string> columns;  // not_null: one; unique: one or more
  std::optional<int64_t> min;
  std::optional<int64_t> max;
  bool operator==(const Check&) const = default;
};

/// The checks to run, all on one connection.
struct CheckTask {
  static constexpr std::string_view kType = "check";
  static constexpr bool kIsSensor = false;
  static constexpr std::string_view kKeys[] = {"conn", "checks"};

  std::string conn;
  std::vector<Check> checks;

  static CheckTask parse(SpecReader& reader);
  static CheckTask from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
  void for_each_templated(const StringVisitor& visit) const;
  bool operator==(const CheckTask&) const = default;
};

}  // namespace sluice
