// Queue routing and the worker registry with real processes on Postgres: a
// task with `queue: spark` runs only on a worker started with `--queue spark`,
// and both workers show in `sluice workers list` with their host, pid, slots
// and queues.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/store.h"
#include "tests/core/store_test_util.h"
#include "tests/test_util.h"

namespace sluice {
namespace {

using testing::Process;
using testing::TempDir;
using namespace std::chrono_literals;

TEST(QueueTest, SparkQueueTasksRunOnlyOnSparkWorkersAndWorkersAreListed) {
  auto store = testing::make_test_store("postgres");
  std::string url = testing::last_test_store_url("postgres");
  TempDir dir;
  dir.write("sluice.yaml", "db: \"" + url +
                               "\"\ndags: dags\n"
                               "worker:\n  heartbeat_interval: 200ms\n  heartbeat_timeout: 2s\n"
                               "scheduler:\n  dag_scan_interval: 200ms\n");
  // Given a DAG with tasks on both queues, several of each so that either
  // worker could take any of them if routing were wrong
  std::string yaml = "dag: routed\nschedule: null\ntasks:\n";
  for (int i = 0; i < 4; ++i) {
    yaml +=
        "  - {id: spark" + std::to_string(i) + ", type: shell, command: \"true\", queue: spark}\n";
    yaml += "  - {id: plain" + std::to_string(i) + ", type: shell, command: \"true\"}\n";
  }
  dir.write("dags/routed.yaml", yaml);
  std::map<std::string, std::string> env{{"TMPDIR", dir.path()}};
  Process scheduler(testing::sluice_argv({"scheduler"}), dir.path(), dir.file("scheduler.log"),
                    env);
  Process plain(testing::sluice_argv({"worker", "--slots", "2"}), dir.path(), dir.file("plain.log"),
                env);
  Process spark(testing::sluice_argv({"worker", "--slots", "3", "--queue", "spark"}), dir.path(),
                dir.file("spark.log"), env);

  // Then both workers are listed, with what they serve
  nlohmann::json workers;
  ASSERT_TRUE(testing::wait_until(
      [&] {
        auto list = testing::run_sluice({"workers", "list", "--json"}, dir.path());
        workers = nlohmann::json::parse(list.out, nullptr, false);
        return workers.is_array() && workers.size() == 2;
      },
      20s));
  std::string spark_id, plain_id;
  for (const auto& w : workers) {
    EXPECT_EQ(w.value("status", ""), "alive");
    if (w["pid"] == spark.pid()) {
      spark_id = w["id"];
      EXPECT_EQ(w["slots"], 3);
      EXPECT_EQ(w["queues"], nlohmann::json::array({"spark"}));
    } else {
      plain_id = w["id"];
      EXPECT_EQ(w["pid"], plain.pid());
      EXPECT_EQ(w["queues"], nlohmann::json::array({"default"}));
    }
  }
  ASSERT_FALSE(spark_id.empty()) << workers.dump();
  auto table = testing::run_sluice({"workers", "list"}, dir.path());
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_NE(table.out.find("QUEUES"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find(std::to_string(spark.pid())), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("alive"), std::string::npos) << table.out;

  // When the DAG runs
  ASSERT_TRUE(testing::wait_until(
      [&] {
        return testing::run_sluice({"trigger", "routed", "--wait"}, dir.path()).exit_code == 0;
      },
      30s));
  auto run = store->list_runs({});
  ASSERT_EQ(run.size(), 1u);
  EXPECT_EQ(run[0].state, RunState::kSuccess);
  // Then every spark task ran on the spark worker and every other on the plain one
  for (const auto& ti : store->list_task_instances(run[0].id)) {
    EXPECT_EQ(ti.worker_id, ti.task_id.rfind("spark", 0) == 0 ? spark_id : plain_id) << ti.task_id;
  }
}

TEST(QueueTest, WorkersListSaysHowToStartOneWhenNoneRegistered) {
  auto store = testing::make_test_store("postgres");
  TempDir dir;
  auto out = testing::run_sluice(
      {"--db", testing::last_test_store_url("postgres"), "workers", "list"}, dir.path());
  EXPECT_EQ(out.exit_code, 0) << out.err;
  EXPECT_NE(out.out.find("sluice worker"), std::string::npos) << out.out;
}

}  // namespace
}  // namespace sluice
