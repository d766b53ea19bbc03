// A worker against a store that fails (tests/core/fault_store.h), on both
// stores: claims that fail, and results whose report fails before or after
// the store committed it. Each run must still end success with every task
// run exactly once, and the worker must not stop.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "core/config.h"
#include "core/store.h"
#include "core/work_signal.h"
#include "engine/dag_cache.h"
#include "engine/trigger.h"
#include "scheduler/scheduler.h"
#include "tests/core/fault_store.h"
#include "tests/core/store_test_util.h"
#include "tests/test_util.h"
#include "worker/task_runner.h"
#include "worker/worker.h"

namespace sluice {
namespace {

using namespace std::chrono_literals;
using testing::FaultStore;

// Each task appends its id to a file, so that the test counts real runs.
const char* kChain = R"(dag: chain
schedule: null
start_date: 2026-01-01
tasks:
  - {id: a, type: shell, command: "echo a >> \"$OUT\""}
  - {id: b, type: shell, command: "echo b >> \"$OUT\"", depends_on: [a]}
  - {id: c, type: shell, command: "echo c >> \"$OUT\"", depends_on: [b]}
  - {id: d, type: shell, command: "echo d >> \"$OUT\"", depends_on: [a]}
)";

class WorkerFaultTest : public ::testing::TestWithParam<std::string> {
 protected:
  WorkerFaultTest()
      : store_(testing::make_test_store(GetParam())), faulty_(*store_), dags_(*store_) {
    dir_.write("chain.yaml", kChain);
    out_ = dir_.path() + "/ran.txt";
    setenv("OUT", out_.c_str(), 1);
  }

  /// Runs the scheduler (on the sound store) and one worker (on the faulty
  /// one) until the run of `chain` ends or 60 s pass; returns the run.
  RunRecord run_chain() {
    SchedulerOptions options;
    options.dags_folder = dir_.path();
    options.poll_interval = 5ms;
    options.idle_poll_interval = 20ms;
    Scheduler scheduler(*store_, dags_, clock_, options, &runs_signal_, &tasks_signal_);
    scheduler.tick();  // stores the DAG
    RunRecord run =
        trigger_run(*store_, dags_, TriggerRequest{"chain", std::nullopt}, clock_.now());
    WorkerOptions w;
    w.worker_id = "faulty";
    w.slots = 2;
    w.poll_interval = 20ms;
    w.kill_grace = 100ms;
    w.lost_claim_grace = 1s;
    w.heartbeat_interval = 200ms;
    Worker worker(faulty_, dags_, clock_, launcher_, config_, w, &tasks_signal_, &runs_signal_);
    std::atomic<bool> stop{false};
    std::thread scheduler_thread([&] { scheduler.run(stop); });
    std::thread worker_thread([&] { worker.run(stop); });
    auto deadline = std::chrono::steady_clock::now() + 60s;
    RunRecord now = run;
    while (std::chrono::steady_clock::now() < deadline) {
      now = *store_->get_run_by_pk(run.id);
      if (now.state != RunState::kQueued && now.state != RunState::kRunning) break;
      std::this_thread::sleep_for(10ms);
    }
    stop = true;
    tasks_signal_.notify();
    runs_signal_.notify();
    scheduler_thread.join();
    worker_thread.join();
    return now;
  }

  /// Every task of the run succeeded in its first try, and ran once.
  void expect_each_task_ran_once(const RunRecord& run) {
    EXPECT_EQ(run.state, RunState::kSuccess);
    for (const TaskInstanceRecord& ti : store_->list_task_instances(run.id)) {
      EXPECT_EQ(ti.state, TaskState::kSuccess) << ti.task_id;
      EXPECT_EQ(ti.try_number, 1) << ti.task_id;
    }
    std::string ran = testing::read_file(out_);
    for (const char* task : {"a\n", "b\n", "c\n", "d\n"}) {
      size_t first = ran.find(task);
      EXPECT_NE(first, std::string::npos) << task << " never ran";
      EXPECT_EQ(ran.find(task, first + 1), std::string::npos) << task << " ran twice: " << ran;
    }
  }

  testing::TempDir dir_;
  std::string out_;
  std::unique_ptr<Store> store_;
  FaultStore faulty_;
  DagCache dags_;
  RealClock clock_;
  RealProcessLauncher launcher_;
  Config config_;
  WorkSignal runs_signal_, tasks_signal_;
};

TEST_P(WorkerFaultTest, AReportWhoseAnswerIsLostAfterTheCommitIsNotRunAgain) {
  faulty_.fail_next("finish_task", 2, FaultStore::When::kAfter);
  RunRecord run = run_chain();
  EXPECT_EQ(faulty_.failures("finish_task"), 2);
  expect_each_task_ran_once(run);
}

TEST_P(WorkerFaultTest, AReportThatFailsBeforeTheStoreIsRetriedUntilItLands) {
  faulty_.fail_next("finish_task", 3, FaultStore::When::kBefore);
  RunRecord run = run_chain();
  EXPECT_EQ(faulty_.failures("finish_task"), 3);
  expect_each_task_ran_once(run);
}

TEST_P(WorkerFaultTest, FailedClaimsAndHeartbeatsLeaveTheWorkerRunning) {
  faulty_.fail_next("claim_tasks", 3, FaultStore::When::kBefore);
  faulty_.fail_next("heartbeat_worker", 2, FaultStore::When::kBefore);
  RunRecord run = run_chain();
  EXPECT_EQ(faulty_.failures("claim_tasks"), 3);
  expect_each_task_ran_once(run);
}

TEST_P(WorkerFaultTest, AClaimCommittedButUnansweredIsHandedBackAndRunOnce) {
  // The claim commits, then the worker hears of a failure: the task is
  // running in the store as this worker's, with no slot running it.
  faulty_.fail_next("claim_tasks", 1, FaultStore::When::kAfter);
  RunRecord run = run_chain();
  EXPECT_EQ(faulty_.failures("claim_tasks"), 1);
  expect_each_task_ran_once(run);
}

INSTANTIATE_TEST_SUITE_P(Stores, WorkerFaultTest, ::testing::Values("sqlite", "postgres"));

}  // namespace
}  // namespace sluice
