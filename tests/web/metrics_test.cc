// /metrics after a scripted scenario, on each store: a scheduler syncing a
// DAG folder (one file broken) and ticking, a worker acted out through the
// store (a chain, a try that fails and is retried, a pool), an SLA miss and
// an alert delivered after a failed attempt; then /metrics is read over a
// socket on 127.0.0.1, its figures checked against the scenario and the text
// checked by `promtool check metrics`.

#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/store.h"
#include "core/version.h"
#include "engine/dag_cache.h"
#include "engine/run_factory.h"
#include "scheduler/scheduler.h"
#include "tests/core/store_test_util.h"
#include "tests/test_util.h"
#include "tests/web/metrics_text.h"
#include "web/server.h"

namespace sluice {
namespace {

using nlohmann::json;

const char* kDemoYaml = R"(dag: metrics_demo
schedule: null
start_date: 2026-01-01
alerts:
  webhook: "http://127.0.0.1:9/hook"
  on: [failure]
tasks:
  - id: extract
    type: shell
    command: "true"
  - id: arrived
    type: file_sensor
    path: /nonexistent/arrived.csv
    depends_on: [extract]
    pool: etl
    priority: 10
  - id: flaky
    type: shell
    command: "false"
    depends_on: [extract]
    retries: 1
    retry_delay: 1s
  - id: report
    type: shell
    command: "true"
    depends_on: [arrived, flaky]
)";

const char* kOkYaml = R"(dag: ok_dag
schedule: null
start_date: 2026-01-01
tasks:
  - id: only
    type: shell
    command: "true"
)";

const char* kBrokenYaml = R"(dag: broken
tasks:
  - id: x
    type: no_such_type
)";

/// How many of `values` (seconds) are at most `le`.
double at_most(const std::vector<double>& values, double le) {
  return static_cast<double>(
      std::count_if(values.begin(), values.end(), [le](double v) { return v <= le + 1e-9; }));
}

class MetricsTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    store_ = testing::make_test_store(GetParam());
    ASSERT_NE(store_, nullptr);
    dir_.write("dags/metrics_demo.yaml", kDemoYaml);
    dir_.write("dags/ok_dag.yaml", kOkYaml);
    dir_.write("dags/broken.yaml", kBrokenYaml);
    // A pool name needs escaping in a label: quotes, a backslash, a newline.
    store_->set_pools({{"etl", 3}, {"odd \"pool\" \\ name\n", 2}});
    cache_ = std::make_unique<DagCache>(*store_);
    SchedulerOptions options;
    options.dags_folder = dir_.file("dags");
    options.scheduler_id = "sched-1";
    scheduler_ = std::make_unique<Scheduler>(*store_, *cache_, clock_, options);
    server_ = std::make_unique<WebServer>(*store_, *cache_, config_, clock_);
    int port = server_->start("127.0.0.1", 0);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port);
    WorkerRecord worker;
    worker.id = "w1";
    worker.host = "host-1";
    worker.pid = 42;
    worker.slots = 4;
    worker.started_at = worker.last_heartbeat = clock_.now();
    store_->register_worker(worker);
  }
  void TearDown() override {
    if (server_) server_->stop();
  }

  /// A scheduler pass, with worker w1 alive.
  void tick() {
    store_->heartbeat_worker("w1", clock_.now());
    scheduler_->tick();
    ++ticks_;
  }
  void advance(int ms) { clock_.advance(Millis(ms)); }

  std::string trigger(const std::string& dag_id) {
    auto res = client_->Post("/api/v1/dags/" + dag_id + "/runs", "{}", "application/json");
    EXPECT_EQ(res->status, 201) << res->body;
    return json::parse(res->body)["run_id"];
  }

  /// Claims up to `n` queued tasks as worker w1; keeps each claim's queue wait.
  std::vector<ClaimedTask> claim(int n) {
    ClaimRequest request;
    request.worker_id = "w1";
    request.now = clock_.now();
    request.max_tasks = n;
    std::vector<ClaimedTask> claimed = store_->claim_tasks(request);
    for (const ClaimedTask& c : claimed) {
      queue_waits_.push_back(
          std::chrono::duration<double>(*c.task.started_at - *c.task.queued_at).count());
    }
    return claimed;
  }

  /// Lets `ms` pass, then reports `state` for the claimed try (which ran
  /// since its claim).
  void finish(const ClaimedTask& claimed, TaskState state, int ms) {
    advance(ms);
    durations_.push_back(
        std::chrono::duration<double>(clock_.now() - *claimed.task.started_at).count());
    auto dag = cache_->get(claimed.run.version_id);
    TaskResult result;
    result.ti_id = claimed.task.id;
    result.task_id = claimed.task.task_id;
    result.try_number = claimed.task.try_number;
    result.worker_id = "w1";
    result.state = state;
    result.ended_at = clock_.now();
    if (state == TaskState::kUpForRetry) result.next_try_at = clock_.now() + Millis(1000);
    store_->finish_task(result,
                        make_decider(dag, cache_->index(claimed.run.version_id), clock_.now()));
  }

  testing::TempDir dir_;
  FakeClock clock_{*parse_timestamp("2026-03-02T08:00:00Z")};
  Config config_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<DagCache> cache_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<WebServer> server_;
  std::unique_ptr<httplib::Client> client_;
  int ticks_ = 0;
  std::vector<double> durations_;    // seconds, of every try that ran to its end
  std::vector<double> queue_waits_;  // seconds, of every claim
  std::vector<double> hops_;         // seconds, of first tries with upstream tasks
};

