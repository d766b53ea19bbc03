#include "worker/sql_executor.h"

#include <thread>

#include <gtest/gtest.h>

#include "tests/worker/elt_test_util.h"

namespace sluice {
namespace {

using testing_elt::Harness;

/// Runs every test on a SQLite file and on the test Postgres.
class SqlExecutorTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres") {
      url_ = testing_elt::pg_url();
      if (url_.empty()) FAIL() << "no Postgres to test against";
    } else {
      url_ = "sqlite://" + dir_.path() + "/wh.db";
    }
    t_ = "\"" + testing_elt::unique_prefix() + "t\"";
    h_.add_connection("wh", url_);
    h_.task.type = "sql";
  }
  TaskOutcome run(const std::string& sql, bool transaction = true) {
    h_.task.spec = SqlTask{"wh", sql, "", transaction};
    SqlExecutor executor;
    return h_.run_with(executor);
  }
  std::string scalar(const std::string& sql) {
    auto v = Warehouse::open(Connection::parse("wh", url_))->query_scalar(sql);
    return v && *v ? **v : "NULL";
  }
  testing_elt::TempDir dir_;
  std::string url_;
  std::string t_;
  Harness h_;
};

TEST_P(SqlExecutorTest, RunsTemplatedStatementsAndSumsRowsAffected) {
  TaskOutcome o = run("CREATE TABLE " + t_ + " (id INTEGER, day TEXT, note TEXT);\n"
                      "INSERT INTO " + t_ + " VALUES (1, '{{ ds }}', 'a;b'), (2, '{{ ds }}', NULL);\n"
                      "UPDATE " + t_ + " SET note = 'x' WHERE id = 2;\n"
                      "SELECT * FROM " + t_ + ";");
  ASSERT_EQ(o.status, TaskOutcome::Status::kSuccess) << o.error;
  EXPECT_EQ(o.outputs["rows_affected"], 3);
  EXPECT_EQ(scalar("SELECT count(*) FROM " + t_ + " WHERE day = '2026-01-01'"), "2");
  EXPECT_NE(o.rendered["sql"].get<std::string>().find("'2026-01-01'"), std::string::npos);
}

TEST_P(SqlExecutorTest, AFailureNamesTheStatementAndRollsBack) {
  ASSERT_EQ(run("CREATE TABLE " + t_ + " (id INTEGER)").status, TaskOutcome::Status::kSuccess);
  TaskOutcome o = run("INSERT INTO " + t_ + " VALUES (1);\n"
                      "\n"
                      "INSERT INTO no_such_table_xyz\n  VALUES (2);\n"
                      "INSERT INTO " + t_ + " VALUES (3);");
  EXPECT_EQ(o.status, TaskOutcome::Status::kFailed);
  EXPECT_NE(o.error.find("statement 2 of 3, line 3 (INSERT INTO no_such_table_xyz ...)"),
            std::string::npos) << o.error;
  EXPECT_NE(o.error.find("no_such_table_xyz"), std::string::npos);
  EXPECT_EQ(scalar("SELECT count(*) FROM " + t_), "0");
}

TEST_P(SqlExecutorTest, StatementsFromALoopAreReportedByTheirLineInTheSqlFile) {
  ASSERT_EQ(run("CREATE TABLE " + t_ + " (id INTEGER)").status, TaskOutcome::Status::kSuccess);
  h_.task.spec = SqlTask{"wh",
                         "{% set ids = [1, 2] %}\n"
                         "{% for id in ids %}\n"
                         "INSERT INTO " + t_ + " VALUES ({{ id }});\n"
                         "{% endfor %}\n"
                         "-- loaded {{ ds }}\n"
                         "INSERT INTO no_such_table_xyz VALUES (3);",
                         "sql/load.sql", true};
  SqlExecutor executor;
  TaskOutcome o = h_.run_with(executor);
  EXPECT_EQ(o.status, TaskOutcome::Status::kFailed);
  EXPECT_NE(o.error.find("statement 3 of 3, line 6 of sql/load.sql"), std::string::npos)
      << o.error;
  EXPECT_NE(h_.log.text().find("statement 2 of 3, line 3 of sql/load.sql"), std::string::npos)
      << h_.log.text();
}

