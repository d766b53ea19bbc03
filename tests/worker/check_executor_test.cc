#include "worker/check_executor.h"

#include <gtest/gtest.h>

#include "core/store_wrapper.h"
#include "tests/core/store_test_util.h"
#include "tests/worker/elt_test_util.h"

namespace sluice {
namespace {

using testing_elt::Harness;

TEST(Expectation, ParsesEveryForm) {
  EXPECT_TRUE(Expectation::parse("> 0")->holds(1));
  EXPECT_FALSE(Expectation::parse("> 0")->holds(0));
  EXPECT_TRUE(Expectation::parse(">= 0")->holds(0));
  EXPECT_TRUE(Expectation::parse("< 2.5")->holds(2));
  EXPECT_FALSE(Expectation::parse("<= 2")->holds(3));
  EXPECT_TRUE(Expectation::parse("= 3")->holds(3));
  EXPECT_TRUE(Expectation::parse("!= 3")->holds(4));
  EXPECT_TRUE(Expectation::parse("between 1 and 5")->holds(5));
  EXPECT_FALSE(Expectation::parse("BETWEEN 1 AND 5")->holds(0));
  EXPECT_FALSE(Expectation::parse("about 3").has_value());
  EXPECT_FALSE(Expectation::parse("> x").has_value());
  EXPECT_FALSE(Expectation::parse("between 1").has_value());
}

Check sql_check(const std::string& sql, const std::string& expect) {
  Check c;
  c.kind = Check::Kind::kSqlExpect;
  c.sql = sql;
  c.expect = expect;
  return c;
}

Check table_check(Check::Kind kind, const std::string& table, std::vector<std::string> columns,
                  const std::string& where = "") {
  Check c;
  c.kind = kind;
  c.table = table;
  c.columns = std::move(columns);
  c.where = where;
  return c;
}

/// Runs every test on a SQLite file and on the test Postgres.
class CheckExecutorTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres") {
      url_ = testing_elt::pg_url();
      if (url_.empty()) FAIL() << "no Postgres to test against";
    } else {
      url_ = "sqlite://" + dir_.path() + "/wh.db";
    }
    table_ = testing_elt::unique_prefix() + "orders";
    auto wh = Warehouse::open(Connection::parse("wh", url_));
    wh->execute("CREATE TABLE \"" + table_ + "\" (order_id INTEGER, day TEXT, amount INTEGER)");
    wh->execute("INSERT INTO \"" + table_ + "\" VALUES (1, '2026-01-01', 10), "
                "(2, '2026-01-01', 20), (2, '2026-01-02', NULL), (3, '2026-01-01', 30)");
    h_.add_connection("wh", url_);
  }
  TaskOutcome run(std::vector<Check> checks) {
    // Named by kind and position, as the loader names checks written without a name.
    for (size_t i = 0; i < checks.size(); ++i) {
      if (checks[i].name.empty()) {
        checks[i].name = std::string(check_kind_name(checks[i].kind)) + "_" + std::to_string(i + 1);
      }
    }
    h_.task.spec = CheckTask{"wh", std::move(checks)};
    CheckExecutor executor;
    return h_.run_with(executor);
  }
  testing_elt::TempDir dir_;
  std::string url_;
  std::string table_;
  Harness h_;
};

TEST_P(CheckExecutorTest, PassingChecksSucceed) {
  Check rows = table_check(Check::Kind::kRowCount, table_, {});
  rows.min = 1;
  rows.max = 10;
  TaskOutcome o = run({
      sql_check("SELECT count(*) FROM \"" + table_ + "\" WHERE day = '{{ ds }}'", "= 3"),
      table_check(Check::Kind::kNotNull, table_, {"order_id"}),
      table_check(Check::Kind::kUnique, table_, {"order_id", "day"}),
      rows,
  });
  EXPECT_EQ(o.status, TaskOutcome::Status::kSuccess) << o.error;
  EXPECT_EQ(o.outputs["passed"], 4);
  EXPECT_EQ(h_.log.text().find("FAIL"), std::string::npos) << h_.log.text();
}

