#include "worker/check_executor.h"

#include <cstdlib>

#include "core/config.h"
#include "core/dag.h"
#include "core/error.h"
#include "core/template.h"
#include "core/text.h"
#include "worker/warehouse.h"

namespace sluice {
namespace {

std::optional<double> parse_number(std::string_view text) {
  std::string s(trim(text));
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return std::nullopt;
  return v;
}

/// The result of one check.
struct CheckResult {
  std::string description;
  bool passed = false;
  std::string actual;
};

int64_t count_of(Warehouse& wh, const std::string& sql) {
  std::optional<SqlValue> v = wh.query_scalar(sql);
  if (!v || !*v) return 0;
  return std::stoll(**v);
}

}  // namespace

std::optional<Expectation> Expectation::parse(std::string_view text) {
  std::string t(trim(text));
  std::string lowered = to_lower(t);
  Expectation e;
  if (starts_with(lowered, "between ")) {
    size_t and_at = lowered.find(" and ");
    if (and_at == std::string::npos) return std::nullopt;
    auto a = parse_number(t.substr(8, and_at - 8));
    auto b = parse_number(t.substr(and_at + 5));
    if (!a || !b) return std::nullopt;
    e.op = Op::kBetween;
    e.a = *a;
    e.b = *b;
    return e;
  }
  static const std::pair<const char*, Op> kOps[] = {{">=", Op::kGe}, {"<=", Op::kLe},
                                                    {"!=", Op::kNe}, {"<>", Op::kNe},
                                                    {"==", Op::kEq}, {">", Op::kGt},
                                                    {"<", Op::kLt},  {"=", Op::kEq}};
  for (const auto& [symbol, op] : kOps) {
    if (!starts_with(t, symbol)) continue;
    auto a = parse_number(std::string_view(t).substr(std::string_view(symbol).size()));
    if (!a) return std::nullopt;
    e.op = op;
    e.a = *a;
    return e;
  }
  return std::nullopt;
}

bool Expectation::holds(double v) const {
  switch (op) {
    case Op::kGt: return v > a;
    case Op::kGe: return v >= a;
    case Op::kLt: return v < a;
    case Op::kLe: return v <= a;
    case Op::kEq: return v == a;
    case Op::kNe: return v != a;
    case Op::kBetween: return v >= a && v <= b;
  }
  return false;
}

TaskOutcome CheckExecutor::execute(TaskContext& ctx) {
  TaskOutcome outcome;
  MaskedLog log(ctx.log, ctx.config);
  const auto& task = std::get<CheckTask>(ctx.task.spec);
  auto deadline = deadline_after(ctx.timeout);
  std::unique_ptr<Warehouse> warehouse;  // outlives the watchdog that watches it
  std::optional<StatementWatchdog> watchdog;
  auto render = [&](const std::string& s) { return render_template(s, ctx.template_context); };
  try {
    // Render everything first: a template error fails the task before any query.
    std::vector<Check> checks = task.checks;
    nlohmann::json rendered = nlohmann::json::array();
    for (Check& c : checks) {
      c.sql = render(c.sql);
      c.table = render(c.table);
      for (std::string& col : c.columns) col = render(col);
      switch (c.kind) {
        case Check::Kind::kSqlExpect:
          rendered.push_back({{"sql", c.sql}, {"expect", c.expect}});
          break;
        case Check::Kind::kNotNull:
          rendered.push_back({{"not_null", {{"table", c.table}, {"column", c.columns.at(0)}}}});
          break;
        case Check::Kind::kUnique:
          rendered.push_back({{"unique", {{"table", c.table}, {"columns", c.columns}}}});
          break;
        case Check::Kind::kRowCount: {
          nlohmann::json rc = {{"table", c.table}};
          if (c.min) rc["min"] = *c.min;
          if (c.max) rc["max"] = *c.max;
          rendered.push_back({{"row_count", rc}});
          break;
        }
      }
    }
    outcome.rendered = {{"conn", task.conn}, {"checks", rendered}};
    warehouse = open_warehouse(ctx.config, task.conn);
    watchdog.emplace(*warehouse, ctx.cancel, deadline);
    Warehouse& wh = *warehouse;

    std::vector<CheckResult> results;
    for (const Check& c : checks) {
      watchdog->check();
      CheckResult r;
      try {
        switch (c.kind) {
          case Check::Kind::kSqlExpect: {
            r.description = "`" + c.sql + "` expect " + c.expect;
            std::optional<Expectation> e = Expectation::parse(c.expect);
            if (!e) throw UserError("bad expect '" + c.expect + "'");
            std::optional<SqlValue> v = wh.query_scalar(c.sql);
            if (!v) {
              r.actual = "no rows";
            } else if (!*v) {
              r.actual = "NULL";
            } else {
              r.actual = **v;
              std::optional<double> n = parse_number(**v);
              if (!n) {
                r.actual = "'" + **v + "' (not a number)";
              } else {
                r.passed = e->holds(*n);
              }
            }
            break;
          }
          case Check::Kind::kNotNull: {
            const std::string& col = c.columns.at(0);
            r.description = "not_null " + c.table + "." + col;
            int64_t n = count_of(wh, "SELECT count(*) FROM " + wh.quote_name(c.table) + " WHERE " +
                                         wh.quote_name(col) + " IS NULL");
            r.actual = std::to_string(n) + " NULL rows";
            r.passed = n == 0;
            break;
          }
          case Check::Kind::kUnique: {
            r.description = "unique " + c.table + " (" + join(c.columns, ", ") + ")";
            std::string cols;
            for (const std::string& col : c.columns) cols += (cols.empty() ? "" : ", ") + wh.quote_name(col);
            int64_t n = count_of(wh, "SELECT count(*) FROM (SELECT " + cols + " FROM " +
                                         wh.quote_name(c.table) + " GROUP BY " + cols +
                                         " HAVING count(*) > 1) duplicates");
            r.actual = std::to_string(n) + " duplicated keys";
            r.passed = n == 0;
            break;
          }
          case Check::Kind::kRowCount: {
            r.description = "row_count " + c.table;
            if (c.min) r.description += " min " + std::to_string(*c.min);
            if (c.max) r.description += " max " + std::to_string(*c.max);
            int64_t n = count_of(wh, "SELECT count(*) FROM " + wh.quote_name(c.table));
            r.actual = std::to_string(n) + " rows";
            r.passed = (!c.min || n >= *c.min) && (!c.max || n <= *c.max);
            break;
          }
        }
      } catch (const WarehouseError& e) {
        if (e.interrupted()) throw;
        r.passed = false;
        r.actual = std::string("error: ") + e.what();
      } catch (const UserError& e) {
        r.passed = false;
        r.actual = std::string("error: ") + e.what();
      }
      log.line(std::string(r.passed ? "PASS " : "FAIL ") + "check " +
               std::to_string(results.size() + 1) + ": " + r.description + " (actual: " + r.actual + ")");
      results.push_back(std::move(r));
    }

    std::vector<std::string> failures;
    nlohmann::json summary = nlohmann::json::array();
    for (size_t i = 0; i < results.size(); ++i) {
      summary.push_back({{"check", results[i].description},
                         {"passed", results[i].passed},
                         {"actual", results[i].actual}});
      if (!results[i].passed) {
        failures.push_back("check " + std::to_string(i + 1) + " " + results[i].description +
                           ": actual " + results[i].actual);
      }
    }
    outcome.outputs["passed"] = static_cast<int64_t>(results.size() - failures.size());
    outcome.outputs["failed"] = static_cast<int64_t>(failures.size());
    if (failures.empty()) {
      log.line("all " + std::to_string(results.size()) + " checks passed");
      outcome.status = TaskOutcome::Status::kSuccess;
    } else {
      outcome.status = TaskOutcome::Status::kFailed;
      outcome.error = log.mask(std::to_string(failures.size()) + " of " +
                               std::to_string(results.size()) + " checks failed: " +
                               join(failures, "; "));
      log.line(outcome.error);
    }
  } catch (const std::exception& e) {
    fail_warehouse_task(outcome, e, watchdog, deadline, ctx, log);
    log.line("check failed: " + outcome.error);
  }
  return outcome;
}

}  // namespace sluice
