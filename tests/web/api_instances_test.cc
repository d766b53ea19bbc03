// Task instances through the API: every route addresses (task, map_index);
// marks keep a try's real times; logs say their size and whether the worker
// cut them; the next run and the scheduler roles are shown as they are.

#include "tests/web/api_test_fixture.h"

#include <set>
#include <utility>

#include "core/record_json.h"
#include "engine/next_run.h"

namespace sluice::api_test {
namespace {

const char* kFanYaml = R"(dag: fan
schedule: null
start_date: 2026-01-01
tasks:
  - id: each
    type: shell
    map: {items: [a, b, c]}
    command: echo {{ item }}
  - id: after
    type: shell
    command: echo after
    depends_on: [each]
)";

class ApiInstancesTest : public ApiTest {
 protected:
  /// A run of `fan` whose mapped task expanded into instances 0..2, each
  /// claimed, finished with `states[i]` and the log "instance i".
  std::string fan_run(const std::vector<TaskState>& states) {
    add_dag(kFanYaml, "fan.yaml");
    std::string run_id = trigger("fan");
    std::vector<ClaimedTask> placeholder = start_and_claim("fan", run_id);
    EXPECT_EQ(placeholder.size(), 1u);
    auto dag = cache_->get(placeholder[0].run.version_id);
    store_->expand_mapped_task(placeholder[0].task.id, placeholder[0].task.try_number, "w1",
                               {"a", "b", "c"}, make_decider(dag, clock_.now()), clock_.now());
    std::vector<ClaimedTask> instances = start_and_claim("fan", run_id);
    EXPECT_EQ(instances.size(), 3u);
    for (const ClaimedTask& c : instances) {
      int i = c.task.map_index;
      finish(c, states.at(static_cast<size_t>(i)), "instance " + std::to_string(i) + "\n");
    }
    return "/api/v1/dags/fan/runs/" + run_id + "/tasks/";
  }
};

TEST_F(ApiInstancesTest, EveryTaskRouteAddressesTheMappedInstanceItNames) {
  std::string tasks = fan_run({TaskState::kSuccess, TaskState::kFailed, TaskState::kSuccess});

  // Without an index a mapped task is ambiguous: the error gives the range.
  auto res = get(tasks + "each");
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(body(res)["error"].get<std::string>().find("0..2"), std::string::npos) << res->body;

  json one = body(get(tasks + "each?map_index=1"));
  EXPECT_EQ(one["map_index"], 1);
  EXPECT_EQ(one["state"], "failed");
  EXPECT_EQ(body(get(tasks + "each/logs?map_index=2"))["data"], "instance 2\n");
  EXPECT_EQ(body(get(tasks + "each/logs?map_index=0"))["data"], "instance 0\n");

  res = get(tasks + "each?map_index=7");
  EXPECT_EQ(res->status, 404);
  EXPECT_NE(body(res)["error"].get<std::string>().find("0..2"), std::string::npos) << res->body;

  // Marking instance 1 changes instance 1, not instance 0.
  res = post(tasks + "each/mark?map_index=1", R"({"state": "success"})");
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(body(res)["map_index"], 1);
  EXPECT_EQ(body(get(tasks + "each?map_index=1"))["state"], "success");
  res = post(tasks + "each/mark?map_index=0", R"({"state": "failed"})");
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(body(get(tasks + "each?map_index=0"))["state"], "failed");
  EXPECT_EQ(body(get(tasks + "each?map_index=2"))["state"], "success");

  // Clearing instance 2 clears it and the downstream task, not its siblings.
  res = post(tasks + "each/clear?map_index=2", "{}");
  ASSERT_EQ(res->status, 200) << res->body;
  std::set<std::pair<std::string, int>> cleared;
  const json answer = body(res);
  for (const json& i : answer["instances"]) cleared.insert({i["task_id"].get<std::string>(), i["map_index"].get<int>()});
  EXPECT_EQ(cleared, (std::set<std::pair<std::string, int>>{{"each", 2}, {"after", -1}}));
  EXPECT_EQ(body(get(tasks + "each?map_index=0"))["state"], "failed");
  EXPECT_EQ(body(get(tasks + "each?map_index=1"))["state"], "success");

  // An unmapped task needs no index, and a wrong task id gets a suggestion.
  EXPECT_EQ(get(tasks + "after")->status, 200);
  res = get(tasks + "aftr");
  EXPECT_EQ(res->status, 404);
  EXPECT_NE(res->body.find("after"), std::string::npos);
}

TEST_F(ApiInstancesTest, AMarkKeepsTheTrysTimesAndExitCodeAndSaysWhoAndWhen) {
  std::string run_id = trigger("orders");
  std::vector<ClaimedTask> claimed = start_and_claim("orders", run_id);
  ASSERT_EQ(claimed.size(), 1u);
  clock_.advance(Millis(9));
  finish(claimed[0], TaskState::kFailed, "boom\n");
  std::string path = "/api/v1/dags/orders/runs/" + run_id + "/tasks/extract";
  json before = body(get(path));

  clock_.advance(std::chrono::minutes(100));
  auto res = post(path + "/mark", R"({"state": "success"})");
  ASSERT_EQ(res->status, 200) << res->body;
  json after = body(get(path));
  EXPECT_EQ(after["state"], "success");
  EXPECT_EQ(after["started_at"], before["started_at"]);
  EXPECT_EQ(after["ended_at"], before["ended_at"]);
  EXPECT_EQ(after["duration_ms"], 9);
  EXPECT_EQ(after["exit_code"], before["exit_code"]);
  EXPECT_EQ(after["marked_at"], format_iso(clock_.now()));
  EXPECT_EQ(after["marked_by"], "api: 127.0.0.1");
}

TEST_F(ApiInstancesTest, AMarksDryRunSaysWhatStaysAsItIsAndChangesNothing) {
  // extract failed, so load and report are upstream_failed and the run failed.
  std::string run_id = trigger("orders");
  std::vector<ClaimedTask> claimed = start_and_claim("orders", run_id);
  ASSERT_EQ(claimed.size(), 1u);
  finish(claimed[0], TaskState::kFailed, "boom\n");
  ASSERT_EQ(store_->get_run("orders", run_id)->state, RunState::kFailed);
  std::string path = "/api/v1/dags/orders/runs/" + run_id + "/tasks/extract";

  auto res = post(path + "/mark", R"({"state": "success", "dry_run": true})");
  ASSERT_EQ(res->status, 200) << res->body;
  json preview = body(res);
  EXPECT_EQ(preview["run_state_before"], "failed");
  EXPECT_EQ(preview["run_state_after"], "failed");  // load and report stay upstream_failed
  EXPECT_EQ(preview["changes"], json::parse(R"([{"task_id": "extract", "map_index": -1,
                                                 "from": "failed", "to": "success"}])"));
  ASSERT_EQ(preview["left_as_they_are"].size(), 2u);
  EXPECT_EQ(preview["left_as_they_are"][0]["task_id"], "load");
  EXPECT_EQ(preview["left_as_they_are"][0]["to"], "upstream_failed");
  EXPECT_EQ(task_state("orders", run_id, "extract"), "failed");  // nothing was changed

