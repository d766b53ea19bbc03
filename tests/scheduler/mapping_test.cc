// Dynamic task mapping: the loader's `map:`, the items a placeholder expands
// into, the outputs downstream tasks see and the readiness of instances.

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "core/dag.h"
#include "core/dag_loader.h"
#include "core/error.h"
#include "engine/readiness.h"
#include "worker/mapping.h"

namespace sluice {
namespace {

const Timestamp kNow = from_epoch_ms(1'770'000'000'000);

std::string errors_of(const LoadResult& r) {
  std::string out;
  for (const Diagnostic& d : r.errors) out += d.to_string() + "\n";
  return out;
}

Dag load(const std::string& text) {
  LoadResult r = load_dag_text("dags/m.yaml", text);
  EXPECT_TRUE(r.errors.empty()) << errors_of(r);
  if (!r.dag) throw std::runtime_error("not loaded: " + errors_of(r));
  return *r.dag;
}

const std::string kFanOut = R"(dag: m
tasks:
  - id: list_files
    type: shell
    command: echo '::output files=["a.csv", "b.csv"]'
  - id: count
    type: shell
    depends_on: [list_files]
    map: {items: "{{ outputs.list_files.files }}"}
    max_map_concurrency: 2
    command: wc -l < {{ item | shell_quote }} && echo {{ map_index }}
  - id: total
    type: shell
    depends_on: [count]
    command: echo '{{ outputs.count }}'
)";

TEST(MappingLoader, ParsesTheThreeKindsOfMapAndRoundTripsThroughJson) {
  Dag dag = load(kFanOut);
  const Task* count = dag.find_task("count");
  ASSERT_TRUE(count && count->map);
  EXPECT_EQ(count->map->kind, MapSpec::Kind::kItemsTemplate);
  EXPECT_EQ(count->map->items_template, "{{ outputs.list_files.files }}");
  EXPECT_EQ(count->max_map_concurrency, 2);
  EXPECT_FALSE(dag.find_task("total")->map);

  Dag literal = load(R"(dag: l
tasks:
  - id: each
    type: shell
    map: {items: [a, 2, "{{ ds }}"]}
    command: echo {{ item }}
  - id: days
    type: shell
    map: {dates: {from: "{{ ds | ds_add(-6) }}", to: "{{ ds }}"}}
    command: echo {{ item }}
)");
  EXPECT_EQ(literal.tasks[0].map->kind, MapSpec::Kind::kItems);
  EXPECT_EQ(literal.tasks[0].map->items, (nlohmann::json{"a", 2, "{{ ds }}"}));
  EXPECT_EQ(literal.tasks[1].map->kind, MapSpec::Kind::kDates);
  EXPECT_EQ(literal.tasks[1].map->dates_from, "{{ ds | ds_add(-6) }}");

  for (const Dag& d : {dag, literal}) {
    Dag back = dag_from_json(dag_to_json(d));
    EXPECT_EQ(dag_to_json(back), dag_to_json(d));
    for (size_t i = 0; i < d.tasks.size(); ++i) {
      EXPECT_EQ(back.tasks[i].map, d.tasks[i].map);
      EXPECT_EQ(back.tasks[i].max_map_concurrency, d.tasks[i].max_map_concurrency);
    }
  }
}

TEST(MappingLoader, ItemAndMapIndexOnlyInMappedTasksAndBadMapsAreExplained) {
  LoadResult r = load_dag_text("dags/m.yaml", R"(dag: m
tasks:
  - id: plain
    type: shell
    command: echo {{ map_index }}
)");
  EXPECT_NE(errors_of(r).find("'map_index' is only available in mapped tasks"), std::string::npos)
      << errors_of(r);

  r = load_dag_text("dags/m.yaml", R"(dag: m
tasks:
  - id: both
    type: shell
    map: {items: [a], dates: {from: "2026-01-01", to: "2026-01-02"}}
    command: echo {{ item }}
  - id: none
    type: shell
    map: {}
    command: echo {{ item }}
  - id: capped
    type: shell
    max_map_concurrency: 2
    command: echo hi
)");
  std::string all = errors_of(r);
  EXPECT_NE(all.find("map takes either `items:` or `dates:`, not both"), std::string::npos) << all;
  EXPECT_NE(all.find("map needs `items:`"), std::string::npos) << all;
  EXPECT_NE(all.find("max_map_concurrency applies to mapped tasks only"), std::string::npos)
      << all;
}

TEST(MappingItems, RendersLiteralTemplateAndDateItems) {
  Dag dag = load(R"(dag: l
tasks:
  - id: each
    type: shell
    map: {items: [a, 2, "day {{ ds }}"]}
    command: echo {{ item }}
  - id: days
    type: shell
    map: {dates: {from: "{{ ds | ds_add(-2) }}", to: "{{ ds }}"}}
    command: echo {{ item }}
)");
  nlohmann::json ctx = {{"ds", "2026-03-01"}, {"outputs", nlohmann::json::object()}};
  EXPECT_EQ(render_map_items(dag.tasks[0], ctx, 1024),
            (std::vector<nlohmann::json>{"a", 2, "day 2026-03-01"}));
  EXPECT_EQ(render_map_items(dag.tasks[1], ctx, 1024),
            (std::vector<nlohmann::json>{"2026-02-27", "2026-02-28", "2026-03-01"}));

  Dag fan = load(kFanOut);
  nlohmann::json up = {{"outputs", {{"list_files", {{"files", "[\"x\", \"y\", \"z\"]"}}}}}};
  EXPECT_EQ(render_map_items(fan.tasks[1], up, 1024),
            (std::vector<nlohmann::json>{"x", "y", "z"}));
  // Over the limit: limit + 1 items are rendered, no more.
  EXPECT_EQ(render_map_items(fan.tasks[1], up, 1).size(), 2u);
  // An empty list is empty (the worker marks the task skipped).
  up["outputs"]["list_files"]["files"] = "[]";
  EXPECT_TRUE(render_map_items(fan.tasks[1], up, 1024).empty());
  // Not a JSON array: a clear error naming the task.
  up["outputs"]["list_files"]["files"] = "a.csv b.csv";
  try {
    render_map_items(fan.tasks[1], up, 1024);
    FAIL() << "expected a UserError";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("task 'count': map.items rendered to 'a.csv b.csv', "
                                         "which is not a JSON array"),
              std::string::npos)
        << e.what();
  }
}

