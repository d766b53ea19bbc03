#include "worker/warehouse.h"

#include <gtest/gtest.h>

#include "tests/worker/elt_test_util.h"

namespace sluice {
namespace {

std::vector<std::string> texts(const std::vector<SqlStatement>& statements) {
  std::vector<std::string> out;
  for (const auto& s : statements) out.push_back(s.text);
  return out;
}

TEST(SplitSql, SplitsAtSemicolonsOutsideQuotesCommentsAndDollarQuotes) {
  std::string sql =
      "-- leading; comment\n"
      "INSERT INTO t VALUES ('a;b', \"c;d\");\n"
      "/* block; /* nested; */ still; */ UPDATE t SET x = 1;\n"
      "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\n"
      "SELECT $$x;y$$, 'it''s;'\n"
      ";;  -- only a comment\n";
  auto statements = split_sql(sql);
  EXPECT_EQ(texts(statements),
            (std::vector<std::string>{
                "INSERT INTO t VALUES ('a;b', \"c;d\")",
                "UPDATE t SET x = 1",
                "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql",
                "SELECT $$x;y$$, 'it''s;'"}));
  EXPECT_EQ(statements[0].line, 2);
  EXPECT_EQ(statements[1].line, 3);
  EXPECT_EQ(statements[3].line, 5);
}

TEST(SplitSql, PositionalParametersAreNotDollarQuotes) {
  EXPECT_EQ(texts(split_sql("SELECT $1; SELECT 2")),
            (std::vector<std::string>{"SELECT $1", "SELECT 2"}));
}

TEST(Warehouse, QuotesEachPartOfAName) {
  testing_elt::TempDir dir;
  auto wh = Warehouse::open(Connection::parse("x", "sqlite://" + dir.path() + "/a.db"));
  EXPECT_EQ(wh->quote_name("staging.orders"), "\"staging\".\"orders\"");
  EXPECT_EQ(wh->quote_name("we\"ird"), "\"we\"\"ird\"");
  EXPECT_EQ(wh->quote_literal("it's"), "'it''s'");
}

TEST(Warehouse, UnknownConnectionSaysHowToDefineIt) {
  Config config;
  config.connections["warehouse"] = Connection::parse("warehouse", "sqlite:///tmp/x.db");
  try {
    open_warehouse(config, "warehose");
    FAIL() << "expected UserError";
  } catch (const UserError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("did you mean 'warehouse'"), std::string::npos) << m;
    EXPECT_NE(m.find("SLUICE_CONN_WAREHOSE"), std::string::npos) << m;
  }
}

TEST(Warehouse, NonWarehouseSchemeIsAUserError) {
  EXPECT_THROW(Warehouse::open(Connection::parse("api", "https://api.example.com")), UserError);
}

TEST(Warehouse, PostgresTableColumnsAndRollback) {
  std::string url = testing_elt::pg_url();
  if (url.empty()) return;
  auto wh = Warehouse::open(Connection::parse("pg", url));
  std::string t = testing_elt::unique_prefix() + "cols";
  EXPECT_FALSE(wh->table_columns(t).has_value());
  wh->begin();
  wh->create_table(t, {{"id", "bigint"}, {"amount", "numeric(12,2)"}}, {"id"});
  auto cols = wh->table_columns(t);
  ASSERT_TRUE(cols.has_value());
  ASSERT_EQ(cols->size(), 2u);
  EXPECT_EQ((*cols)[1].type, "numeric(12,2)");
  wh->rollback();
  EXPECT_FALSE(wh->table_columns(t).has_value());
}

}  // namespace
}  // namespace sluice