  // The clear's dry run lists what would be cleared, and clears nothing.
  res = post(path + "/clear", R"({"dry_run": true})");
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(body(res)["task_ids"], json::array({"extract", "load", "report"}));
  EXPECT_EQ(task_state("orders", run_id, "load"), "upstream_failed");

  // Done for real, the mark does what the preview said.
  ASSERT_EQ(post(path + "/mark", R"({"state": "success"})")->status, 200);
  EXPECT_EQ(store_->get_run("orders", run_id)->state, RunState::kFailed);
  EXPECT_EQ(task_state("orders", run_id, "load"), "upstream_failed");
}

TEST_F(ApiInstancesTest, LogsGiveTheirSizeAndSayWhenTheWorkerCutThem) {
  std::string whole = std::string(3000, 'x') + "\n" + std::string(kLogTruncatedNote) +
                      "this try wrote more than 3001 bytes; later output was dropped\n";
  std::string path = stored_log("sqlite://" + dir_.file("wh.db"), whole);

  json first = body(get(path + "?limit=1000"));
  EXPECT_EQ(first["size"], whole.size());
  EXPECT_EQ(first["next_offset"], 1000);
  EXPECT_EQ(first["truncated"], false);  // the try is still running: nothing is final yet

  // The try ends: the same log now reads as cut, and paging reaches its end.
  RunRecord run = store_->list_runs({})[0];
  for (const auto& ti : store_->list_task_instances(run.id)) {
    if (ti.task_id != "extract") continue;
    TaskResult result;
    result.ti_id = ti.id;
    result.try_number = ti.try_number;
    result.worker_id = "w1";
    result.state = TaskState::kSuccess;
    result.ended_at = clock_.now();
    store_->finish_task(result, make_decider(cache_->get(run.version_id), clock_.now()));
  }
  std::string read;
  int64_t offset = 0;
  for (int page = 0; page < 10 && offset < static_cast<int64_t>(whole.size()); ++page) {
    json slice = body(get(path + "?limit=1000&offset=" + std::to_string(offset)));
    EXPECT_EQ(slice["truncated"], true);
    read += slice["data"].get<std::string>();
    offset = slice["next_offset"];
  }
  EXPECT_EQ(read, whole);

  // A log without the worker's note is not called cut.
  std::string clean = stored_log("sqlite://" + dir_.file("wh2.db"), "all of it\n");
  EXPECT_EQ(body(get(clean))["truncated"], false);
}

TEST_F(ApiInstancesTest, APausedDagShowsNoNextRunAndAnActiveOneSaysWhenItRuns) {
  json orders = body(get("/api/v1/dags/orders"));
  ASSERT_TRUE(orders["next_run"].is_object()) << orders.dump();
  EXPECT_EQ(orders["next_run"]["run_after"], orders["next_run"]["data_interval_end"]);

  ASSERT_EQ(post("/api/v1/dags/orders/pause", "{}")->status, 200);
  EXPECT_TRUE(body(get("/api/v1/dags/orders"))["next_run"].is_null());
  json listed = body(get("/api/v1/dags"));
  EXPECT_TRUE(listed[1]["next_run"].is_null()) << listed[1].dump();
}

TEST_F(ApiInstancesTest, ASilentLeaderIsShownGoneAndOnlyTheLatestTermLeads) {
  // scheduler a led in term 1 and was killed a minute ago; b leads in term 2.
  store_->heartbeat_scheduler("a", "host-a", true, Millis(0), clock_.now() - std::chrono::minutes(1));
  store_->heartbeat_scheduler("b", "host-b", true, Millis(0), clock_.now());
  json list = body(get("/api/v1/schedulers"));
  ASSERT_EQ(list.size(), 2u);
  std::map<std::string, json> by_id;
  for (const json& s : list) by_id[s["id"]] = s;
  EXPECT_EQ(by_id["a"]["role"], "gone");
  EXPECT_EQ(by_id["a"]["leader"], false);
  EXPECT_EQ(by_id["b"]["role"], "leader");
  EXPECT_EQ(by_id["b"]["leader"], true);
}

}  // namespace
}  // namespace sluice::api_test
