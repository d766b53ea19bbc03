// End-to-end runs with real processes: `sluice scheduler` and `sluice worker`
// against SQLite and Postgres, shell tasks, retries, timeouts, trigger rules and
// a worker killed mid-task.
#include <signal.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/store.h"
#include "core/time.h"
#include "tests/core/store_test_util.h"
#include "tests/test_util.h"

namespace sluice {
namespace {

using testing::Process;
using testing::TempDir;
using namespace std::chrono_literals;

class IntegrationTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    store_ = testing::make_test_store(GetParam());
    url_ = testing::last_test_store_url(GetParam());
    dir_.write("sluice.yaml",
               "db: \"" + url_ + "\"\n"
               "dags: dags\n"
               "worker:\n  heartbeat_interval: 200ms\n  heartbeat_timeout: 2s\n"
               "scheduler:\n  dag_scan_interval: 200ms\n");
  }

  void write_dag(const std::string& name, const std::string& yaml) {
    dir_.write("dags/" + name + ".yaml", yaml);
  }

  std::unique_ptr<Process> start(const std::vector<std::string>& args, const std::string& log) {
    return std::make_unique<Process>(testing::sluice_argv(args), dir_.path(), dir_.file(log),
                                     std::map<std::string, std::string>{
                                         {"TMPDIR", dir_.path()}});
  }

  /// Triggers a manual run and returns its run id.
  std::string trigger(const std::string& dag) {
    auto result = testing::run_sluice({"trigger", dag, "--json"}, dir_.path());
    EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
    auto json = nlohmann::json::parse(result.out, nullptr, false);
    if (json.is_discarded()) {
      ADD_FAILURE() << "trigger printed no JSON: " << result.out << result.err;
      return "";
    }
    return json.value("run_id", "");
  }

  std::optional<RunRecord> wait_for_run_end(const std::string& dag, const std::string& run_id,
                                            std::chrono::milliseconds timeout) {
    std::optional<RunRecord> run;
    testing::wait_until(
        [&] {
          run = store_->get_run(dag, run_id);
          return run && is_finished(run->state);
        },
        timeout);
    return run;
  }

  TaskInstanceRecord task(const RunRecord& run, const std::string& task_id) {
    for (const auto& ti : store_->list_task_instances(run.id)) {
      if (ti.task_id == task_id) return ti;
    }
    ADD_FAILURE() << "no task " << task_id;
    return {};
  }

