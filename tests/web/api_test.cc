// The REST API over a real socket on 127.0.0.1, with a real SQLite store.

#include "tests/web/api_test_fixture.h"
#include "tests/web/metrics_text.h"

namespace sluice::api_test {
namespace {

TEST_F(ApiTest, ListsDagsWithScheduleNextRunAndRecentRuns) {
  // given a triggered run of orders
  std::string run_id = trigger("orders");

  auto res = get("/api/v1/dags");
  ASSERT_EQ(res->status, 200);
  json dags = body(res);
  ASSERT_EQ(dags.size(), 2u);
  EXPECT_EQ(dags[0]["dag_id"], "adhoc");  // sorted by id
  EXPECT_TRUE(dags[0]["schedule"].is_null());
  EXPECT_TRUE(dags[0]["next_run"].is_null());
  json orders = dags[1];
  EXPECT_EQ(orders["schedule"], "0 2 * * *");
  EXPECT_EQ(orders["timezone"], "Europe/Berlin");
  EXPECT_EQ(orders["paused"], false);
  ASSERT_EQ(orders["recent_runs"].size(), 1u);
  EXPECT_EQ(orders["recent_runs"][0]["run_id"], run_id);
  EXPECT_EQ(orders["recent_runs"][0]["state"], "queued");
  // No scheduled run yet and catchup off: the next run is the latest complete
  // interval, 2026-02-09 02:00 Berlin (01:00Z) to 2026-02-10 01:00Z.
  EXPECT_EQ(orders["next_run"]["data_interval_start"], "2026-02-09T01:00:00Z");
  EXPECT_EQ(orders["next_run"]["data_interval_end"], "2026-02-10T01:00:00Z");
}

TEST_F(ApiTest, ShowsParseErrorsOfFiles) {
  // given a file that failed to load, once loaded as orders
  store_->set_file_error({dir_.file("dags/broken.yaml"), "", "broken.yaml:3:1: unknown key 'taks'",
                          clock_.now()});
  store_->set_file_error({dir_.file("dags/orders.yaml"), "orders", "orders.yaml:2:1: bad cron",
                          clock_.now()});

  auto errors = body(get("/api/v1/import-errors"));
  ASSERT_EQ(errors.size(), 2u);
  auto dags = body(get("/api/v1/dags"));
  EXPECT_EQ(dags[1]["dag_id"], "orders");
  EXPECT_EQ(dags[1]["parse_error"], "orders.yaml:2:1: bad cron");
  EXPECT_EQ(dags[0]["parse_error"], "");
}

TEST_F(ApiTest, ShowsOneDagWithSourceAndTasks) {
  auto res = get("/api/v1/dags/orders");
  ASSERT_EQ(res->status, 200);
  json dag = body(res);
  EXPECT_EQ(dag["yaml"], kOrdersYaml);
  EXPECT_EQ(dag["definition"]["id"], "orders");
  ASSERT_EQ(dag["tasks"].size(), 3u);
  EXPECT_EQ(dag["tasks"][1]["id"], "load");
  EXPECT_EQ(dag["tasks"][1]["depends_on"], json::array({"extract"}));
  EXPECT_EQ(dag["params"]["country"], "us");
  EXPECT_TRUE(dag["version"]["id"].is_number());
}

TEST_F(ApiTest, UnknownDagIs404WithSuggestion) {
  auto res = get("/api/v1/dags/ordres");
  ASSERT_EQ(res->status, 404);
  EXPECT_NE(body(res)["error"].get<std::string>().find("did you mean 'orders'"),
            std::string::npos);
  EXPECT_EQ(get("/api/v1/dags/nope/runs")->status, 404);
  EXPECT_EQ(post("/api/v1/dags/nope/runs", "{}")->status, 404);
  EXPECT_EQ(get("/api/v1/no-such-endpoint")->status, 404);
  EXPECT_TRUE(body(get("/api/v1/no-such-endpoint")).contains("error"));
}

TEST_F(ApiTest, PausesAndUnpauses) {
  ASSERT_EQ(post("/api/v1/dags/orders/pause", "")->status, 200);
  EXPECT_TRUE(store_->get_dag("orders")->paused);
  ASSERT_EQ(post("/api/v1/dags/orders/unpause", "")->status, 200);
  EXPECT_FALSE(store_->get_dag("orders")->paused);
  auto res = client_->Patch("/api/v1/dags/orders", R"({"paused": true})", "application/json");
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(body(res)["paused"], true);
  EXPECT_TRUE(store_->get_dag("orders")->paused);
}

TEST_F(ApiTest, BadPauseInputIs400NamingTheField) {
  auto res = client_->Patch("/api/v1/dags/orders", R"({"paused": "yes"})", "application/json");
  ASSERT_EQ(res->status, 400);
  EXPECT_NE(body(res)["error"].get<std::string>().find("paused"), std::string::npos);
  res = client_->Patch("/api/v1/dags/orders", "{not json", "application/json");
  ASSERT_EQ(res->status, 400);
  EXPECT_NE(body(res)["error"].get<std::string>().find("not valid JSON"), std::string::npos);
}

TEST_F(ApiTest, TriggerCreatesAManualRunOfTheLatestCompleteInterval) {
  auto res = post("/api/v1/dags/orders/runs", R"({"conf": {"country": "de"}})");
  ASSERT_EQ(res->status, 201) << res->body;
  json run = body(res);
  EXPECT_EQ(run["run_id"], "manual__2026-02-10T12:00:00Z");
  EXPECT_EQ(run["type"], "manual");
  EXPECT_EQ(run["state"], "queued");
  EXPECT_EQ(run["conf"]["country"], "de");
  EXPECT_EQ(run["data_interval_start"], "2026-02-09T01:00:00Z");
  EXPECT_EQ(run["tasks"].size(), 3u);
  EXPECT_TRUE(store_->get_run("orders", "manual__2026-02-10T12:00:00Z"));
}

TEST_F(ApiTest, ChangesWakeTheInProcessSchedulerAndWorkers) {
  std::atomic<int> changes{0};
  on_change_ = [&] { ++changes; };
  start_server("");
  // Reads and refused writes change nothing
  ASSERT_EQ(get("/api/v1/dags")->status, 200);
  ASSERT_EQ(post("/api/v1/dags/nope/runs", "{}")->status, 404);
  ASSERT_EQ(post("/api/v1/dags/orders/runs", R"({"conf": 5})")->status, 400);
  EXPECT_EQ(changes.load(), 0);
  // A trigger does, and is reported before its response arrives
  trigger("orders");
  EXPECT_EQ(changes.load(), 1);
}

TEST_F(ApiTest, TriggerWithDateAndUnscheduledDag) {
  json run = body(post("/api/v1/dags/orders/runs", R"({"date": "2026-02-03"})"));
  EXPECT_EQ(run["data_interval_start"], "2026-02-03T01:00:00Z");
  json adhoc = body(post("/api/v1/dags/adhoc/runs", ""));
  EXPECT_EQ(adhoc["data_interval_start"], "2026-02-10T12:00:00Z");
  EXPECT_EQ(adhoc["data_interval_end"], "2026-02-10T12:00:00Z");
}

TEST_F(ApiTest, BadTriggerInputIs400NamingTheField) {
  auto res = post("/api/v1/dags/orders/runs", R"({"conf": {"contry": "de"}})");
  ASSERT_EQ(res->status, 400);
  std::string error = body(res)["error"];
  EXPECT_NE(error.find("conf key 'contry'"), std::string::npos) << error;
  EXPECT_EQ(error.find("--conf"), std::string::npos) << error;

  res = post("/api/v1/dags/orders/runs", R"({"conf": [1]})");
  ASSERT_EQ(res->status, 400);
  EXPECT_EQ(body(res)["error"].get<std::string>().rfind("conf must be", 0), 0u);

  res = post("/api/v1/dags/orders/runs", R"({"date": "yesterday"})");
  ASSERT_EQ(res->status, 400);
  EXPECT_EQ(body(res)["error"].get<std::string>().rfind("date 'yesterday'", 0), 0u);

  res = post("/api/v1/dags/orders/runs", R"({"dat": "2026-02-03"})");
  ASSERT_EQ(res->status, 400);
  EXPECT_NE(body(res)["error"].get<std::string>().find("did you mean 'date'"), std::string::npos);
  EXPECT_TRUE(store_->list_runs({}).empty());
}

TEST_F(ApiTest, ListsRunsWithFiltersAndPaging) {
  for (int i = 0; i < 3; ++i) {
    trigger("orders", R"({"date": "2026-02-0)" + std::to_string(i + 1) + R"("})");
  }
  json runs = body(get("/api/v1/dags/orders/runs"));
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[0]["data_interval_start"], "2026-02-03T01:00:00Z");  // newest first
  json page = body(get("/api/v1/dags/orders/runs?limit=1&offset=1"));
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0]["data_interval_start"], "2026-02-02T01:00:00Z");
  EXPECT_EQ(body(get("/api/v1/dags/orders/runs?state=success")).size(), 0u);
  EXPECT_EQ(body(get("/api/v1/dags/orders/runs?state=queued")).size(), 3u);
  EXPECT_EQ(body(get("/api/v1/runs?dag_id=orders")).size(), 3u);

  auto res = get("/api/v1/dags/orders/runs?limit=ten");
  ASSERT_EQ(res->status, 400);
  EXPECT_EQ(body(res)["error"].get<std::string>().rfind("limit must be", 0), 0u);
  res = get("/api/v1/dags/orders/runs?state=done");
  ASSERT_EQ(res->status, 400);
  EXPECT_EQ(body(res)["error"].get<std::string>().rfind("state 'done'", 0), 0u);
}

