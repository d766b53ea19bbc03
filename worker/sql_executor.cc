#include "worker/sql_executor.h"

#include <optional>

#include "core/config.h"
#include "core/dag.h"
#include "core/error.h"
#include "core/template.h"
#include "worker/warehouse.h"

namespace sluice {
namespace {

constexpr size_t kSummaryChars = 80;

/// Where line `line` (1-based) of `text` starts.
size_t line_offset(const std::string& text, int line) {
  size_t offset = 0;
  for (int l = 1; l < line; ++l) {
    size_t next = text.find('\n', offset);
    if (next == std::string::npos) break;
    offset = next + 1;
  }
  return offset;
}

}  // namespace

std::string statement_summary(const std::string& text) {
  std::string first = text.substr(0, text.find('\n'));
  if (first.size() > kSummaryChars) return first.substr(0, kSummaryChars) + "...";
  if (first.size() < text.size()) return first + " ...";
  return first;
}

TaskOutcome SqlExecutor::execute(TaskContext& ctx) {
  TaskOutcome outcome;
  MaskedLog log(ctx.log, ctx.config);
  const auto& task = std::get<SqlTask>(ctx.task.spec);
  auto deadline = deadline_after(ctx.timeout);
  std::unique_ptr<Warehouse> warehouse;  // outlives the watchdog that watches it
  std::optional<StatementWatchdog> watchdog;
  try {
    // Statements are reported by their line in the SQL as written (the
    // file), not in the rendered text that loops and conditions reshaped.
    std::optional<Template> tpl;
    std::vector<RenderedSpan> spans;
    std::string sql;
    try {
      tpl = Template::parse(task.sql);
      sql = tpl->render(ctx.template_context, &spans);
    } catch (const TemplateError& e) {
      if (task.sql_file.empty()) throw;
      throw UserError(e.located(task.sql_file));
    }
    outcome.rendered = {{"conn", task.conn}, {"sql", sql}, {"transaction", task.transaction}};
    if (!task.sql_file.empty()) outcome.rendered["sql_file"] = task.sql_file;
    std::vector<SqlStatement> statements = split_sql(sql);
    if (statements.empty()) throw UserError("the sql task has no statements");
    warehouse = open_warehouse(ctx.config, task.conn);
    watchdog.emplace(*warehouse, ctx.cancel, deadline);
    if (task.transaction) warehouse->begin();
    int64_t total = 0;
    size_t n = statements.size();
    for (size_t i = 0; i < n; ++i) {
      const SqlStatement& st = statements[i];
      std::string where = "statement " + std::to_string(i + 1) + " of " + std::to_string(n) +
                          ", line " +
                          std::to_string(tpl->source_line(spans, line_offset(sql, st.line)));
      if (!task.sql_file.empty()) where += " of " + task.sql_file;
      log.line(where + ": " + statement_summary(st.text));
      watchdog->check();
      int64_t affected = 0;
      try {
        affected = warehouse->execute(st.text);
      } catch (const WarehouseError& e) {
        if (e.interrupted()) throw;
        throw Error(where + " (" + statement_summary(st.text) + "): " + e.what());
      }
      total += affected;
      log.line("  " + std::to_string(affected) + " rows affected");
    }
    watchdog->check();
    if (task.transaction) warehouse->commit();
    outcome.outputs["rows_affected"] = total;
    log.line("done: " + std::to_string(n) + " statements, " + std::to_string(total) +
             " rows affected" + (task.transaction ? ", committed" : ""));
    outcome.status = TaskOutcome::Status::kSuccess;
  } catch (const std::exception& e) {
    fail_warehouse_task(outcome, e, watchdog, deadline, ctx, log);
    log.line("sql failed: " + outcome.error +
             (task.transaction ? "; rolled back" : "; earlier statements stay committed"));
  }
  return outcome;
}

}  // namespace sluice