TEST_P(SqlExecutorTest, ATemplateErrorPointsIntoTheSqlFile) {
  h_.task.spec = SqlTask{"wh", "select 1;\n  select '{{ paramz.day }}';", "sql/q.sql", true};
  SqlExecutor executor;
  TaskOutcome o = h_.run_with(executor);
  EXPECT_EQ(o.status, TaskOutcome::Status::kFailed);
  EXPECT_NE(o.error.find("sql/q.sql:2:14: unknown template variable 'paramz.day'"),
            std::string::npos)
      << o.error;
  EXPECT_NE(o.error.find("the line reads: select '{{ paramz.day }}';"), std::string::npos)
      << o.error;
}

TEST_P(SqlExecutorTest, WithoutTransactionEarlierStatementsStay) {
  ASSERT_EQ(run("CREATE TABLE " + t_ + " (id INTEGER)").status, TaskOutcome::Status::kSuccess);
  TaskOutcome o = run("INSERT INTO " + t_ + " VALUES (1); INSERT INTO nope_xyz VALUES (2)", false);
  EXPECT_EQ(o.status, TaskOutcome::Status::kFailed);
  EXPECT_EQ(scalar("SELECT count(*) FROM " + t_), "1");
}

TEST_P(SqlExecutorTest, TimeoutInterruptsALongStatement) {
  h_.timeout = Millis(300);
  std::string slow = GetParam() == "postgres"
                         ? "SELECT pg_sleep(30)"
                         : "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                           "SELECT count(*) FROM c";
  auto start = std::chrono::steady_clock::now();
  TaskOutcome o = run(slow);
  EXPECT_EQ(o.status, TaskOutcome::Status::kFailed);
  EXPECT_TRUE(o.timed_out) << o.error;
  EXPECT_EQ(o.error, "timed out after 300ms");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST_P(SqlExecutorTest, CancelInterruptsALongStatement) {
  std::string slow = GetParam() == "postgres"
                         ? "SELECT pg_sleep(30)"
                         : "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                           "SELECT count(*) FROM c";
  std::thread canceler([&] {
    // Cancel once the statement has been logged as started.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (h_.log.text().find("statement 1 of 1") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    h_.cancel = true;
  });
  TaskOutcome o = run(slow);
  canceler.join();
  EXPECT_EQ(o.status, TaskOutcome::Status::kFailed);
  EXPECT_TRUE(o.canceled) << o.error;
}

INSTANTIATE_TEST_SUITE_P(Targets, SqlExecutorTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

TEST(SqlExecutorSecrets, PasswordInServerErrorIsMasked) {
  std::string url = testing_elt::pg_url();
  if (url.empty()) return;
  Connection pg = Connection::parse("wh", url);
  std::string secret = "s3cretPassw0rd";
  Harness h;
  h.add_connection("wh", "postgresql://" + pg.login + ":" + secret + "@" + pg.host + ":" +
                             std::to_string(pg.port) + "/" + pg.schema);
  // The statement itself carries the password into the server's message.
  h.task.spec = SqlTask{"wh", "SELECT * FROM " + secret, "", true};
  SqlExecutor executor;
  TaskOutcome o = h.run_with(executor);
  EXPECT_EQ(o.status, TaskOutcome::Status::kFailed);
  EXPECT_NE(o.error.find("***"), std::string::npos) << o.error;
  EXPECT_EQ(o.error.find(secret), std::string::npos) << o.error;
  EXPECT_EQ(h.log.text().find(secret), std::string::npos) << h.log.text();
}

}  // namespace
}  // namespace sluice