  std::string logs() {
    return testing::read_file(dir_.file("scheduler.log")) +
           testing::read_file(dir_.file("worker.log"));
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
  std::string url_;
};

TEST_P(IntegrationTest, FailingTaskIsRetriedWithBackoffUntilItSucceeds) {
  write_dag("flaky", R"(dag: flaky
schedule: null
tasks:
  - id: flaky
    type: shell
    command: 'n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo "attempt $n"; [ "$n" -ge 3 ]'
    retries: 3
    retry_delay: 200ms
    retry_backoff: exponential
  - id: after
    type: shell
    depends_on: [flaky]
    command: echo after
)");
  auto scheduler = start({"scheduler"}, "scheduler.log");
  auto worker = start({"worker", "--slots", "2"}, "worker.log");
  std::string run_id = trigger("flaky");
  auto run = wait_for_run_end("flaky", run_id, 60s);
  ASSERT_TRUE(run) << logs();
  EXPECT_EQ(run->state, RunState::kSuccess) << logs();
  TaskInstanceRecord flaky = task(*run, "flaky");
  EXPECT_EQ(flaky.try_number, 3);
  EXPECT_EQ(testing::read_file(dir_.file("dags/count")), "3\n");
  // Each try kept its own log.
  EXPECT_NE(store_->read_log(flaky.id, 1, 0).data.find("attempt 1"), std::string::npos);
  EXPECT_NE(store_->read_log(flaky.id, 1, 0).data.find("failed: exit code 1"), std::string::npos);
  EXPECT_NE(store_->read_log(flaky.id, 3, 0).data.find("attempt 3"), std::string::npos);
  // Exponential backoff: 200 ms before try 2, 400 ms before try 3.
  ASSERT_TRUE(run->started_at && run->ended_at);
  EXPECT_GE(*run->ended_at - *run->started_at, 600ms);
  EXPECT_EQ(task(*run, "after").state, TaskState::kSuccess);
}

TEST_P(IntegrationTest, TaskThatRunsTooLongTimesOutAndCleanupRunsAfterFailure) {
  write_dag("slow", R"(dag: slow
schedule: null
tasks:
  - id: slow
    type: shell
    command: echo starting; sleep 30
    timeout: 500ms
  - id: report
    type: shell
    depends_on: [slow]
    command: echo report
  - id: cleanup
    type: shell
    depends_on: [report]
    trigger_rule: all_done
    command: echo cleaned > cleaned.txt
)");
  auto scheduler = start({"scheduler"}, "scheduler.log");
  auto worker = start({"worker", "--slots", "2"}, "worker.log");
  auto began = std::chrono::steady_clock::now();
  std::string run_id = trigger("slow");
  auto run = wait_for_run_end("slow", run_id, 60s);
  ASSERT_TRUE(run) << logs();
  EXPECT_LT(std::chrono::steady_clock::now() - began, 20s);
  EXPECT_EQ(run->state, RunState::kFailed);
  TaskInstanceRecord slow = task(*run, "slow");
  EXPECT_EQ(slow.state, TaskState::kFailed);
  EXPECT_NE(slow.error.find("timed out after 500ms"), std::string::npos) << slow.error;
  std::string log = store_->read_log(slow.id, 1, 0).data;
  EXPECT_NE(log.find("starting"), std::string::npos) << log;
  EXPECT_NE(log.find("timed out"), std::string::npos) << log;
  EXPECT_EQ(task(*run, "report").state, TaskState::kUpstreamFailed);
  EXPECT_EQ(task(*run, "cleanup").state, TaskState::kSuccess);
  EXPECT_EQ(testing::read_file(dir_.file("dags/cleaned.txt")), "cleaned\n");
}

TEST_P(IntegrationTest, WorkerKilledMidTaskLosesOnlyThatTry) {
  write_dag("longtask", R"(dag: longtask
schedule: null
tasks:
  - id: long
    type: shell
    command: 'echo "start $SLUICE_TRY_NUMBER" >> runs.txt; sleep 4; echo "end $SLUICE_TRY_NUMBER" >> runs.txt'
    retries: 1
    retry_delay: 100ms
)");
  auto scheduler = start({"scheduler"}, "scheduler.log");
  auto worker = start({"worker", "--slots", "1"}, "worker.log");
  std::string run_id = trigger("longtask");
  ASSERT_TRUE(testing::wait_until(
      [&] {
        return testing::read_file(dir_.file("dags/runs.txt")).find("start 1") != std::string::npos;
      },
      30s))
      << logs();
  worker->kill(SIGKILL);
  worker->wait(5s);
  auto second = start({"worker", "--slots", "1"}, "worker.log");
  auto run = wait_for_run_end("longtask", run_id, 60s);
  ASSERT_TRUE(run) << logs();
  EXPECT_EQ(run->state, RunState::kSuccess) << logs();
  TaskInstanceRecord long_task = task(*run, "long");
  EXPECT_EQ(long_task.try_number, 2);
  std::string runs = testing::read_file(dir_.file("dags/runs.txt"));
  EXPECT_NE(runs.find("start 2"), std::string::npos) << runs;
  EXPECT_NE(runs.find("end 2"), std::string::npos) << runs;
  // The orphaned first try was killed by the new worker before it could finish.
  EXPECT_EQ(runs.find("end 1"), std::string::npos) << runs;
  EXPECT_NE(store_->read_log(long_task.id, 1, 0).data.find("stopped heartbeating"),
            std::string::npos);
}

TEST_P(IntegrationTest, ADependsOnPastTaskStartsAsSoonAsThePreviousIntervalsTaskEnds) {
  // Given the scheduled runs of the last two days, both started at once,
  // whose `gate` depends on its past: the second day's gate waits for the
  // first's, and starts when it ends: not when the first run ends (`tail`
  // keeps it running), nor on the scheduler's 10-second reconcile pass.
  const std::string start_date =
      format_iso(std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now()) -
                 std::chrono::days(2))
          .substr(0, 10);
  write_dag("daily", R"(dag: daily
schedule: "0 0 * * *"
start_date: )" + start_date + R"(
catchup: true
max_active_runs: 2
tasks:
  - {id: gate, type: shell, command: "sleep 4", depends_on_past: true}
  - {id: tail, type: shell, command: "sleep 5", depends_on: [gate]}
)");
  auto scheduler = start({"scheduler"}, "scheduler.log");
  auto worker = start({"worker", "--slots", "2"}, "worker.log");
  std::vector<RunRecord> runs;
  testing::wait_until(
      [&] {
        RunFilter filter;
        filter.dag_id = "daily";
        runs = store_->list_runs(filter);
        return runs.size() == 2 && is_finished(runs[0].state) && is_finished(runs[1].state);
      },
      60s);
  ASSERT_EQ(runs.size(), 2u) << logs();
  std::sort(runs.begin(), runs.end(), [](const RunRecord& a, const RunRecord& b) {
    return a.interval.start < b.interval.start;
  });
  ASSERT_EQ(runs[1].state, RunState::kSuccess) << logs();
  TaskInstanceRecord before = task(runs[0], "gate"), after = task(runs[1], "gate");
  ASSERT_TRUE(before.ended_at && after.started_at);
  EXPECT_GE(*after.started_at, *before.ended_at);
  EXPECT_LT(*after.started_at - *before.ended_at, 2500ms) << logs();
}

INSTANTIATE_TEST_SUITE_P(Backends, IntegrationTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

class PostgresWorkersTest : public IntegrationTest {};

TEST_P(PostgresWorkersTest, TwoWorkersShareAThousandTasksAndRunEachOnce) {
  std::ostringstream yaml;
  yaml << "dag: wide\nschedule: null\nmax_active_tasks: 64\ntasks:\n";
  for (int i = 0; i < 1000; ++i) {
    yaml << "  - {id: t" << i << ", type: shell, command: \"echo t" << i << " >> ran.txt\"}\n";
  }
  write_dag("wide", yaml.str());
  auto scheduler = start({"scheduler"}, "scheduler.log");
  auto w1 = start({"worker", "--slots", "4"}, "worker.log");
  auto w2 = start({"worker", "--slots", "4"}, "worker.log");
  std::string run_id = trigger("wide");
  auto run = wait_for_run_end("wide", run_id, 300s);
  ASSERT_TRUE(run) << logs();
  EXPECT_EQ(run->state, RunState::kSuccess) << logs();
  std::ifstream in(dir_.file("dags/ran.txt"));
  std::string line;
  std::multiset<std::string> seen;
  while (std::getline(in, line)) seen.insert(line);
  EXPECT_EQ(seen.size(), 1000u);
  std::set<std::string> unique(seen.begin(), seen.end());
  EXPECT_EQ(unique.size(), 1000u);
  std::set<std::string> workers;
  for (const auto& ti : store_->list_task_instances(run->id)) workers.insert(ti.worker_id);
  EXPECT_EQ(workers.size(), 2u) << "both workers should have taken tasks";
}

INSTANTIATE_TEST_SUITE_P(Postgres, PostgresWorkersTest, ::testing::Values("postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace sluice