TEST_P(CheckExecutorTest, EveryCheckRunsAndEachFailureIsListedWithItsActualValue) {
  Check rows = table_check(Check::Kind::kRowCount, table_, {});
  rows.min = 10;
  TaskOutcome o = run({
      sql_check("SELECT sum(amount) FROM \"" + table_ + "\"", "between 100 and 200"),
      table_check(Check::Kind::kNotNull, table_, {"amount"}),
      table_check(Check::Kind::kUnique, table_, {"order_id"}),
      rows,
      sql_check("SELECT count(*) FROM missing_table_xyz", "> 0"),
      sql_check("SELECT count(*) FROM \"" + table_ + "\"", "> 0"),
  });
  EXPECT_EQ(o.status, TaskOutcome::Status::kFailed);
  EXPECT_NE(o.error.find("5 of 6 checks failed"), std::string::npos) << o.error;
  EXPECT_NE(o.error.find("sql_1 (`SELECT sum(amount)"), std::string::npos) << o.error;
  EXPECT_NE(o.error.find("actual 60"), std::string::npos) << o.error;
  EXPECT_NE(o.error.find("actual 1 NULL row"), std::string::npos) << o.error;
  EXPECT_NE(o.error.find("actual 1 duplicated key"), std::string::npos) << o.error;
  EXPECT_NE(o.error.find("min 10): actual 4 rows"), std::string::npos) << o.error;
  EXPECT_NE(o.error.find("missing_table_xyz"), std::string::npos) << o.error;
  std::string log = h_.log.text();
  EXPECT_NE(log.find("PASS sql_6"), std::string::npos) << log;
  EXPECT_NE(log.find("FAIL sql_5"), std::string::npos) << log;
  // Every check has a result to store, failed or not.
  ASSERT_EQ(o.checks.size(), 6u);
  EXPECT_EQ(o.checks[0].status, "fail");
  EXPECT_EQ(o.checks[0].value, 60);
  EXPECT_EQ(o.checks[4].status, "error");
  EXPECT_EQ(o.checks[5].status, "pass");
}

TEST_P(CheckExecutorTest, WhereScopesEveryKindToTheRunsPartition) {
  // Order 2 is duplicated and its amount is NULL on 2026-01-02 only: scoped
  // to the run's day (ds = 2026-01-01) each check passes, unscoped each fails.
  const std::string day = "day = '{{ ds }}'";
  Check rows = table_check(Check::Kind::kRowCount, table_, {}, day);
  rows.min = 3;
  rows.max = 3;
  TaskOutcome scoped = run({table_check(Check::Kind::kNotNull, table_, {"amount"}, day),
                            table_check(Check::Kind::kUnique, table_, {"order_id"}, day), rows});
  EXPECT_EQ(scoped.status, TaskOutcome::Status::kSuccess) << scoped.error << h_.log.text();
  EXPECT_EQ(scoped.rendered["checks"][0]["not_null"]["where"], "day = '2026-01-01'");
  TaskOutcome whole = run({table_check(Check::Kind::kNotNull, table_, {"amount"}),
                           table_check(Check::Kind::kUnique, table_, {"order_id"})});
  EXPECT_EQ(whole.status, TaskOutcome::Status::kFailed);
  EXPECT_EQ(whole.outputs["failed"], 2);
}

TEST_P(CheckExecutorTest, AcceptedValuesFailsOnOtherValuesAndListsThem) {
  Check days = table_check(Check::Kind::kAcceptedValues, table_, {"day"});
  days.values = {"2026-01-01"};
  Check amounts = table_check(Check::Kind::kAcceptedValues, table_, {"amount"});
  amounts.values = {"10", "20", "30"};  // NULL is not a value: it passes
  TaskOutcome o = run({days, amounts});
  EXPECT_EQ(o.status, TaskOutcome::Status::kFailed);
  ASSERT_EQ(o.checks.size(), 2u);
  EXPECT_EQ(o.checks[0].status, "fail");
  EXPECT_EQ(o.checks[0].actual, "1 row with other values");
  EXPECT_EQ(o.checks[1].status, "pass") << o.checks[1].actual;
  std::string log = h_.log.text();
  EXPECT_NE(log.find("offending rows:\n    day=2026-01-02, row_count=1"), std::string::npos) << log;
  days.where = "day = '{{ ds }}'";
  EXPECT_EQ(run({days}).status, TaskOutcome::Status::kSuccess) << h_.log.text();
}

