// The DAG page's endpoints (web/api_grid.cc): a mapped task's grid cell,
// grid answers that send only what changed, the calendar, the last runs.

#include "web/api_grid.h"

#include <sstream>

#include "tests/web/api_test_fixture.h"

namespace sluice::api_test {
namespace {

const char* kFanYaml = R"(dag: fan
schedule: null
start_date: 2026-01-01
tasks:
  - id: each
    type: shell
    map: {items: [a, b, c, d]}
    command: echo {{ item }}
)";

class ApiGridTest : public ApiTest {
 protected:
  /// Claims up to `max` ready task instances for worker "w1".
  std::vector<ClaimedTask> claim(int max) {
    ClaimRequest request;
    request.worker_id = "w1";
    request.now = clock_.now();
    request.max_tasks = max;
    return store_->claim_tasks(request);
  }

  /// A run of `fan` whose four instances ended with `states` (in map order).
  std::string fan_run(const std::vector<TaskState>& states) {
    add_dag(kFanYaml, "fan.yaml");
    std::string run_id = trigger("fan");
    std::vector<ClaimedTask> placeholder = start_and_claim("fan", run_id);
    EXPECT_EQ(placeholder.size(), 1u);
    auto dag = cache_->get(placeholder[0].run.version_id);
    store_->expand_mapped_task(placeholder[0].task.id, 1, "w1", {"a", "b", "c", "d"},
                               make_decider(dag, clock_.now()), clock_.now());
    std::vector<ClaimedTask> instances = claim(10);
    EXPECT_EQ(instances.size(), states.size());
    std::sort(instances.begin(), instances.end(),
              [](const auto& a, const auto& b) { return a.task.map_index < b.task.map_index; });
    for (size_t i = 0; i < instances.size() && i < states.size(); ++i) {
      finish(instances[i], states[i], "");
    }
    return run_id;
  }
};

TEST_F(ApiGridTest, AMappedCellShowsItsWorstInstanceAndACountPerState) {
  // given a mapped task whose instance 0 failed and three succeeded
  std::string run_id =
      fan_run({TaskState::kFailed, TaskState::kSuccess, TaskState::kSuccess, TaskState::kSuccess});

  // then its grid cell is failed, with the counts
  json grid = body(get("/api/v1/dags/fan/grid"));
  ASSERT_EQ(grid["runs"].size(), 1u);
  json cell = grid["runs"][0]["tasks"]["each"];
  EXPECT_EQ(cell["state"], "failed");
  EXPECT_EQ(cell["mapped"], 4);
  EXPECT_EQ(cell["counts"], (json{{"failed", 1}, {"success", 3}}));
  EXPECT_EQ(cell["try_number"], 1);
  EXPECT_FALSE(cell["ended_at"].is_null());
}

TEST_F(ApiGridTest, AMappedCellStillRunningIsNotShownEnded) {
  add_dag(kFanYaml, "fan.yaml");
  std::string run_id = trigger("fan");
  std::vector<ClaimedTask> placeholder = start_and_claim("fan", run_id);
  auto dag = cache_->get(placeholder[0].run.version_id);
  store_->expand_mapped_task(placeholder[0].task.id, 1, "w1", {"a", "b"},
                             make_decider(dag, clock_.now()), clock_.now());
  std::vector<ClaimedTask> one = claim(1);
  ASSERT_EQ(one.size(), 1u);
  finish(one[0], TaskState::kSuccess, "");

  json cell = body(get("/api/v1/dags/fan/grid"))["runs"][0]["tasks"]["each"];
  EXPECT_EQ(cell["state"], "queued");  // one queued outweighs one success
  EXPECT_EQ(cell["counts"], (json{{"queued", 1}, {"success", 1}}));
  EXPECT_TRUE(cell["ended_at"].is_null());
}

TEST(TaskStateSeverity, FailuresOutweighWorkInProgressWhichOutweighsSuccess) {
  EXPECT_GT(task_state_severity("failed"), task_state_severity("upstream_failed"));
  EXPECT_GT(task_state_severity("upstream_failed"), task_state_severity("running"));
  EXPECT_GT(task_state_severity("running"), task_state_severity("queued"));
  EXPECT_GT(task_state_severity("queued"), task_state_severity("skipped"));
  EXPECT_GT(task_state_severity("skipped"), task_state_severity("success"));
}

TEST_F(ApiGridTest, SinceAnEarlierAnswerOnlyWhatChangedIsSent) {
  // given two runs and a first, full answer
  std::string older = trigger("orders", R"({"date": "2026-02-01"})");
  std::string newer = trigger("orders", R"({"date": "2026-02-02"})");
  json full = body(get("/api/v1/dags/orders/grid"));
  ASSERT_EQ(full["runs"].size(), 2u);
  std::string marker = full["marker"];
  EXPECT_EQ(full["dag"]["dag_id"], "orders");
  ASSERT_EQ(full["graph"].size(), 3u);  // what the page draws its graph from
  EXPECT_EQ(full["graph"][1],
            (json{{"id", "load"}, {"type", "shell"}, {"depends_on", {"extract"}}}));

  // when nothing changed, the answer says so in a few bytes
  auto same = get("/api/v1/dags/orders/grid?since=" + marker);
  EXPECT_LT(same->body.size(), 200u) << same->body;
  EXPECT_TRUE(body(same)["unchanged"].get<bool>());

  // when one run's task changed, only that run comes in full, the other as
  // a stub; the header (DAG summary, task rows) is left out
  std::vector<ClaimedTask> claimed = start_and_claim("orders", older);
  ASSERT_EQ(claimed.size(), 1u);
  std::string started = body(get("/api/v1/dags/orders/grid"))["marker"];
  finish(claimed[0], TaskState::kSuccess, "");
  json delta = body(get("/api/v1/dags/orders/grid?since=" + started));
  ASSERT_EQ(delta["runs"].size(), 2u);
  EXPECT_EQ(delta["runs"][0]["run_id"], newer);
  EXPECT_TRUE(delta["runs"][0]["unchanged"].get<bool>());
  EXPECT_FALSE(delta["runs"][0].contains("tasks"));
  EXPECT_EQ(delta["runs"][1]["run_id"], older);
  EXPECT_EQ(delta["runs"][1]["tasks"]["extract"]["state"], "success");
  EXPECT_FALSE(delta.contains("tasks"));
  EXPECT_FALSE(delta.contains("graph"));
  EXPECT_FALSE(delta.contains("dag"));
  EXPECT_NE(delta["marker"], started);

  // and a pause changes the header, sent again
  ASSERT_EQ(post("/api/v1/dags/orders/pause", "")->status, 200);
  json paused = body(get("/api/v1/dags/orders/grid?since=" + delta["marker"].get<std::string>()));
  EXPECT_TRUE(paused["dag"]["paused"].get<bool>());
  EXPECT_TRUE(paused["runs"][0]["unchanged"].get<bool>());

  // and a marker of garbage is a full answer
  json garbage = body(get("/api/v1/dags/orders/grid?since=zz.yy"));
  EXPECT_TRUE(garbage["runs"][0].contains("tasks"));
  EXPECT_TRUE(garbage.contains("tasks"));
}

TEST_F(ApiGridTest, CalendarCountsRunsPerDayOfTheIntervalInTheDagsZone) {
  // given runs of orders (Europe/Berlin) on two days, one of them twice
  for (const char* date : {"2026-02-01", "2026-02-03"}) {
    trigger("orders", std::string(R"({"date": ")") + date + R"("})");
  }
  json runs = body(get("/api/v1/dags/orders/runs"));
  ASSERT_EQ(runs.size(), 2u);
  std::string run_id = runs[0]["run_id"];
  start_and_claim("orders", run_id);
  store_->cancel_run(store_->get_run("orders", run_id)->id, clock_.now());

  json cal = body(get("/api/v1/dags/orders/calendar?year=2026"));
  EXPECT_EQ(cal["timezone"], "Europe/Berlin");
  EXPECT_EQ(cal["year"], 2026);
  ASSERT_EQ(cal["days"].size(), 2u);
  const date::time_zone* berlin = find_zone("Europe/Berlin");
  for (const json& run : runs) {
    std::string day = format_local(at(run["data_interval_start"]), berlin, "%Y-%m-%d");
    bool found = false;
    for (const json& d : cal["days"]) {
      if (d["date"] != day) continue;
      found = true;
      EXPECT_EQ(d["total"], 1);
      EXPECT_EQ(d["state"], run["run_id"] == run_id ? "canceled" : "queued");
    }
    EXPECT_TRUE(found) << day << " missing from " << cal.dump();
  }
  EXPECT_TRUE(body(get("/api/v1/dags/orders/calendar?year=2025"))["days"].empty());
  EXPECT_EQ(get("/api/v1/dags/nope/calendar")->status, 404);
  EXPECT_EQ(get("/api/v1/dags/orders/calendar?year=abc")->status, 400);
}

TEST_F(ApiGridTest, LastRunsHaveTheNewestRunOfEachDagWithItsTimes) {
  trigger("orders", R"({"date": "2026-02-01"})");
  std::string newest = trigger("orders", R"({"date": "2026-02-05"})");
  json last = body(get("/api/v1/last-runs"));
  ASSERT_EQ(last.size(), 1u);  // adhoc has no run
  EXPECT_EQ(last[0]["dag_id"], "orders");
  EXPECT_EQ(last[0]["run_id"], newest);
  EXPECT_TRUE(last[0].contains("duration_ms"));
  EXPECT_FALSE(last[0].contains("conf"));
}

TEST_F(ApiGridTest, TheUiBundleHoldsEveryModuleOnceInItsOrder) {
  std::map<std::string, std::string> files;
  for (const WebAsset& asset : web_assets()) files[asset.name] = std::string(asset.content);
  ASSERT_TRUE(files.count("ui.js") && files.count("ui.order"));
  auto res = get("/ui.js");
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(res->body, files["ui.js"]);
  size_t at = 0;
  int modules = 0;
  std::istringstream order(files["ui.order"]);
  for (std::string name; std::getline(order, name);) {
    if (name.empty() || name[0] == '#') continue;
    ASSERT_TRUE(files.count(name)) << name;
    size_t found = files["ui.js"].find(files[name], at);
    ASSERT_NE(found, std::string::npos) << name << " is not in ui.js after the modules before it";
    at = found + files[name].size();
    ++modules;
  }
  EXPECT_GE(modules, 8);
  EXPECT_NE(files["index.html"].find("<script src=\"ui.js\" defer>"), std::string::npos);
}

}  // namespace
}  // namespace sluice::api_test