TEST_P(MetricsTest, ScriptedScenarioGivesTheFiguresAndPassesPromtool) {
  // given the DAG folder synced by the scheduler's first pass
  tick();

  // and run A of metrics_demo: extract, then arrived (pool etl) and flaky,
  // whose first try fails and is retried, whose second try fails; report is
  // upstream_failed and the run fails
  std::string run_a = trigger("metrics_demo");
  tick();  // starts the run: extract queued
  advance(40);
  auto extract = claim(4);
  ASSERT_EQ(extract.size(), 1u);
  finish(extract[0], TaskState::kSuccess, 1200);  // arrived and flaky queued
  Timestamp extract_end = clock_.now();
  advance(30);
  auto second = claim(4);
  ASSERT_EQ(second.size(), 2u);
  for (const ClaimedTask& c : second) {
    hops_.push_back(std::chrono::duration<double>(*c.task.started_at - extract_end).count());
  }
  const ClaimedTask& arrived = second[0].task.task_id == "arrived" ? second[0] : second[1];
  const ClaimedTask& flaky = second[0].task.task_id == "arrived" ? second[1] : second[0];
  finish(arrived, TaskState::kSuccess, 7);
  finish(flaky, TaskState::kUpForRetry, 300);  // ran 307 ms, beside arrived
  advance(1000);
  tick();  // requeues flaky's second try
  advance(15);
  auto retry = claim(4);
  ASSERT_EQ(retry.size(), 1u);
  EXPECT_EQ(retry[0].task.try_number, 2);
  finish(retry[0], TaskState::kFailed, 4000);  // no hop: not a first try
  EXPECT_EQ(store_->get_run("metrics_demo", run_a)->state, RunState::kFailed);

  // and a run of the other DAG that succeeds
  trigger("ok_dag");
  tick();
  advance(5);
  auto only = claim(4);
  ASSERT_EQ(only.size(), 1u);
  finish(only[0], TaskState::kSuccess, 65000);

  // and run C of metrics_demo left running: arrived (etl) runs, flaky waits
  trigger("metrics_demo");
  tick();
  advance(2);
  auto extract_c = claim(4);
  ASSERT_EQ(extract_c.size(), 1u);
  finish(extract_c[0], TaskState::kSuccess, 20);
  extract_end = clock_.now();
  advance(3);
  auto arrived_c = claim(1);  // priority 10: arrived before flaky
  ASSERT_EQ(arrived_c.size(), 1u);
  EXPECT_EQ(arrived_c[0].task.task_id, "arrived");
  hops_.push_back(
      std::chrono::duration<double>(*arrived_c[0].task.started_at - extract_end).count());

  // and an SLA miss of run A, whose alert stays undelivered
  Timestamp sla_at = clock_.now();
  store_->arm_sla_timer({0, "metrics_demo", run_a, "", "max_duration", sla_at});
  std::vector<SlaTimer> due = store_->due_sla_timers(sla_at, 10);
  ASSERT_EQ(due.size(), 1u);
  SlaMissRecord miss{0, "metrics_demo", run_a, "", "max_duration", sla_at, sla_at, false};
  AlertEvent sla_alert{"sla_miss", "metrics_demo", run_a, "", json{{"event", "sla_miss"}}};
  ASSERT_TRUE(store_->fire_sla_timer(due[0].id, miss, sla_alert, sla_at));

  // and run A's failure alert delivered on its second attempt
  std::vector<AlertRecord> alerts = store_->list_alerts(true, 10);
  ASSERT_EQ(alerts.size(), 2u);
  const AlertRecord& failure = alerts[0].event == "failure" ? alerts[0] : alerts[1];
  ASSERT_EQ(failure.event, "failure");
  ASSERT_TRUE(store_->mark_alert_failed(failure.id, std::nullopt, "connection refused",
                                        clock_.now()));
  ASSERT_TRUE(store_->mark_alert_delivered(failure.id, 200, clock_.now()));

  // and a last scheduler pass that writes the pass durations
  advance(2500);
  tick();

  // when /metrics is read
  auto res = client_->Get("/metrics");
  ASSERT_EQ(res->status, 200);
  const std::string& text = res->body;
  std::map<std::string, std::string> m = testing::parse_metrics(text);
  auto value = [&](const std::string& series) {
    auto it = m.find(series);
    EXPECT_NE(it, m.end()) << "no series " << series << " in\n" << text;
    return it == m.end() ? -1.0 : std::stod(it->second);
  };

  // then the metrics that were there before keep their names and values
  EXPECT_EQ(value("sluice_runs{state=\"failed\"}"), 1);
  EXPECT_EQ(value("sluice_runs{state=\"success\"}"), 1);
  EXPECT_EQ(value("sluice_runs{state=\"running\"}"), 1);
  EXPECT_EQ(value("sluice_runs{state=\"queued\"}"), 0);
  EXPECT_EQ(value("sluice_task_instances{state=\"success\"}"), 1);  // run C's extract
  EXPECT_EQ(value("sluice_task_instances{state=\"running\"}"), 1);
  EXPECT_EQ(value("sluice_task_instances{state=\"queued\"}"), 1);
  EXPECT_EQ(value("sluice_task_instances{state=\"none\"}"), 1);
  EXPECT_EQ(value("sluice_queue_depth"), 1);
  EXPECT_EQ(value("sluice_alert_backlog"), 1);
  EXPECT_EQ(value("sluice_workers_alive"), 1);
  EXPECT_EQ(value("sluice_worker_slots"), 4);
  EXPECT_EQ(value("sluice_dags{kind=\"all\"}"), 2);
  EXPECT_EQ(value("sluice_import_errors"), 1);
  EXPECT_EQ(value("sluice_build_info{version=\"" + std::string(kSluiceVersion) + "\"}"), 1);

  // and runs and task instances are counted by DAG, task type and state
  EXPECT_EQ(value("sluice_dag_runs_total{dag_id=\"metrics_demo\",state=\"failed\"}"), 1);
  EXPECT_EQ(value("sluice_dag_runs_total{dag_id=\"ok_dag\",state=\"success\"}"), 1);
  auto tasks = [&](const std::string& dag, const std::string& type, const std::string& state) {
    return value("sluice_task_instances_total{dag_id=\"" + dag + "\",task_type=\"" + type +
                 "\",state=\"" + state + "\"}");
  };
  EXPECT_EQ(tasks("metrics_demo", "shell", "success"), 2);  // extract of runs A and C
  EXPECT_EQ(tasks("metrics_demo", "file_sensor", "success"), 1);
  EXPECT_EQ(tasks("metrics_demo", "shell", "up_for_retry"), 1);
  EXPECT_EQ(tasks("metrics_demo", "shell", "failed"), 1);
  EXPECT_EQ(tasks("metrics_demo", "shell", "upstream_failed"), 1);
  EXPECT_EQ(tasks("ok_dag", "shell", "success"), 1);
  int task_series = 0;
  for (const auto& [series, v] : m) {
    task_series += series.rfind("sluice_task_instances_total{", 0) == 0;
  }
  EXPECT_EQ(task_series, 6) << text;

  // and the histograms hold every sample of the scenario
  struct Expected {
    std::string name;
    std::vector<double> samples;
  };
  ASSERT_EQ(durations_.size(), 6u);  // every try that ran to its end
  ASSERT_EQ(queue_waits_.size(), 7u);
  ASSERT_EQ(hops_.size(), 3u);
  for (const Expected& h : {Expected{"sluice_task_duration_seconds", durations_},
                            Expected{"sluice_task_queue_wait_seconds", queue_waits_},
                            Expected{"sluice_task_hop_latency_seconds", hops_}}) {
    SCOPED_TRACE(h.name);
    EXPECT_EQ(value(h.name + "_count"), static_cast<double>(h.samples.size()));
    double sum = 0;
    for (double s : h.samples) sum += s;
    EXPECT_NEAR(value(h.name + "_sum"), sum, 1e-6);
    auto buckets = testing::histogram_buckets(m, h.name);
    ASSERT_EQ(buckets.size(), std::size(kMetricBucketsUs) + 1);
    EXPECT_EQ(buckets.front().first, 0.01);
    for (const auto& [le, count] : buckets) {
      EXPECT_EQ(count, at_most(h.samples, le)) << "le=" << le;
    }
    EXPECT_EQ(buckets.back().second, value(h.name + "_count"));
  }
  EXPECT_EQ(value("sluice_task_duration_seconds_bucket{le=\"0.25\"}"), 2);  // 7 ms, 20 ms
  EXPECT_EQ(value("sluice_task_duration_seconds_bucket{le=\"1\"}"), 3);     // and 307 ms
  EXPECT_EQ(value("sluice_task_duration_seconds_bucket{le=\"60\"}"), 5);
  EXPECT_EQ(value("sluice_task_duration_seconds_bucket{le=\"120\"}"), 6);

  // and the scheduler's passes and the parses of the DAG folder are there
  EXPECT_EQ(value("sluice_scheduler_loop_duration_seconds_count"), ticks_);
  auto loop = testing::histogram_buckets(m, "sluice_scheduler_loop_duration_seconds");
  for (size_t i = 1; i < loop.size(); ++i) EXPECT_LE(loop[i - 1].second, loop[i].second);
  EXPECT_EQ(value("sluice_dag_parse_duration_seconds_count"), 3);
  EXPECT_GT(value("sluice_dag_parse_duration_seconds_sum"), 0);
  EXPECT_EQ(value("sluice_dag_parse_errors_total"), 1);

  // and the SLA miss, the delivery attempts, the outbox and the pools
  EXPECT_EQ(value("sluice_sla_misses_total{dag_id=\"metrics_demo\"}"), 1);
  EXPECT_EQ(value("sluice_alert_deliveries_total{result=\"delivered\"}"), 1);
  EXPECT_EQ(value("sluice_alert_deliveries_total{result=\"failed\"}"), 1);
  EXPECT_EQ(value("sluice_alert_outbox_depth"), 1);
  EXPECT_EQ(value("sluice_alert_outbox_oldest_age_seconds"),
            std::chrono::duration<double>(clock_.now() - sla_at).count());
  EXPECT_EQ(value("sluice_pool_slots{pool=\"etl\"}"), 3);
  EXPECT_EQ(value("sluice_pool_slots_used{pool=\"etl\"}"), 1);
  EXPECT_EQ(value("sluice_pool_slots_queued{pool=\"etl\"}"), 0);
  EXPECT_EQ(value("sluice_pool_slots{pool=\"default\"}"), 128);
  EXPECT_EQ(value("sluice_pool_slots{pool=\"odd \\\"pool\\\" \\\\ name\\n\"}"), 2);
  EXPECT_EQ(value("sluice_pool_slots_used{pool=\"default\"}"), 0);
  EXPECT_EQ(value("sluice_pool_slots_queued{pool=\"default\"}"), 1);

  // and promtool finds nothing to complain about
  std::string file = dir_.write("metrics.txt", text);
  ASSERT_EQ(std::system("command -v promtool >/dev/null 2>&1"), 0)
      << "promtool is missing: install Debian's prometheus package (scripts/install-deps.sh "
         "does)";
  std::string out = dir_.file("promtool.out");
  int rc = std::system(("promtool check metrics < '" + file + "' > '" + out + "' 2>&1").c_str());
  EXPECT_EQ(rc, 0) << testing::read_file(out) << "\n" << text;
  EXPECT_EQ(testing::read_file(out), "");
}

TEST_P(MetricsTest, CountersOutliveTheRowsTheyCount) {
  // given a run that ended, folded into the counters by a scrape
  tick();
  trigger("ok_dag");
  tick();
  auto only = claim(1);
  ASSERT_EQ(only.size(), 1u);
  finish(only[0], TaskState::kSuccess, 500);
  ASSERT_EQ(store_->read_metrics().runs_by_state.at("success"), 1);

  // when db clean deletes the run with its task instances
  advance(1000);
  ASSERT_EQ(store_->clean_finished_runs(clock_.now()), 1);

  // then the counters and the duration histogram still count it
  MetricsSnapshot snapshot = store_->read_metrics();
  EXPECT_EQ(snapshot.runs_by_state.count("success"), 0u);
  std::map<std::string, int64_t> totals;
  for (const MetricCounter& c : snapshot.counters) totals[c.name] += c.value;
  EXPECT_EQ(totals["dag_runs"], 1);
  EXPECT_EQ(totals["task_instances"], 1);
  EXPECT_EQ(totals["task_duration"], 1);
  EXPECT_EQ(totals["task_queue_wait"], 1);
}

INSTANTIATE_TEST_SUITE_P(Stores, MetricsTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace sluice