TEST_P(CheckExecutorTest, RelationshipsFindsChildRowsWithoutAParent) {
  auto wh = Warehouse::open(Connection::parse("wh", url_));
  const std::string parent = table_ + "_customers";
  wh->execute("CREATE TABLE \"" + parent + "\" (id INTEGER)");
  wh->execute("INSERT INTO \"" + parent + "\" VALUES (1), (2)");
  Check rel = table_check(Check::Kind::kRelationships, table_, {"order_id"});
  rel.to_table = parent;
  rel.to_column = "id";
  TaskOutcome o = run({rel});
  EXPECT_EQ(o.status, TaskOutcome::Status::kFailed);
  EXPECT_EQ(o.checks.at(0).actual, "1 row without a parent");
  EXPECT_NE(h_.log.text().find("order_id=3"), std::string::npos) << h_.log.text();
  rel.where = "day = '2026-01-02'";  // filters the child's rows
  EXPECT_EQ(run({rel}).status, TaskOutcome::Status::kSuccess) << h_.log.text();
}

TEST_P(CheckExecutorTest, FreshnessComparesTheNewestValueWithNow) {
  Check stale = table_check(Check::Kind::kFreshness, table_, {"day"});
  stale.max_age = std::chrono::hours(26);
  Check fresh = stale;
  fresh.name = "fresh";
  fresh.max_age = std::chrono::hours(24 * 365 * 100);
  TaskOutcome o = run({stale, fresh});
  ASSERT_EQ(o.checks.size(), 2u);
  EXPECT_EQ(o.checks[0].status, "fail") << o.checks[0].actual;
  EXPECT_NE(o.checks[0].actual.find("newest 2026-01-02"), std::string::npos) << o.checks[0].actual;
  ASSERT_TRUE(o.checks[0].value.has_value());
  EXPECT_GT(*o.checks[0].value, 26 * 3600.0);
  EXPECT_EQ(o.checks[1].status, "pass") << o.checks[1].actual;
}

TEST_P(CheckExecutorTest, NullRateAndExpressionMeasureTheRowsInScope) {
  Check rate = table_check(Check::Kind::kNullRate, table_, {"amount"});
  rate.max_rate = 30;
  Check strict = rate;
  strict.name = "strict";
  strict.max_rate = 10;
  Check positive = table_check(Check::Kind::kExpression, table_, {});
  positive.condition = "amount > 5";  // the NULL amount is not counted, as in dbt
  Check big = table_check(Check::Kind::kExpression, table_, {});
  big.name = "big";
  big.condition = "amount >= 20";
  TaskOutcome o = run({rate, strict, positive, big});
  ASSERT_EQ(o.checks.size(), 4u);
  EXPECT_EQ(o.checks[0].status, "pass");
  EXPECT_EQ(o.checks[0].actual, "25% NULL (1 of 4 rows)");
  EXPECT_EQ(o.checks[0].value, 25);
  EXPECT_EQ(o.checks[1].status, "fail");
  EXPECT_EQ(o.checks[2].status, "pass") << o.checks[2].actual;
  EXPECT_EQ(o.checks[3].status, "fail");
  EXPECT_EQ(o.checks[3].actual, "1 row where it is false");
  EXPECT_NE(h_.log.text().find("amount=10"), std::string::npos) << h_.log.text();
}

TEST_P(CheckExecutorTest, SeverityWarnRecordsWithoutFailingTheTask) {
  Check nulls = table_check(Check::Kind::kNotNull, table_, {"amount"});
  nulls.severity = Check::Severity::kWarn;
  TaskOutcome o = run({nulls, table_check(Check::Kind::kNotNull, table_, {"order_id"})});
  EXPECT_EQ(o.status, TaskOutcome::Status::kSuccess) << o.error;
  EXPECT_EQ(o.outputs["warned"], 1);
  EXPECT_EQ(o.outputs["passed"], 1);
  EXPECT_EQ(o.checks.at(0).status, "warn");
  EXPECT_NE(h_.log.text().find("WARN not_null_1"), std::string::npos) << h_.log.text();
}

