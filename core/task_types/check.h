#pragma once
// The `check` task type: runs data checks on a warehouse connection, records
// each result, and fails listing each failing one (worker/check_executor).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/task_types/task_type.h"
#include "core/time.h"

namespace sluice {

/// One data check of a `check` task. Every kind but `sql` names a table and
/// takes an optional `where` (templated) that scopes it, e.g. to the run's day.
struct Check {
  enum class Kind {
    kSqlExpect,       // sql + expect: the query's one value compared with expect
    kNotNull,         // column has no NULL
    kUnique,          // columns have no duplicated combination
    kRowCount,        // min <= rows <= max
    kAcceptedValues,  // every non-NULL value of column is in values
    kRelationships,   // every non-NULL value of column exists in to.table's to.column
    kFreshness,       // max(column) is at most max_age old
    kVolumeChange,    // rows changed by at most max_drop / max_rise since an earlier interval
    kNullRate,        // the share of NULL in column is at most max_rate
    kExpression,      // condition holds for every row
  };
  enum class Severity { kError, kWarn };

  Kind kind = Kind::kSqlExpect;
  std::string name;  // as written, or derived from the kind, table and columns
  Severity severity = Severity::kError;
  std::string sql;
  std::string expect;  // "> 0", "between 1 and 5"
  std::string table;
  std::vector<std::string> columns;  // unique: one or more; other column kinds: one
  std::string where;                 // SQL condition, templated; empty for every row
  std::optional<int64_t> min;        // row_count
  std::optional<int64_t> max;        // row_count
  std::vector<std::string> values;   // accepted_values
  std::string to_table;              // relationships
  std::string to_column;             // relationships
  std::optional<Millis> max_age;     // freshness
  std::optional<double> max_drop;    // volume_change, percent
  std::optional<double> max_rise;    // volume_change, percent
  std::string compare_to;            // volume_change: previous_interval | same_weekday
  std::optional<double> max_rate;    // null_rate, percent
  std::string condition;             // expression, templated
  bool operator==(const Check&) const = default;
};

/// The YAML name of a check kind ("not_null").
const char* check_kind_name(Check::Kind kind);

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