TEST_F(ApiTest, ShowsARunWithItsTasksAndLatest) {
  trigger("orders", R"({"date": "2026-02-01"})");
  std::string newer = trigger("orders", R"({"date": "2026-02-05"})");
  auto res = get("/api/v1/dags/orders/runs/latest");
  ASSERT_EQ(res->status, 200);
  json run = body(res);
  EXPECT_EQ(run["run_id"], newer);
  EXPECT_EQ(run["timezone"], "Europe/Berlin");
  ASSERT_EQ(run["tasks"].size(), 3u);
  EXPECT_EQ(run["tasks"][0]["state"], "none");
  EXPECT_EQ(body(get("/api/v1/dags/orders/runs/" + newer + "/tasks")).size(), 3u);
  EXPECT_EQ(get("/api/v1/dags/orders/runs/manual__1999-01-01T00:00:00Z")->status, 404);
  EXPECT_EQ(get("/api/v1/dags/adhoc/runs/latest")->status, 404);
  EXPECT_EQ(get("/api/v1/dags/orders/runs/" + newer + "/tasks/nope")->status, 404);
}

TEST_F(ApiTest, GridHasRunsByTasks) {
  for (int i = 1; i <= 3; ++i) trigger("orders", R"({"date": "2026-02-0)" + std::to_string(i) + R"("})");
  json grid = body(get("/api/v1/dags/orders/grid?limit=2"));
  EXPECT_EQ(grid["tasks"], json::array({"extract", "load", "report"}));
  ASSERT_EQ(grid["runs"].size(), 2u);
  EXPECT_TRUE(grid["has_more"].get<bool>());
  EXPECT_EQ(grid["runs"][0]["tasks"]["load"]["state"], "none");
  json older = body(get("/api/v1/dags/orders/grid?limit=2&offset=2"));
  EXPECT_EQ(older["runs"].size(), 1u);
  EXPECT_FALSE(older["has_more"].get<bool>());
}

