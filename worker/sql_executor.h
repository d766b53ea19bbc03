#pragma once
// The `sql` task type: templated statements on a warehouse connection.

#include "worker/executor.h"

namespace sluice {

/// Runs a sql task's statements, split at `;` (outside quotes, comments and
/// dollar quotes), in one transaction unless `transaction: false`. A failure
/// names the statement ("statement 2 of 3, line 7") and the database's
/// message. Output: `rows_affected`, summed over the statements.
class SqlExecutor : public TaskExecutor {
 public:
  TaskOutcome execute(TaskContext& ctx) override;
};

/// The first line of a statement, shortened for messages.
std::string statement_summary(const std::string& text);

}  // namespace sluice
