#include "worker/check_executor.h"

#include <gtest/gtest.h>

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

Check table_check(Check::Kind kind, const std::string& table, std::vector<std::string> columns) {
  Check c;
  c.kind = kind;
  c.table = table;
  c.columns = std::move(columns);
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
  EXPECT_NE(o.error.find("check 1 `SELECT sum(amount)"), std::string::npos) << o.error;
  EXPECT_NE(o.error.find("actual 60"), std::string::npos) << o.error;
  EXPECT_NE(o.error.find("actual 1 NULL rows"), std::string::npos) << o.error;
  EXPECT_NE(o.error.find("actual 1 duplicated keys"), std::string::npos) << o.error;
  EXPECT_NE(o.error.find("min 10: actual 4 rows"), std::string::npos) << o.error;
  EXPECT_NE(o.error.find("missing_table_xyz"), std::string::npos) << o.error;
  std::string log = h_.log.text();
  EXPECT_NE(log.find("PASS check 6"), std::string::npos) << log;
  EXPECT_NE(log.find("FAIL check 5"), std::string::npos) << log;
}

INSTANTIATE_TEST_SUITE_P(Targets, CheckExecutorTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace sluice