TEST_F(ApiTest, LogsTailWhileRunningAndCarryRawText) {
  // given a running task that logged a line with markup in it
  std::string run_id = trigger("orders");
  auto claimed = start_and_claim("orders", run_id);
  ASSERT_EQ(claimed.size(), 1u);
  store_->append_log(claimed[0].task.id, 1, 0, "<script>alert(1)</script>\n");
  std::string logs = "/api/v1/dags/orders/runs/" + run_id + "/tasks/extract/logs";

  json first = body(get(logs));
  EXPECT_EQ(first["data"], "<script>alert(1)</script>\n");  // raw: the UI escapes
  EXPECT_EQ(first["complete"], false);
  EXPECT_EQ(first["try_number"], 1);
  int64_t offset = first["next_offset"];
  EXPECT_EQ(offset, 26);

  // when it finishes with more output
  finish(claimed[0], TaskState::kSuccess, "done\n");
  json rest = body(get(logs + "?try=1&offset=" + std::to_string(offset)));
  EXPECT_EQ(rest["data"], "done\n");
  EXPECT_EQ(rest["complete"], true);
  EXPECT_EQ(task_state("orders", run_id, "extract"), "success");

  auto res = get(logs + "?try=2");
  ASSERT_EQ(res->status, 400);
  EXPECT_EQ(body(res)["error"].get<std::string>().rfind("try must be", 0), 0u);
  EXPECT_EQ(get(logs + "?offset=-1")->status, 400);
}

