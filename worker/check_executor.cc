#include "worker/check_executor.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/config.h"
#include "core/dag.h"
#include "core/error.h"
#include "core/store.h"
#include "core/template.h"
#include "core/text.h"
#include "worker/warehouse.h"

namespace sluice {
namespace {

/// How many offending rows a failing check shows in the log.
constexpr int kOffendingRows = 10;
/// How many earlier results volume_change looks through for its comparison.
constexpr int kVolumeHistory = 60;

std::optional<double> parse_number(std::string_view text) {
  std::string s(trim(text));
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

/// 12, 0.5, 33.33: whole numbers without a fraction, others to two places.
std::string number_text(double v) {
  if (std::floor(v) == v && std::fabs(v) < 1e15) return std::to_string(static_cast<int64_t>(v));
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

/// "1 row", "3 rows".
std::string rows_text(int64_t n, const std::string& what = "row") {
  return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

/// One check, rendered and ready to run, with what it found.
struct RunningCheck {
  Check spec;
  CheckResultRecord result;
  std::string description;    // for the log and the task's error
  std::string offending_sql;  // rows to show when it fails; empty for none
};

int64_t count_of(Warehouse& wh, const std::string& sql) {
  std::optional<SqlValue> v = wh.query_scalar(sql);
  if (!v || !*v) return 0;
  return std::stoll(**v);
}

/// " WHERE a AND b" from the conditions that are not empty, each in parentheses.
std::string where_clause(std::initializer_list<std::string> conditions) {
  std::string out;
  for (const std::string& c : conditions) {
    if (c.empty()) continue;
    out += (out.empty() ? " WHERE (" : " AND (") + c + ")";
  }
  return out;
}

/// The rendered form of a check, as the task's rendered spec shows it.
nlohmann::json rendered_json(const Check& c) {
  nlohmann::json j = {{"name", c.name}};
  if (c.severity == Check::Severity::kWarn) j["severity"] = "warn";
  if (c.kind == Check::Kind::kSqlExpect) {
    j["sql"] = c.sql;
    j["expect"] = c.expect;
    return j;
  }
  nlohmann::json m = {{"table", c.table}};
  if (c.kind == Check::Kind::kUnique) {
    m["columns"] = c.columns;
  } else if (!c.columns.empty()) {
    m["column"] = c.columns.at(0);
  }
  if (!c.where.empty()) m["where"] = c.where;
  if (c.min) m["min"] = *c.min;
  if (c.max) m["max"] = *c.max;
  if (!c.values.empty()) m["values"] = c.values;
  if (!c.to_table.empty()) m["to"] = {{"table", c.to_table}, {"column", c.to_column}};
  if (c.max_age) m["max_age"] = format_duration(*c.max_age);
  if (c.max_drop) m["max_drop"] = number_text(*c.max_drop) + "%";
  if (c.max_rise) m["max_rise"] = number_text(*c.max_rise) + "%";
  if (c.kind == Check::Kind::kVolumeChange) m["compare_to"] = c.compare_to;
  if (c.max_rate) m["max"] = number_text(*c.max_rate) + "%";
  if (!c.condition.empty()) m["condition"] = c.condition;
  j[check_kind_name(c.kind)] = m;
  return j;
}

/// The earlier value volume_change compares with: the newest passing result
/// of the same check before this interval (previous_interval), or the newest
/// one a whole number of weeks earlier (same_weekday). nullopt when none.
std::optional<CheckResultRecord> earlier_volume(const TaskContext& ctx, const Check& c) {
  if (!ctx.store) return std::nullopt;
  CheckResultFilter filter;
  filter.dag_id = ctx.dag.id;
  filter.task_id = ctx.task.id;
  filter.name = c.name;
  filter.before_interval = ctx.run.interval.start;
  filter.passed_only = true;
  filter.limit = kVolumeHistory;
  for (const CheckResultRecord& r : ctx.store->list_check_results(filter)) {
    if (!r.value) continue;
    if (c.compare_to != "same_weekday") return r;
    // Whole days apart, to the nearest hour (a DST change moves the start by one).
    auto apart = std::chrono::duration_cast<std::chrono::hours>(ctx.run.interval.start -
                                                                r.interval_start);
    int64_t days = (apart.count() + 12) / 24;
    if (days > 0 && days % 7 == 0) return r;
  }
  return std::nullopt;
}

/// Runs one check: sets its result (status, actual, value, threshold) and the
/// query that lists its offending rows.
void run_check(Warehouse& wh, const TaskContext& ctx, RunningCheck& rc) {
  const Check& c = rc.spec;
  CheckResultRecord& r = rc.result;
  const std::string table = c.kind == Check::Kind::kSqlExpect ? "" : wh.quote_name(c.table);
  const std::string col = c.columns.empty() ? "" : wh.quote_name(c.columns.at(0));
  const std::string scope = c.where.empty() ? "" : " where " + c.where;
  bool passed = false;
  switch (c.kind) {
    case Check::Kind::kSqlExpect: {
      rc.description = "`" + c.sql + "` expect " + c.expect;
      r.threshold = c.expect;
      std::optional<Expectation> e = Expectation::parse(c.expect);
      if (!e) throw UserError("bad expect '" + c.expect + "'");
      std::optional<SqlValue> v = wh.query_scalar(c.sql);
      if (!v) {
        r.actual = "no rows";
      } else if (!*v) {
        r.actual = "NULL";
      } else if (std::optional<double> n = parse_number(**v)) {
        // Numbers compare as numbers: 40 equals 40.000.
        r.actual = **v;
        r.value = *n;
        passed = e->holds(*n);
      } else {
        r.actual = "'" + **v + "' (not a number)";
      }
      break;
    }
    case Check::Kind::kNotNull: {
      rc.description = "not_null " + c.table + "." + c.columns.at(0) + scope;
      std::string filter = where_clause({col + " IS NULL", c.where});
      int64_t n = count_of(wh, "SELECT count(*) FROM " + table + filter);
      r.actual = rows_text(n, "NULL row");
      r.value = static_cast<double>(n);
      r.threshold = "0 NULL rows";
      passed = n == 0;
      rc.offending_sql = "SELECT * FROM " + table + filter;
      break;
    }
    case Check::Kind::kUnique: {
      rc.description = "unique " + c.table + " (" + join(c.columns, ", ") + ")" + scope;
      std::string cols;
      for (const std::string& name : c.columns) cols += (cols.empty() ? "" : ", ") + wh.quote_name(name);
      std::string groups = "SELECT " + cols + ", count(*) AS copies FROM " + table +
                           where_clause({c.where}) + " GROUP BY " + cols + " HAVING count(*) > 1";
      int64_t n = count_of(wh, "SELECT count(*) FROM (" + groups + ") duplicates");
      r.actual = rows_text(n, "duplicated key");
      r.value = static_cast<double>(n);
      r.threshold = "0 duplicated keys";
      passed = n == 0;
      rc.offending_sql = groups + " ORDER BY copies DESC";
      break;
    }
    case Check::Kind::kRowCount: {
      rc.description = "row_count " + c.table + scope;
      if (c.min) rc.description += " min " + std::to_string(*c.min);
      if (c.max) rc.description += " max " + std::to_string(*c.max);
      int64_t n = count_of(wh, "SELECT count(*) FROM " + table + where_clause({c.where}));
      r.actual = rows_text(n);
      r.value = static_cast<double>(n);
      if (c.min && c.max) {
        r.threshold = "between " + std::to_string(*c.min) + " and " + std::to_string(*c.max);
      } else {
        r.threshold = c.min ? ">= " + std::to_string(*c.min) : "<= " + std::to_string(*c.max);
      }
      passed = (!c.min || n >= *c.min) && (!c.max || n <= *c.max);
      break;
    }
    case Check::Kind::kAcceptedValues: {
      rc.description = "accepted_values " + c.table + "." + c.columns.at(0) + " in (" +
                       join(c.values, ", ") + ")" + scope;
      std::string list;
      for (const std::string& v : c.values) list += (list.empty() ? "" : ", ") + wh.quote_literal(v);
      std::string filter = where_clause({col + " IS NOT NULL AND " + col + " NOT IN (" + list + ")",
                                         c.where});
      int64_t n = count_of(wh, "SELECT count(*) FROM " + table + filter);
      r.actual = rows_text(n) + " with other values";
      r.value = static_cast<double>(n);
      r.threshold = "0 rows with other values";
      passed = n == 0;
      rc.offending_sql = "SELECT " + col + ", count(*) AS row_count FROM " + table + filter +
                         " GROUP BY " + col + " ORDER BY row_count DESC";
      break;
    }
    case Check::Kind::kRelationships: {
      rc.description = "relationships " + c.table + "." + c.columns.at(0) + " -> " + c.to_table +
                       "." + c.to_column + scope;
      std::string filter = where_clause(
          {"child." + col + " IS NOT NULL AND NOT EXISTS (SELECT 1 FROM " +
               wh.quote_name(c.to_table) + " parent WHERE parent." + wh.quote_name(c.to_column) +
               " = child." + col + ")",
           c.where});
      int64_t n = count_of(wh, "SELECT count(*) FROM " + table + " child" + filter);
      r.actual = rows_text(n) + " without a parent";
      r.value = static_cast<double>(n);
      r.threshold = "0 rows without a parent";
      passed = n == 0;
      rc.offending_sql = "SELECT child.* FROM " + table + " child" + filter;
      break;
    }
    case Check::Kind::kFreshness: {
      rc.description = "freshness " + c.table + "." + c.columns.at(0) + scope + " max_age " +
                       format_duration(*c.max_age);
      r.threshold = "<= " + format_duration(*c.max_age);
      std::optional<SqlValue> v =
          wh.query_scalar("SELECT max(" + col + ") FROM " + table + where_clause({c.where}));
      if (!v || !*v) {
        r.actual = "no rows";
        break;
      }
      // Timestamps without an offset are read as UTC, as warehouses store them.
      std::optional<Timestamp> newest = parse_timestamp(**v);
      if (!newest) {
        r.actual = "'" + **v + "' is not a date or timestamp";
        break;
      }
      Timestamp now = ctx.clock ? ctx.clock->now() : RealClock().now();
      Millis age = std::chrono::duration_cast<Millis>(now - *newest);
      r.value = std::chrono::duration<double>(age).count();
      r.actual = "newest " + **v + ", " +
                 (age.count() < 0 ? "in the future" : format_duration(age) + " old");
      passed = age <= *c.max_age;
      break;
    }
    case Check::Kind::kVolumeChange: {
      rc.description = "volume_change " + c.table + scope;
      std::vector<std::string> limits;
      if (c.max_drop) limits.push_back("drop <= " + number_text(*c.max_drop) + "%");
      if (c.max_rise) limits.push_back("rise <= " + number_text(*c.max_rise) + "%");
      r.threshold = join(limits, ", ") + " vs " +
                    (c.compare_to == "same_weekday" ? "same weekday" : "previous interval");
      int64_t n = count_of(wh, "SELECT count(*) FROM " + table + where_clause({c.where}));
      r.value = static_cast<double>(n);
      std::optional<CheckResultRecord> earlier = earlier_volume(ctx, c);
      if (!earlier) {
        r.actual = rows_text(n) + " (no earlier interval to compare with yet)";
        passed = true;
        break;
      }
      double before = *earlier->value;
      double change = before == 0 ? (n == 0 ? 0 : INFINITY) : (n - before) / before * 100;
      std::string was = number_text(before) + (before == 1 ? " row" : " rows") + " in " + earlier->run_id;
      if (std::isinf(change)) {
        r.actual = rows_text(n) + " (was 0: " + was + ")";
      } else {
        r.actual = rows_text(n) + " (" + (change >= 0 ? "+" : "") +
                   number_text(change) + "% vs " + was + ")";
      }
      passed = (!c.max_drop || change >= -*c.max_drop) && (!c.max_rise || change <= *c.max_rise);
      break;
    }
    case Check::Kind::kNullRate: {
      rc.description = "null_rate " + c.table + "." + c.columns.at(0) + scope + " max " +
                       number_text(*c.max_rate) + "%";
      r.threshold = "<= " + number_text(*c.max_rate) + "%";
      std::vector<SqlRow> rows =
          wh.query("SELECT count(*), count(" + col + ") FROM " + table + where_clause({c.where}));
      int64_t total = rows.empty() || !rows[0].at(0) ? 0 : std::stoll(*rows[0].at(0));
      int64_t filled = rows.empty() || !rows[0].at(1) ? 0 : std::stoll(*rows[0].at(1));
      double rate = total == 0 ? 0 : 100.0 * static_cast<double>(total - filled) / total;
      r.value = rate;
      r.actual = number_text(rate) + "% NULL (" + std::to_string(total - filled) + " of " +
                 rows_text(total) + ")";
      passed = rate <= *c.max_rate;
      rc.offending_sql = "SELECT * FROM " + table + where_clause({col + " IS NULL", c.where});
      break;
    }
    case Check::Kind::kExpression: {
      rc.description = "expression " + c.table + ": " + c.condition + scope;
      std::string filter = where_clause({"NOT (" + c.condition + ")", c.where});
      int64_t n = count_of(wh, "SELECT count(*) FROM " + table + filter);
      r.actual = rows_text(n) + " where it is false";
      r.value = static_cast<double>(n);
      r.threshold = "0 rows where it is false";
      passed = n == 0;
      rc.offending_sql = "SELECT * FROM " + table + filter;
      break;
    }
  }
  r.status = passed ? "pass" : c.severity == Check::Severity::kWarn ? "warn" : "fail";
}

/// A cell as one short line of the log.
std::string cell_text(const std::string& value) {
  std::string out = value.size() > 200 ? value.substr(0, 200) + "..." : value;
  for (char& c : out) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return out;
}

/// Logs up to kOffendingRows rows of `sql`, one line each: "  col=value, ...".
void log_offending_rows(Warehouse& wh, const std::string& sql, MaskedLog& log) {
  std::vector<std::string> columns;
  std::vector<SqlRow> rows =
      wh.query(sql + " LIMIT " + std::to_string(kOffendingRows + 1), &columns);
  if (rows.empty()) return;
  log.line("  offending rows" + std::string(rows.size() > kOffendingRows ? " (first 10)" : "") +
           ":");
  for (size_t i = 0; i < rows.size() && i < kOffendingRows; ++i) {
    std::string line;
    for (size_t k = 0; k < rows[i].size(); ++k) {
      if (k) line += ", ";
      line += (k < columns.size() ? columns[k] : "?") + "=" +
              (rows[i][k] ? cell_text(*rows[i][k]) : std::string("NULL"));
    }
    log.line("    " + line);
  }
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
  auto render = [&](std::string& s) { s = render_template(s, ctx.template_context); };
  try {
    // Render everything first: a template error fails the task before any query.
    std::vector<RunningCheck> checks;
    nlohmann::json rendered = nlohmann::json::array();
    for (size_t i = 0; i < task.checks.size(); ++i) {
      RunningCheck rc;
      rc.spec = task.checks[i];
      Check& c = rc.spec;
      for (std::string* s : {&c.sql, &c.table, &c.where, &c.to_table, &c.condition}) render(*s);
      for (std::string& col : c.columns) render(col);
      for (std::string& v : c.values) render(v);
      rc.result.seq = static_cast<int>(i);
      rc.result.name = c.name;
      rc.result.kind = check_kind_name(c.kind);
      rc.result.severity = c.severity == Check::Severity::kWarn ? "warn" : "error";
      rendered.push_back(rendered_json(c));
      checks.push_back(std::move(rc));
    }
    outcome.rendered = {{"conn", task.conn}, {"checks", rendered}};
    warehouse = open_warehouse(ctx.config, task.conn);
    watchdog.emplace(*warehouse, ctx.cancel, deadline);
    Warehouse& wh = *warehouse;

    for (RunningCheck& rc : checks) {
      watchdog->check();
      CheckResultRecord& r = rc.result;
      try {
        run_check(wh, ctx, rc);
      } catch (const WarehouseError& e) {
        if (e.interrupted()) throw;
        r.status = "error";
        r.actual = std::string("error: ") + e.what();
      } catch (const UserError& e) {
        r.status = "error";
        r.actual = std::string("error: ") + e.what();
      }
      const char* word = r.status == "pass" ? "PASS" : r.status == "warn" ? "WARN" : "FAIL";
      log.line(std::string(word) + " " + rc.result.name + ": " + rc.description +
               " (actual: " + r.actual + (r.threshold.empty() ? "" : "; passes at " + r.threshold) +
               ")");
      if (r.status != "pass" && r.status != "error" && !rc.offending_sql.empty()) {
        try {
          log_offending_rows(wh, rc.offending_sql, log);
        } catch (const WarehouseError& e) {
          if (e.interrupted()) throw;
          log.line("  (could not list the offending rows: " + std::string(e.what()) + ")");
        }
      }
    }

    std::vector<std::string> failures;
    std::vector<std::string> warnings;
    for (RunningCheck& rc : checks) {
      const CheckResultRecord& r = rc.result;
      std::string line = r.name + " (" + rc.description + "): actual " + r.actual;
      if (r.status == "fail" || r.status == "error") failures.push_back(line);
      if (r.status == "warn") warnings.push_back(line);
      outcome.checks.push_back(std::move(rc.result));
    }
    const size_t total = checks.size();
    outcome.outputs["passed"] = static_cast<int64_t>(total - failures.size() - warnings.size());
    outcome.outputs["failed"] = static_cast<int64_t>(failures.size());
    outcome.outputs["warned"] = static_cast<int64_t>(warnings.size());
    if (!warnings.empty()) {
      log.line(std::to_string(warnings.size()) + " check" + (warnings.size() == 1 ? "" : "s") +
               " with severity warn failed (the task does not fail for them): " +
               join(warnings, "; "));
    }
    if (failures.empty()) {
      log.line(warnings.empty() ? "all " + std::to_string(total) + " checks passed"
                                : std::to_string(total - warnings.size()) + " of " +
                                      std::to_string(total) + " checks passed");
      outcome.status = TaskOutcome::Status::kSuccess;
    } else {
      outcome.status = TaskOutcome::Status::kFailed;
      outcome.error = log.mask(std::to_string(failures.size()) + " of " + std::to_string(total) +
                               " checks failed: " + join(failures, "; "));
      log.line(outcome.error);
    }
  } catch (const std::exception& e) {
    outcome.checks.clear();
    fail_warehouse_task(outcome, e, watchdog, deadline, ctx, log);
    log.line("check failed: " + outcome.error);
  }
  return outcome;
}

}  // namespace sluice