TEST_P(CheckExecutorTest, AFailingCheckLogsAtMostTenOffendingRows) {
  auto wh = Warehouse::open(Connection::parse("wh", url_));
  const std::string t = table_ + "_many";
  wh->execute("CREATE TABLE \"" + t + "\" (id INTEGER, v INTEGER)");
  for (int i = 0; i < 15; ++i) wh->execute("INSERT INTO \"" + t + "\" VALUES (" + std::to_string(i) + ", NULL)");
  TaskOutcome o = run({table_check(Check::Kind::kNotNull, t, {"v"})});
  EXPECT_EQ(o.checks.at(0).actual, "15 NULL rows");
  std::string log = h_.log.text();
  EXPECT_NE(log.find("offending rows (first 10):"), std::string::npos) << log;
  size_t shown = 0;
  for (size_t at = log.find(", v=NULL"); at != std::string::npos; at = log.find(", v=NULL", at + 1)) ++shown;
  EXPECT_EQ(shown, 10u) << log;
}

TEST_P(CheckExecutorTest, SqlExpectComparesNumbersAsNumbers) {
  // Postgres prints a numeric as 40.000; it equals 40.
  std::string sql = GetParam() == "postgres" ? "SELECT CAST(40 AS NUMERIC(10, 3))" : "SELECT 40.000";
  TaskOutcome o = run({sql_check(sql, "= 40")});
  EXPECT_EQ(o.status, TaskOutcome::Status::kSuccess) << o.error;
  EXPECT_EQ(o.checks.at(0).value, 40);
}

/// A store whose check history is given: what volume_change compares with.
class HistoryStore : public StoreWrapper {
 public:
  explicit HistoryStore(std::unique_ptr<Store> inner) : StoreWrapper(std::move(inner)) {}
  std::vector<CheckResultRecord> list_check_results(const CheckResultFilter& filter) override {
    last_filter = filter;
    std::vector<CheckResultRecord> out;
    for (const CheckResultRecord& r : history) {
      if (filter.before_interval && r.interval_start >= *filter.before_interval) continue;
      out.push_back(r);
    }
    return out;
  }
  std::vector<CheckResultRecord> history;  // newest first
  CheckResultFilter last_filter;
};

TEST_P(CheckExecutorTest, VolumeChangeComparesWithTheEarlierIntervalsValue) {
  HistoryStore store(testing::make_test_store("sqlite"));
  h_.store = &store;
  h_.dag.id = "orders";
  h_.task.id = "checks";
  h_.run.interval.start = *parse_timestamp("2026-01-08T00:00:00Z");
  auto earlier = [](const char* day, double rows) {
    CheckResultRecord r;
    r.interval_start = *parse_timestamp(day);
    r.run_id = std::string("scheduled__") + day;
    r.value = rows;
    r.status = "pass";
    return r;
  };
  Check volume = table_check(Check::Kind::kVolumeChange, table_, {});
  volume.max_drop = 20;
  volume.compare_to = "previous_interval";
  // No earlier value: this one is the baseline.
  TaskOutcome first = run({volume});
  EXPECT_EQ(first.status, TaskOutcome::Status::kSuccess) << first.error;
  EXPECT_NE(first.checks.at(0).actual.find("no earlier interval"), std::string::npos);
  EXPECT_EQ(store.last_filter.name, "volume_change_1");
  EXPECT_EQ(store.last_filter.task_id, "checks");
  EXPECT_TRUE(store.last_filter.passed_only);
  // 4 rows now: 5 yesterday is a 20% drop (allowed), 10 is a 60% drop.
  store.history = {earlier("2026-01-07T00:00:00Z", 5), earlier("2026-01-01T00:00:00Z", 10)};
  TaskOutcome ok = run({volume});
  EXPECT_EQ(ok.status, TaskOutcome::Status::kSuccess) << ok.error;
  EXPECT_EQ(ok.checks.at(0).actual, "4 rows (-20% vs 5 rows in scheduled__2026-01-07T00:00:00Z)");
  volume.compare_to = "same_weekday";
  TaskOutcome drop = run({volume});
  EXPECT_EQ(drop.status, TaskOutcome::Status::kFailed);
  EXPECT_EQ(drop.checks.at(0).actual, "4 rows (-60% vs 10 rows in scheduled__2026-01-01T00:00:00Z)");
  volume.max_drop.reset();
  volume.max_rise = 50;
  store.history = {earlier("2026-01-01T00:00:00Z", 2)};
  EXPECT_EQ(run({volume}).checks.at(0).status, "fail");  // +100%
}

INSTANTIATE_TEST_SUITE_P(Targets, CheckExecutorTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace sluice