TEST_F(ApiTest, LogsAndErrorsAreMasked) {
  std::string logs =
      stored_log("postgresql://u:hunter2secret@db/x", "connecting with hunter2secret\n");
  EXPECT_EQ(body(get(logs))["data"], "connecting with ***\n");
}

TEST_F(ApiTest, LogSlicesPutTogetherNeverRebuildASecret) {
  // given a stored log that holds a secret verbatim (written before masking)
  std::string logs =
      stored_log("postgresql://u:Post@Secret42@db/x", "connecting with Post@Secret42 to db\n");
  for (int size : {1, 3, 5, 10, 13}) {
    // when it is read in slices of `size` bytes
    std::string joined;
    int64_t offset = 0;
    while (true) {
      json slice = body(get(logs + "?offset=" + std::to_string(offset) +
                            "&limit=" + std::to_string(size)));
      joined += slice["data"].get<std::string>();
      if (slice["next_offset"] == offset) break;
      offset = slice["next_offset"];
    }
    // then no slice shows a byte of it
    EXPECT_EQ(offset, 36);
    EXPECT_EQ(joined.find("Post"), std::string::npos) << size << ": " << joined;
    EXPECT_EQ(joined.find("Secret42"), std::string::npos) << size << ": " << joined;
    EXPECT_EQ(joined.find("@S"), std::string::npos) << size << ": " << joined;
    EXPECT_EQ(joined.rfind("connecting with ***", 0), 0u) << size << ": " << joined;
    EXPECT_NE(joined.find("*** to db\n"), std::string::npos) << size << ": " << joined;
  }
}

TEST_F(ApiTest, ASecretWrittenInADagFileIsMaskedInItsYamlAndDefinition) {
  // given a DAG whose file holds its alerts key itself
  add_dag("dag: signed\nschedule: null\nstart_date: 2026-01-01\n"
          "alerts: {webhook: \"http://127.0.0.1:9/hook\", secret: DagYamlSecret64}\n"
          "tasks:\n  - {id: a, type: shell, command: \"true\"}\n",
          "signed.yaml");
  auto res = get("/api/v1/dags/signed");
  ASSERT_EQ(res->status, 200) << res->body;
  // then neither the YAML nor the definition shows it
  EXPECT_EQ(res->body.find("DagYamlSecret64"), std::string::npos) << res->body;
  json dag = body(res);
  EXPECT_NE(dag["yaml"].get<std::string>().find("secret: ***}"), std::string::npos) << dag["yaml"];
  EXPECT_EQ(dag["definition"]["alerts"]["secret"], "***");
}

TEST_F(ApiTest, MarksAndClearsTasksWithDownstream) {
  std::string run_id = trigger("orders");
  auto claimed = start_and_claim("orders", run_id);
  finish(claimed[0], TaskState::kFailed, "boom\n");
  EXPECT_EQ(task_state("orders", run_id, "load"), "upstream_failed");
  std::string base = "/api/v1/dags/orders/runs/" + run_id + "/tasks/";

  // when extract is marked success, load becomes ready
  auto res = post(base + "extract/mark", R"({"state": "success"})");
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(body(res)["state"], "success");
  EXPECT_EQ(task_state("orders", run_id, "extract"), "success");

  // when extract is cleared, its downstream is cleared too
  res = post(base + "extract/clear", "");
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(body(res)["task_ids"], json::array({"extract", "load", "report"}));
  EXPECT_EQ(task_state("orders", run_id, "report"), "none");

  res = post(base + "extract/mark", R"({"state": "running"})");
  ASSERT_EQ(res->status, 400);
  EXPECT_EQ(body(res)["error"].get<std::string>().rfind("state 'running'", 0), 0u);
  res = post(base + "extract/mark", R"({})");
  ASSERT_EQ(res->status, 400);
  EXPECT_EQ(body(res)["error"].get<std::string>().rfind("state is required", 0), 0u);
}

