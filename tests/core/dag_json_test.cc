#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "core/dag.h"
#include "core/dag_loader.h"
#include "core/error.h"
#include "tests/test_util.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;

const std::string kValidDir = sluice::testing::source_dir() + "/tests/dags/valid";

TEST(DagJson, EveryValidFixtureRoundTripsExactly) {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(kValidDir)) {
    if (entry.path().extension() == ".yaml") files.push_back(entry.path().string());
  }
  ASSERT_FALSE(files.empty());
  for (const std::string& file : files) {
    SCOPED_TRACE(file);
    LoadResult loaded = load_dag_file(file);
    ASSERT_TRUE(loaded.dag);

    nlohmann::json first = dag_to_json(*loaded.dag);
    Dag restored = dag_from_json(first);
    nlohmann::json second = dag_to_json(restored);

    EXPECT_EQ(first, second);
    // The JSON survives being stored as text, as the store does.
    EXPECT_EQ(dag_to_json(dag_from_json(nlohmann::json::parse(first.dump()))), first);
    EXPECT_EQ(restored.id, loaded.dag->id);
    EXPECT_EQ(restored.schedule.kind(), loaded.dag->schedule.kind());
    EXPECT_EQ(restored.schedule.expression(), loaded.dag->schedule.expression());
    EXPECT_EQ(restored.start_date, loaded.dag->start_date);
    ASSERT_EQ(restored.tasks.size(), loaded.dag->tasks.size());
    for (size_t i = 0; i < restored.tasks.size(); ++i) {
      EXPECT_EQ(restored.tasks[i].spec.index(), loaded.dag->tasks[i].spec.index());
      EXPECT_EQ(restored.tasks[i].is_sensor(), loaded.dag->tasks[i].is_sensor());
    }
  }
}

TEST(DagJson, KeepsSqlFileContentsInline) {
  LoadResult loaded = load_dag_file(kValidDir + "/sql_file.yaml");
  ASSERT_TRUE(loaded.dag);

  Dag restored = dag_from_json(dag_to_json(*loaded.dag));

  const auto& sql = std::get<SqlTask>(restored.tasks[0].spec);
  EXPECT_EQ(sql.sql_file, "sql/transform.sql");
  EXPECT_NE(sql.sql.find("DELETE FROM mart"), std::string::npos);
}

TEST(DagJson, MalformedJsonIsAUserError) {
  EXPECT_THROW(dag_from_json(nlohmann::json::object()), UserError);
  nlohmann::json j = dag_to_json(Dag{});
  j["tasks"] = nlohmann::json::array({{{"id", "a"}}});
  EXPECT_THROW(dag_from_json(j), UserError);
  j = dag_to_json(Dag{});
  j["schedule"] = "not a cron";
  EXPECT_THROW(dag_from_json(j), UserError);
}

TEST(DagModel, TriggerRulesRoundTripThroughTheirNames) {
  for (TriggerRule rule :
       {TriggerRule::kAllSuccess, TriggerRule::kAllFailed, TriggerRule::kAllDone,
        TriggerRule::kOneSuccess, TriggerRule::kOneFailed, TriggerRule::kNoneFailed,
        TriggerRule::kNoneFailedMinOneSuccess, TriggerRule::kNoneSkipped, TriggerRule::kAlways}) {
    EXPECT_EQ(parse_trigger_rule(to_string(rule)), rule);
  }
  EXPECT_STREQ(to_string(TriggerRule::kNoneFailedMinOneSuccess), "none_failed_min_one_success");
  EXPECT_FALSE(parse_trigger_rule("all_sucess").has_value());
}

TEST(DagModel, FixedRetryDelayIsConstant) {
  RetryPolicy policy;
  policy.delay = std::chrono::seconds(30);
  EXPECT_EQ(policy.delay_before_try(2), std::chrono::seconds(30));
  EXPECT_EQ(policy.delay_before_try(5), std::chrono::seconds(30));
}

TEST(DagModel, ExponentialRetryDelayDoublesUpToTheCap) {
  RetryPolicy policy;
  policy.delay = std::chrono::seconds(30);
  policy.backoff = RetryBackoff::kExponential;
  policy.max_delay = std::chrono::minutes(3);
  EXPECT_EQ(policy.delay_before_try(2), std::chrono::seconds(30));
  EXPECT_EQ(policy.delay_before_try(3), std::chrono::seconds(60));
  EXPECT_EQ(policy.delay_before_try(4), std::chrono::seconds(120));
  EXPECT_EQ(policy.delay_before_try(5), std::chrono::seconds(180));
  EXPECT_EQ(policy.delay_before_try(1000), std::chrono::seconds(180));
}

}  // namespace
}  // namespace sluice
