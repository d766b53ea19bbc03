#include "engine/alerts.h"

#include <gtest/gtest.h>

#include "core/dag.h"
#include "engine/run_factory.h"
#include "tests/core/store_test_util.h"

namespace sluice {
namespace {

Timestamp at(const char* iso) { return *parse_timestamp(iso); }

/// Sets the process's alert policy for one test and restores the default.
class PolicyScope {
 public:
  explicit PolicyScope(AlertPolicy policy) { set_alert_policy(std::move(policy)); }
  ~PolicyScope() { set_alert_policy(AlertPolicy{}); }
};

TEST(AlertsTest, DefaultEventsNeedAWebhook) {
  Dag dag;
  AlertPolicy policy;
  EXPECT_FALSE(wants_alert(dag, policy, "failure"));  // nowhere to send it
  policy.default_webhook = "https://hooks.example.com/x";
  EXPECT_TRUE(wants_alert(dag, policy, "failure"));
  EXPECT_TRUE(wants_alert(dag, policy, "recovery"));
  EXPECT_TRUE(wants_alert(dag, policy, "sla_miss"));
  EXPECT_FALSE(wants_alert(dag, policy, "retry"));
  dag.alerts.on = {"retry"};
  EXPECT_TRUE(wants_alert(dag, policy, "retry"));
  EXPECT_FALSE(wants_alert(dag, policy, "failure"));
}

TEST(AlertsTest, LogExcerptKeepsTheLastLinesAndMasksSecrets) {
  std::string log;
  for (int i = 1; i <= 30; ++i) log += "line " + std::to_string(i) + "\n";
  log += "password=hunter2\n";
  std::string excerpt = log_excerpt(log, {"hunter2"}, 3);
  EXPECT_EQ(excerpt, "line 29\nline 30\npassword=***");
  EXPECT_EQ(log_excerpt("one line", {}, 3), "one line");
}

TEST(AlertsTest, AlertJsonShowsTheLastAttemptsStatusAndErrorMasked) {
  AlertRecord a;
  a.id = 7;
  a.event_id = "e7";
  a.event = "failure";
  a.dag_id = "orders";
  a.attempts = 2;
  a.created_at = at("2026-02-03T02:00:00Z");
  a.next_attempt_at = at("2026-02-03T02:00:30Z");
  a.last_status = 503;
  a.last_error = "HTTP 503 from hooks.example.com:443: token hunter2 rejected";
  nlohmann::json j = alert_json(a, {"hunter2"});
  EXPECT_EQ(j["status"], "retrying");
  EXPECT_EQ(j["last_status"], 503);
  EXPECT_EQ(j["last_error"], "HTTP 503 from hooks.example.com:443: token *** rejected");
  a.last_status.reset();  // no answer at all
  a.last_error = "cannot connect to hooks.example.com:443: Connection refused";
  j = alert_json(a, {});
  EXPECT_TRUE(j["last_status"].is_null());
  EXPECT_EQ(j["last_error"], a.last_error);
}

TEST(AlertsTest, PayloadHasTheSpecFields) {
  AlertPolicy policy;
  policy.base_url = "https://sluice.example.com/";
  RunRecord run;
  run.dag_id = "orders elt";
  run.run_id = "scheduled__2026-02-03T02:00:00Z";
  run.type = RunType::kScheduled;
  run.interval = {at("2026-02-03T02:00:00Z"), at("2026-02-04T02:00:00Z")};
  AlertEvent a = make_alert("retry", run, "load", 2, "exit code 1", policy);
  EXPECT_EQ(a.payload["event"], "retry");
  EXPECT_EQ(a.payload["dag_id"], "orders elt");
  EXPECT_EQ(a.payload["task_id"], "load");
  EXPECT_EQ(a.payload["try_number"], 2);
  EXPECT_EQ(a.payload["data_interval_start"], "2026-02-03T02:00:00Z");
  EXPECT_EQ(a.payload["error"], "exit code 1");
  EXPECT_EQ(a.payload["url"],
            "https://sluice.example.com/#/dag/orders%20elt/run/"
            "scheduled__2026-02-03T02%3A00%3A00Z/task/load");
  std::string text = a.payload["text"];
  EXPECT_NE(text.find("load (try 2) task up for retry: exit code 1"), std::string::npos) << text;
}

/// Run-level alerts written by the store in the transaction that ends the run.
class RunEndAlertsTest : public ::testing::TestWithParam<std::string> {
 protected:
  RunEndAlertsTest()
      : policy_([] {
          AlertPolicy p;
          p.default_webhook = "http://127.0.0.1:9/hook";
          p.secrets = {"hunter2"};
          return p;
        }()),
        clock_(at("2026-03-01T00:00:00Z")) {}
  void SetUp() override {
    store_ = sluice::testing::make_test_store(GetParam());
    auto dag = std::make_shared<Dag>();
    dag->id = "orders";
    for (const char* id : {"extract", "load"}) {
      Task t;
      t.id = id;
      t.type = "shell";
      t.spec = ShellTask{"true"};
      dag->tasks.push_back(t);
    }
    dag_ = dag;
  }
  /// A manual run whose two tasks end as given; returns the run.
  RunRecord run_with(TaskState extract, TaskState load, const std::string& log = "") {
    DataInterval interval{clock_.now(), clock_.now()};
    NewRun nr = make_new_run(*dag_, 1, RunType::kManual, interval, nullptr,
                             make_run_id(RunType::kManual, clock_.now()));
    RunRecord run = *store_->create_run(nr, make_decider(dag_, clock_.now(), true), clock_.now());
    for (int i = 0; i < 2; ++i) {
      ClaimRequest req;
      req.worker_id = "w";
      req.now = clock_.now();
      req.max_tasks = 2;
      for (const ClaimedTask& c : store_->claim_tasks(req)) {
        TaskResult r;
        r.ti_id = c.task.id;
        r.try_number = c.task.try_number;
        r.worker_id = "w";
        r.state = c.task.task_id == "extract" ? extract : load;
        if (r.state == TaskState::kFailed) r.error = "exit code 3";
        r.final_log = log;
        r.ended_at = clock_.now();
        store_->finish_task(r, make_decider(dag_, clock_.now()));
      }
    }
    clock_.advance(Millis(60000));
    return *store_->get_run(run.dag_id, run.run_id);
  }
  std::vector<AlertRecord> alerts(const std::string& event) {
    std::vector<AlertRecord> out;
    for (const AlertRecord& a : store_->list_alerts(false, 100)) {
      if (a.event == event) out.push_back(a);
    }
    return out;
  }
  PolicyScope policy_;
  FakeClock clock_;
  std::unique_ptr<Store> store_;
  std::shared_ptr<const Dag> dag_;
};

TEST_P(RunEndAlertsTest, AFailedRunYieldsOneFailureAlertNamingTheTask) {
  RunRecord run = run_with(TaskState::kSuccess, TaskState::kFailed,
                           "connecting\nusing password hunter2\nboom: table missing\n");
  ASSERT_EQ(run.state, RunState::kFailed);
  std::vector<AlertRecord> failures = alerts("failure");
  ASSERT_EQ(failures.size(), 1u);
  const nlohmann::json& p = failures[0].payload;
  EXPECT_EQ(p["task_id"], "load");
  EXPECT_EQ(p["run_id"], run.run_id);
  ASSERT_EQ(p["failed_tasks"].size(), 1u);
  EXPECT_EQ(p["failed_tasks"][0]["error"], "exit code 3");
  std::string log = p["failed_tasks"][0]["log"];
  EXPECT_NE(log.find("boom: table missing"), std::string::npos) << log;
  EXPECT_EQ(log.find("hunter2"), std::string::npos) << log;
  EXPECT_NE(p["error"].get<std::string>().find("boom: table missing"), std::string::npos);
  // Reconciling the finished run again adds nothing.
  store_->reconcile_run(run.id, make_decider(dag_, clock_.now()), clock_.now());
  EXPECT_EQ(alerts("failure").size(), 1u);
  EXPECT_TRUE(alerts("recovery").empty());
}

TEST_P(RunEndAlertsTest, TheFirstSuccessAfterAFailureIsARecovery) {
  run_with(TaskState::kSuccess, TaskState::kSuccess);
  EXPECT_TRUE(alerts("recovery").empty());  // nothing failed before
  run_with(TaskState::kFailed, TaskState::kSuccess);
  RunRecord ok = run_with(TaskState::kSuccess, TaskState::kSuccess);
  ASSERT_EQ(alerts("recovery").size(), 1u);
  EXPECT_EQ(alerts("recovery")[0].run_id, ok.run_id);
  run_with(TaskState::kSuccess, TaskState::kSuccess);
  EXPECT_EQ(alerts("recovery").size(), 1u);
  EXPECT_TRUE(alerts("success").empty());  // opt-in
}

TEST_P(RunEndAlertsTest, WithoutAWebhookNothingIsEnqueued) {
  set_alert_policy(AlertPolicy{});
  run_with(TaskState::kFailed, TaskState::kSuccess);
  EXPECT_TRUE(store_->list_alerts(false, 100).empty());
}

INSTANTIATE_TEST_SUITE_P(Backends, RunEndAlertsTest, ::testing::Values("sqlite", "postgres"));

}  // namespace
}  // namespace sluice