TEST_F(ApiTest, ClearsOnlyFailedTasksOfARun) {
  std::string run_id = trigger("orders");
  auto claimed = start_and_claim("orders", run_id);
  finish(claimed[0], TaskState::kFailed, "");
  auto res = post("/api/v1/dags/orders/runs/" + run_id + "/clear", R"({"failed_only": true})");
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(body(res)["task_ids"], json::array({"extract", "load", "report"}));
  // The failed run queues again; the scheduler starts it within max_active_runs.
  EXPECT_EQ(store_->get_run("orders", run_id)->state, RunState::kQueued);
}

TEST_F(ApiTest, CancelsARunOnce) {
  std::string run_id = trigger("orders");
  std::string path = "/api/v1/dags/orders/runs/" + run_id + "/cancel";
  auto res = post(path, "");
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(body(res)["state"], "canceled");
  EXPECT_EQ(store_->get_run("orders", run_id)->state, RunState::kCanceled);
  EXPECT_EQ(post(path, "")->status, 409);
}

TEST_F(ApiTest, ListsWorkersAlertsPoolsAndSlaMisses) {
  WorkerRecord worker;
  worker.id = "host-1:42";
  worker.host = "host-1";
  worker.pid = 42;
  worker.slots = 4;
  worker.started_at = clock_.now();
  worker.last_heartbeat = clock_.now();
  store_->register_worker(worker);
  json workers = body(get("/api/v1/workers"));
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(workers[0]["id"], "host-1:42");
  EXPECT_EQ(workers[0]["alive"], true);
  EXPECT_TRUE(body(get("/api/v1/alerts?undelivered=1")).is_array());
  EXPECT_EQ(get("/api/v1/alerts?undelivered=maybe")->status, 400);
  EXPECT_TRUE(body(get("/api/v1/pools")).is_array());
  EXPECT_EQ(body(get("/api/v1/sla-misses")), json::array());
}

TEST_F(ApiTest, HealthAndMetrics) {
  trigger("orders");
  auto health = get("/healthz");
  ASSERT_EQ(health->status, 200);
  EXPECT_EQ(body(health), json({{"status", "ok"}, {"store", "ok"}}));

  auto metrics = get("/metrics");
  ASSERT_EQ(metrics->status, 200);
  EXPECT_NE(metrics->body.find("sluice_runs{state=\"queued\"} 1\n"), std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("sluice_runs{state=\"success\"} 0\n"), std::string::npos);
  EXPECT_NE(metrics->body.find("sluice_task_instances{state=\"none\"} 3\n"), std::string::npos);
  EXPECT_NE(metrics->body.find("sluice_queue_depth 0\n"), std::string::npos);
  EXPECT_NE(metrics->body.find("sluice_alert_backlog 0\n"), std::string::npos);
}