TEST(MappingOutputs, AMappedTasksOutputsAreAListInMapOrder) {
  auto ti = [](std::string task, int index, TaskState state, nlohmann::json outputs) {
    TaskInstanceRecord r;
    r.task_id = std::move(task);
    r.map_index = index;
    r.state = state;
    r.outputs = std::move(outputs);
    return r;
  };
  std::vector<TaskInstanceRecord> all = {
      ti("count", 2, TaskState::kSuccess, {{"lines", "5"}}),
      ti("list", -1, TaskState::kSuccess, {{"files", "[]"}}),
      ti("count", 0, TaskState::kSuccess, {{"lines", "3"}}),
      ti("count", 1, TaskState::kFailed, {{"lines", "9"}}),
      ti("other", -1, TaskState::kFailed, {{"x", "1"}}),
  };
  nlohmann::json out = collect_outputs(all);
  EXPECT_EQ(out["count"], (nlohmann::json{{{"lines", "3"}}, nullptr, {{"lines", "5"}}}));
  EXPECT_EQ(out["list"], (nlohmann::json{{"files", "[]"}}));
  EXPECT_FALSE(out.contains("other"));
}

/// A snapshot of the fan-out DAG: list_files done, `count` expanded into
/// `states.size()` instances, `total` waiting.
RunSnapshot expanded(const std::vector<TaskState>& states, TaskState total = TaskState::kNone) {
  RunSnapshot snap;
  snap.run.id = 1;
  snap.run.state = RunState::kRunning;
  int64_t id = 10;
  snap.tasks.push_back(TaskStateView{id++, "list_files", -1, TaskState::kSuccess, 1, 1, {}});
  for (size_t i = 0; i < states.size(); ++i) {
    snap.tasks.push_back(TaskStateView{id++, "count", static_cast<int>(i), states[i], 0, 1, {}});
  }
  snap.tasks.push_back(TaskStateView{id++, "total", -1, total, 0, 1, {}});
  return snap;
}

