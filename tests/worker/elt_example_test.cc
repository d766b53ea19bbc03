// The ELT example of dags/ (orders_elt) end to end, for each day of its
// sample data, on a SQLite warehouse and on a Postgres warehouse; a rerun of a
// day leaves exactly the same rows.
#include <gtest/gtest.h>

#include "tests/core/store_test_util.h"
#include "tests/test_util.h"
#include "core/config.h"
#include "core/text.h"
#include "worker/warehouse.h"

namespace sluice {
namespace {

using testing::run_sluice;
using testing::TempDir;

const std::string kExamples = sluice::testing::source_dir() + "/dags";

class EltExampleTest : public ::testing::TestWithParam<std::string> {};

TEST_P(EltExampleTest, LoadsTransformsAndChecksEachSampleDayIdempotently) {
  TempDir dir;
  std::string warehouse_url;
  std::unique_ptr<Store> keep_schema;  // the Postgres schema lives as long as this store
  if (GetParam() == "sqlite") {
    warehouse_url = "sqlite://" + dir.file("warehouse.db");
  } else {
    keep_schema = testing::make_test_store("postgres");
    warehouse_url = testing::last_test_store_url("postgres");
  }
  std::map<std::string, std::string> env = {{"SLUICE_CONN_WAREHOUSE", warehouse_url}};
  for (const char* day : {"2026-11-01", "2026-11-02", "2026-11-03", "2026-11-02"}) {
    auto result = run_sluice({"dags", "test", "orders_elt", "--date", day, "--dags", kExamples},
                             dir.path(), env);
    EXPECT_EQ(result.exit_code, 0) << day << "\n" << result.out << result.err;
    EXPECT_NE(result.out.find("run success"), std::string::npos) << result.out;
  }
  Config config;
  config.connections.emplace("warehouse", Connection::parse("warehouse", warehouse_url));
  auto warehouse = open_warehouse(config, "warehouse");
  auto scalar = [&](const std::string& sql) {
    auto value = warehouse->query_scalar(sql);
    return value && *value ? **value : std::string("NULL");
  };
  // 12 + 15 + 18 sample rows; the second run of 2026-11-02 replaced its partition.
  EXPECT_EQ(scalar("SELECT count(*) FROM raw_orders"), "45");
  EXPECT_EQ(scalar("SELECT count(*) FROM raw_orders WHERE load_date = '2026-11-02'"), "15");
}

// dbt's jaffle_shop port: seeds loaded without `columns:` (types inferred),
// the orders model's {% for %} over payment methods, and the 20 schema tests.
TEST_P(EltExampleTest, JaffleShopLoadsSeedsBuildsTheMartsAndPassesItsTwentyTests) {
  TempDir dir;
  std::string warehouse_url;
  std::unique_ptr<Store> keep_schema;
  if (GetParam() == "sqlite") {
    warehouse_url = "sqlite://" + dir.file("jaffle.db");
  } else {
    keep_schema = testing::make_test_store("postgres");
    warehouse_url = testing::last_test_store_url("postgres");
  }
  std::map<std::string, std::string> env = {{"SLUICE_CONN_JAFFLE", warehouse_url}};
  auto result = run_sluice({"dags", "test", "jaffle_shop", "--date", "2026-03-01", "--dags",
                            kExamples},
                           dir.path(), env);
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("run success"), std::string::npos) << result.out;
  Config config;
  config.connections.emplace("jaffle", Connection::parse("jaffle", warehouse_url));
  auto warehouse = open_warehouse(config, "jaffle");
  auto scalar = [&](const std::string& sql) {
    auto value = warehouse->query_scalar(sql);
    return value && *value ? **value : std::string("NULL");
  };
  EXPECT_EQ(scalar("SELECT count(*) FROM customers"), "20");
  EXPECT_EQ(scalar("SELECT count(*) FROM orders"), "30");
  // Every payment reached its order, pivoted by method: the totals agree.
  EXPECT_EQ(scalar("SELECT CAST(round(sum(amount) * 100) AS INTEGER) FROM orders"),
            scalar("SELECT sum(amount) FROM raw_payments"));
  EXPECT_EQ(scalar("SELECT count(*) FROM orders WHERE abs(credit_card_amount + coupon_amount + "
                   "bank_transfer_amount + gift_card_amount - amount) > 0.001"),
            "0");
  // The seed's amount was loaded as a number, not text.
  auto columns = warehouse->table_columns("raw_payments");
  ASSERT_TRUE(columns.has_value());
  for (const ColumnDef& c : *columns) {
    if (c.name == "amount") EXPECT_NE(to_lower(c.type).find("int"), std::string::npos) << c.type;
  }
}

INSTANTIATE_TEST_SUITE_P(Warehouses, EltExampleTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace sluice