TEST_F(ApiTest, MetricsHaveATaskDurationHistogramAndSchedulerLoopLag) {
  // given a task that ran for 3.5 s and two schedulers that sent heartbeats
  std::string run_id = trigger("orders");
  auto claimed = start_and_claim("orders", run_id);
  ASSERT_EQ(claimed.size(), 1u);
  clock_.advance(Millis(3500));
  finish(claimed[0], TaskState::kSuccess, "done\n");
  store_->heartbeat_scheduler("sched-a", "host-a", true, Millis(250), clock_.now());
  store_->heartbeat_scheduler("sched-b", "host-b", false, Millis(0), clock_.now() - Millis(2000));

  auto res = get("/metrics");
  ASSERT_EQ(res->status, 200);
  const std::string& text = res->body;
  EXPECT_NE(text.find("# TYPE sluice_task_duration_seconds histogram\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE sluice_scheduler_loop_lag_seconds gauge\n"), std::string::npos);
  std::map<std::string, std::string> m = testing::parse_metrics(text);

  // then the task counts from the 5 s bucket up, and buckets are cumulative
  EXPECT_EQ(m["sluice_task_duration_seconds_bucket{le=\"0.5\"}"], "0") << text;
  EXPECT_EQ(m["sluice_task_duration_seconds_bucket{le=\"1\"}"], "0");
  EXPECT_EQ(m["sluice_task_duration_seconds_bucket{le=\"5\"}"], "1");
  EXPECT_EQ(m["sluice_task_duration_seconds_bucket{le=\"21600\"}"], "1");
  EXPECT_EQ(m["sluice_task_duration_seconds_bucket{le=\"+Inf\"}"], "1");
  EXPECT_EQ(m["sluice_task_duration_seconds_sum"], "3.5");
  EXPECT_EQ(m["sluice_task_duration_seconds_count"], "1");
  auto buckets = testing::histogram_buckets(m, "sluice_task_duration_seconds");
  EXPECT_EQ(buckets.size(), std::size(kMetricBucketsUs) + 1);  // every bound and +Inf
  for (size_t i = 1; i < buckets.size(); ++i) {
    EXPECT_LE(buckets[i - 1].second, buckets[i].second) << "le=" << buckets[i].first;
  }

  // and each scheduler's loop lag carries its id and leadership
  EXPECT_EQ(m["sluice_scheduler_loop_lag_seconds{scheduler=\"sched-a\",leader=\"true\"}"], "0.25");
  EXPECT_EQ(m["sluice_scheduler_loop_lag_seconds{scheduler=\"sched-b\",leader=\"false\"}"], "0");
  EXPECT_EQ(
      m["sluice_scheduler_heartbeat_age_seconds{scheduler=\"sched-b\",leader=\"false\"}"], "2");

  json schedulers = body(get("/api/v1/schedulers"));
  ASSERT_EQ(schedulers.size(), 2u);
  EXPECT_EQ(schedulers[0]["id"], "sched-a");
  EXPECT_EQ(schedulers[0]["leader"], true);
  EXPECT_EQ(schedulers[0]["loop_lag_ms"], 250);
  EXPECT_EQ(schedulers[1]["heartbeat_age_ms"], 2000);
}

TEST_F(ApiTest, MetricsOfAnIdleStoreHaveEmptyHistogramAndNoSchedulers) {
  std::map<std::string, std::string> m = testing::parse_metrics(get("/metrics")->body);
  EXPECT_EQ(m["sluice_task_duration_seconds_bucket{le=\"+Inf\"}"], "0");
  EXPECT_EQ(m["sluice_task_duration_seconds_sum"], "0");
  EXPECT_EQ(m["sluice_task_duration_seconds_count"], "0");
  for (const auto& [series, value] : m) {
    EXPECT_EQ(series.find("sluice_scheduler_loop_lag_seconds"), std::string::npos) << series;
  }
}

TEST_F(ApiTest, SlaMissesCarryTheDagTimeZone) {
  std::string run_id = trigger("orders");
  store_->arm_sla_timer({0, "orders", run_id, "load", "sla", clock_.now()});
  std::vector<SlaTimer> due = store_->due_sla_timers(clock_.now(), 10);
  ASSERT_EQ(due.size(), 1u);
  SlaMissRecord miss{0, "orders", run_id, "load", "sla", due[0].due_at, clock_.now(), false};
  ASSERT_TRUE(store_->fire_sla_timer(due[0].id, miss, std::nullopt, clock_.now()));

  json misses = body(get("/api/v1/sla-misses"));
  ASSERT_EQ(misses.size(), 1u);
  EXPECT_EQ(misses[0]["dag_id"], "orders");
  EXPECT_EQ(misses[0]["task_id"], "load");
  EXPECT_EQ(misses[0]["kind"], "sla");
  EXPECT_EQ(misses[0]["timezone"], "Europe/Berlin");
  EXPECT_EQ(misses[0]["deadline"], "2026-02-10T12:00:00Z");
}

}  // namespace
}  // namespace sluice::api_test