std::map<int64_t, TaskState> transitions(const RunDecisions& d) {
  std::map<int64_t, TaskState> out;
  for (const TaskTransition& t : d.tasks) out[t.ti_id] = t.to;
  return out;
}

TEST(MappingReadiness, ConcurrencyCapQueuesAtMostKInstancesInMapOrder) {
  Dag dag = load(kFanOut);  // count: max_map_concurrency 2
  using S = TaskState;
  // Given five fresh instances: only the first two are queued
  auto d = transitions(decide_run(dag, expanded({S::kNone, S::kNone, S::kNone, S::kNone,
                                                 S::kNone}), kNow));
  EXPECT_EQ(d, (std::map<int64_t, TaskState>{{11, S::kQueued}, {12, S::kQueued}}));

  // Given one running and one waiting to retry: nothing more is queued
  d = transitions(decide_run(dag, expanded({S::kRunning, S::kUpForRetry, S::kNone, S::kNone}),
                             kNow + std::chrono::hours(1)));
  EXPECT_EQ(d, (std::map<int64_t, TaskState>{{12, S::kQueued}}));  // the due retry only

  // Given one finished and one running: one more is queued, the next in order
  d = transitions(decide_run(dag, expanded({S::kSuccess, S::kRunning, S::kNone, S::kNone}), kNow));
  EXPECT_EQ(d, (std::map<int64_t, TaskState>{{13, S::kQueued}}));
}

TEST(MappingReadiness, DownstreamWaitsForEveryInstanceAndTriggerRulesCountThem) {
  Dag dag = load(kFanOut);
  using S = TaskState;
  // One instance still running: total waits
  RunDecisions d = decide_run(dag, expanded({S::kSuccess, S::kRunning, S::kSuccess}), kNow);
  EXPECT_TRUE(d.tasks.empty());
  EXPECT_FALSE(d.run_state);
  // All succeeded: total is queued
  d = decide_run(dag, expanded({S::kSuccess, S::kSuccess, S::kSuccess}), kNow);
  EXPECT_EQ(transitions(d), (std::map<int64_t, TaskState>{{14, S::kQueued}}));
  // One failed (retries exhausted): total (all_success) is upstream_failed, the run fails
  d = decide_run(dag, expanded({S::kSuccess, S::kFailed, S::kSuccess}), kNow);
  EXPECT_EQ(transitions(d), (std::map<int64_t, TaskState>{{14, S::kUpstreamFailed}}));
  EXPECT_EQ(d.run_state, RunState::kFailed);
}

TEST(MappingReadiness, AnEmptyExpansionIsASkippedPlaceholderAndSkipsAllSuccessDownstream) {
  Dag dag = load(kFanOut);
  // The placeholder (map_index -1) was skipped by the worker: no items.
  RunSnapshot snap;
  snap.run.id = 1;
  snap.run.state = RunState::kRunning;
  snap.tasks.push_back(TaskStateView{10, "list_files", -1, TaskState::kSuccess, 1, 1, {}});
  snap.tasks.push_back(TaskStateView{11, "count", -1, TaskState::kSkipped, 1, 1, {}});
  snap.tasks.push_back(TaskStateView{12, "total", -1, TaskState::kNone, 0, 1, {}});
  RunDecisions d = decide_run(dag, snap, kNow);
  EXPECT_EQ(transitions(d), (std::map<int64_t, TaskState>{{12, TaskState::kSkipped}}));
  EXPECT_EQ(d.run_state, RunState::kSuccess);  // skipped is not failed
}

}  // namespace
}  // namespace sluice
