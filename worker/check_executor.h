#pragma once
// The `check` task type: data checks on a warehouse connection.

#include <optional>
#include <string>

#include "worker/executor.h"

namespace sluice {

/// A parsed `expect:` ("> 0", ">= 1.5", "!= 3", "between 1 and 5").
struct Expectation {
  enum class Op { kGt, kGe, kLt, kLe, kEq, kNe, kBetween };
  Op op = Op::kEq;
  double a = 0;
  double b = 0;  // upper bound for kBetween (inclusive)

  /// nullopt when `text` is not one of the forms above.
  static std::optional<Expectation> parse(std::string_view text);
  bool holds(double value) const;
};

/// Runs every check of a check task (sql + expect, not_null, unique,
/// row_count), logs each as PASS or FAIL with its actual value, and fails
/// listing each failing check. A check whose query errors counts as failed.
class CheckExecutor : public TaskExecutor {
 public:
  TaskOutcome execute(TaskContext& ctx) override;
};

}  // namespace sluice
