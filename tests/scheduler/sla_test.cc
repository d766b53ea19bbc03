#include "scheduler/sla.h"

#include <gtest/gtest.h>

#include "core/dag.h"
#include "engine/alerts.h"
#include "engine/dag_cache.h"
#include "engine/run_factory.h"
#include "tests/core/store_test_util.h"

namespace sluice {
namespace {

Timestamp at(const char* iso) { return *parse_timestamp(iso); }

class SlaTest : public ::testing::TestWithParam<std::string> {
 protected:
  SlaTest() : clock_(at("2026-03-02T00:00:00Z")) {
    AlertPolicy policy;
    policy.default_webhook = "http://127.0.0.1:9/hook";
    set_alert_policy(policy);
  }
  ~SlaTest() override { set_alert_policy(AlertPolicy{}); }
  void SetUp() override {
    store_ = sluice::testing::make_test_store(GetParam());
    dags_ = std::make_unique<DagCache>(*store_);
  }
  /// Stores `dag` and starts a run of `type` for the day before the clock.
  RunRecord start_run(Dag dag, RunType type) {
    int64_t version = store_->upsert_dag(dag.id, dag.id + ".yaml", std::to_string(++versions_), "",
                                         dag_to_json(dag), false, 16, clock_.now());
    auto shared = std::make_shared<const Dag>(dag);
    DataInterval interval{at("2026-03-01T00:00:00Z"), at("2026-03-02T00:00:00Z")};
    NewRun nr =
        make_new_run(dag, version, type, interval, nullptr, make_run_id(type, interval.start));
    return *store_->create_run(nr, make_decider(shared, clock_.now(), true), clock_.now());
  }
  Dag sla_dag() {
    Dag dag;
    dag.id = "orders";
    Task t;
    t.id = "load";
    t.type = "shell";
    t.spec = ShellTask{"true"};
    t.sla = Millis(600000);
    dag.tasks.push_back(t);
    dag.sla.max_duration = Millis(3600000);
    dag.sla.deadline = Millis(2 * 3600000);
    return dag;
  }
  int alerts(const std::string& event) {
    int n = 0;
    for (const AlertRecord& a : store_->list_alerts(false, 100)) n += a.event == event;
    return n;
  }
  FakeClock clock_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<DagCache> dags_;
  int versions_ = 0;
};

TEST_P(SlaTest, AMissIsRecordedAndAlertedOnceAlsoAfterARestart) {
  RunRecord run = start_run(sla_dag(), RunType::kScheduled);
  SlaMonitor monitor(*store_, *dags_, clock_);
  monitor.arm(clock_.now());
  EXPECT_EQ(store_->next_sla_due(), at("2026-03-02T01:00:00Z"));  // max_duration first
  EXPECT_EQ(monitor.check_due(clock_.now()), 0);
  clock_.advance(Millis(3600000));
  EXPECT_EQ(monitor.check_due(clock_.now()), 1);
  std::vector<SlaMissRecord> misses = store_->list_sla_misses("", 10);
  ASSERT_EQ(misses.size(), 1u);
  EXPECT_EQ(misses[0].kind, "max_duration");
  EXPECT_EQ(misses[0].run_id, run.run_id);
  EXPECT_TRUE(misses[0].alerted);
  EXPECT_EQ(alerts("sla_miss"), 1);
  // The deadline (2 h after the interval end) is a second, separate miss.
  clock_.advance(Millis(3600000));
  SlaMonitor restarted(*store_, *dags_, clock_);
  restarted.arm(clock_.now());
  EXPECT_EQ(restarted.check_due(clock_.now()), 1);
  EXPECT_EQ(restarted.check_due(clock_.now()), 0);
  EXPECT_EQ(store_->list_sla_misses("orders", 10).size(), 2u);
  EXPECT_EQ(alerts("sla_miss"), 2);
  AlertRecord a = store_->list_alerts(false, 1).at(0);
  EXPECT_EQ(a.payload["sla"], "deadline");
  EXPECT_EQ(a.payload["deadline"], "2026-03-02T02:00:00Z");
}

TEST_P(SlaTest, ARunThatEndsInTimeMissesNothing) {
  RunRecord run = start_run(sla_dag(), RunType::kScheduled);
  SlaMonitor monitor(*store_, *dags_, clock_);
  monitor.arm(clock_.now());
  clock_.advance(Millis(60000));
  ClaimRequest req;
  req.worker_id = "w";
  req.now = clock_.now();
  std::vector<ClaimedTask> claimed = store_->claim_tasks(req);
  ASSERT_EQ(claimed.size(), 1u);
  monitor.arm(clock_.now());  // the task started: its sla is armed
  TaskResult r;
  r.ti_id = claimed[0].task.id;
  r.try_number = 1;
  r.worker_id = "w";
  r.ended_at = clock_.now();
  store_->finish_task(r, make_decider(dags_->get(run.version_id), clock_.now()));
  clock_.advance(Millis(5 * 3600000));
  EXPECT_EQ(monitor.check_due(clock_.now()), 0);
  EXPECT_TRUE(store_->list_sla_misses("", 10).empty());
  EXPECT_FALSE(store_->next_sla_due().has_value());  // every timer fired
}

TEST_P(SlaTest, ATaskOverItsSlaIsAMiss) {
  Dag dag = sla_dag();
  dag.sla = {};
  start_run(dag, RunType::kScheduled);
  SlaMonitor monitor(*store_, *dags_, clock_);
  ClaimRequest req;
  req.worker_id = "w";
  req.now = clock_.now();
  ASSERT_EQ(store_->claim_tasks(req).size(), 1u);
  monitor.arm(clock_.now());
  clock_.advance(Millis(600000));
  EXPECT_EQ(monitor.check_due(clock_.now()), 1);
  SlaMissRecord miss = store_->list_sla_misses("", 10).at(0);
  EXPECT_EQ(miss.kind, "sla");
  EXPECT_EQ(miss.task_id, "load");
}

TEST_P(SlaTest, BackfillRunsHaveNoDeadlines) {
  start_run(sla_dag(), RunType::kBackfill);
  SlaMonitor monitor(*store_, *dags_, clock_);
  monitor.arm(clock_.now());
  EXPECT_FALSE(store_->next_sla_due().has_value());
}

TEST_P(SlaTest, FreshnessAlertsOnceWhenNoRunSucceedsInTime) {
  Dag dag = sla_dag();
  dag.sla = {};
  dag.sla.freshness = Millis(3600000);
  dag.tasks[0].sla.reset();
  RunRecord run = start_run(dag, RunType::kScheduled);
  ClaimRequest req;
  req.worker_id = "w";
  req.now = clock_.now();
  std::vector<ClaimedTask> claimed = store_->claim_tasks(req);
  TaskResult r;
  r.ti_id = claimed.at(0).task.id;
  r.try_number = 1;
  r.worker_id = "w";
  r.ended_at = clock_.now();
  store_->finish_task(r, make_decider(dags_->get(run.version_id), clock_.now()));
  SlaMonitor monitor(*store_, *dags_, clock_);
  monitor.arm(clock_.now());
  clock_.advance(Millis(3600000));
  EXPECT_EQ(monitor.check_due(clock_.now()), 1);
  monitor.arm(clock_.now());
  clock_.advance(Millis(3600000));
  EXPECT_EQ(monitor.check_due(clock_.now()), 0);
  ASSERT_EQ(store_->list_sla_misses("", 10).size(), 1u);
  EXPECT_EQ(store_->list_sla_misses("", 10)[0].kind, "freshness");
  EXPECT_EQ(alerts("sla_miss"), 1);
}

INSTANTIATE_TEST_SUITE_P(Backends, SlaTest, ::testing::Values("sqlite", "postgres"));

}  // namespace
}  // namespace sluice
