// Dynamic task mapping end to end: `sluice scheduler` and `sluice worker`
// (SQLite) run a DAG that lists files written by the test, counts each file's
// lines in a mapped shell task and sums the counts in a reduce task.
#include <algorithm>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/store.h"
#include "tests/core/store_test_util.h"
#include "tests/test_util.h"

namespace sluice {
namespace {

using testing::Process;
using testing::TempDir;
using namespace std::chrono_literals;

class MappingIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = testing::make_test_store("sqlite");
    url_ = testing::last_test_store_url("sqlite");
    dir_.write("sluice.yaml",
               "db: \"" + url_ + "\"\n"
               "dags: dags\n"
               "worker:\n  heartbeat_interval: 200ms\n  heartbeat_timeout: 2s\n"
               "scheduler:\n  dag_scan_interval: 200ms\n  map_limit: 5\n");
  }

  std::unique_ptr<Process> start(const std::vector<std::string>& args, const std::string& log) {
    return std::make_unique<Process>(testing::sluice_argv(args), dir_.path(), dir_.file(log),
                                     std::map<std::string, std::string>{{"TMPDIR", dir_.path()}});
  }

  std::string trigger(const std::string& dag) {
    auto result = testing::run_sluice({"trigger", dag, "--json"}, dir_.path());
    EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
    auto json = nlohmann::json::parse(result.out, nullptr, false);
    return json.is_discarded() ? "" : json.value("run_id", "");
  }

  std::optional<RunRecord> wait_for_run_end(const std::string& dag, const std::string& run_id) {
    std::optional<RunRecord> run;
    testing::wait_until(
        [&] {
          run = store_->get_run(dag, run_id);
          return run && is_finished(run->state);
        },
        60s);
    return run;
  }

  /// The run's instances of `task_id`, in map order.
  std::vector<TaskInstanceRecord> instances(const RunRecord& run, const std::string& task_id) {
    std::vector<TaskInstanceRecord> out;
    for (const auto& ti : store_->list_task_instances(run.id)) {
      if (ti.task_id == task_id) out.push_back(ti);
    }
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.map_index < b.map_index; });
    return out;
  }

  std::string logs() {
    return testing::read_file(dir_.file("scheduler.log")) +
           testing::read_file(dir_.file("worker.log"));
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
  std::string url_;
};

// The list task prints the file names under dags/DIR as a JSON array.
const char* kListFiles =
    R"(echo "::output files=[$(ls DIR | sed 's/.*/"&"/' | paste -sd, -)]")";

std::string fan_out_dag(const std::string& dag, const std::string& folder) {
  std::string list = kListFiles;
  list.replace(list.find("DIR"), 3, folder);
  std::string quoted;  // a single-quoted YAML scalar
  for (char c : list) quoted += c == '\'' ? std::string("''") : std::string(1, c);
  return "dag: " + dag + R"Y(
schedule: null
tasks:
  - id: list_files
    type: shell
    command: ')Y" + quoted + R"Y('
  - id: count
    type: shell
    depends_on: [list_files]
    map: {items: "{{ outputs.list_files.files }}"}
    retries: 2
    retry_delay: 200ms
    command: |
      f=)Y" + folder + R"Y(/{{ item }}
      if grep -q fail-once "$f" && [ ! -f "$f.tried" ]; then touch "$f.tried"; echo "failing {{ map_index }}"; exit 1; fi
      echo "::output lines=$(wc -l < "$f" | tr -d ' ')"
  - id: total
    type: shell
    depends_on: [count]
    command: |
      echo '{{ outputs.count }}' | grep -o '"lines":"[0-9]*"' | grep -o '[0-9][0-9]*' | awk '{s += $1} END {print "::output total=" s}'
)Y";
}

TEST_F(MappingIntegrationTest, ListsFilesMapsACountPerFileRetriesOneAndSumsTheCounts) {
  // Given three files (the second fails its first count) and an empty folder
  dir_.write("dags/in/a.txt", "1\n2\n3\n");
  dir_.write("dags/in/b.txt", "fail-once\n2\n3\n4\n5\n");
  dir_.write("dags/in/c.txt", "x\n");
  std::filesystem::create_directories(dir_.file("dags/empty"));
  dir_.write("dags/fan.yaml", fan_out_dag("fan", "in"));
  dir_.write("dags/nothing.yaml", fan_out_dag("nothing", "empty"));
  auto scheduler = start({"scheduler"}, "scheduler.log");
  auto worker = start({"worker", "--slots", "3"}, "worker.log");
  // (the scheduler loads the DAGs before the first trigger can name them)
  testing::wait_until([&] { return store_->get_dag("fan") && store_->get_dag("nothing"); }, 30s);

  // When both DAGs run
  std::string fan_run = trigger("fan");
  std::string empty_run = trigger("nothing");
  auto run = wait_for_run_end("fan", fan_run);
  ASSERT_TRUE(run) << logs();

  // Then one instance ran per file, in listing order, with its own tries and outputs
  EXPECT_EQ(run->state, RunState::kSuccess) << logs();
  std::vector<TaskInstanceRecord> counts = instances(*run, "count");
  ASSERT_EQ(counts.size(), 3u) << logs();
  const std::vector<std::string> lines = {"3", "5", "1"};
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(counts[i].map_index, i);
    EXPECT_EQ(counts[i].state, TaskState::kSuccess);
    EXPECT_EQ(counts[i].outputs.value("lines", ""), lines[i]);
    EXPECT_EQ(store_->get_map_item(counts[i].id), std::string(1, 'a' + i) + ".txt");
  }
  EXPECT_EQ(counts[0].try_number, 1);
  EXPECT_EQ(counts[1].try_number, 2);  // failed once, retried alone
  EXPECT_EQ(counts[2].try_number, 1);
  EXPECT_NE(store_->read_log(counts[1].id, 1, 0).data.find("failing 1"), std::string::npos);
  // And the reduce step saw the list of outputs in map order
  std::vector<TaskInstanceRecord> total = instances(*run, "total");
  ASSERT_EQ(total.size(), 1u);
  EXPECT_EQ(total[0].outputs.value("total", ""), "9") << logs();

  // And `runs show` and `tasks logs --map-index` (or its alias --index)
  // address the instances; without an index a mapped task is ambiguous
  auto show = testing::run_sluice({"runs", "show", "fan", fan_run}, dir_.path());
  EXPECT_NE(show.out.find("count[1]"), std::string::npos) << show.out << show.err;
  auto log = testing::run_sluice({"tasks", "logs", "fan", fan_run, "count", "--map-index", "1",
                                  "--try", "1"},
                                 dir_.path());
  EXPECT_NE(log.out.find("failing 1"), std::string::npos) << log.out << log.err;
  auto alias = testing::run_sluice({"tasks", "logs", "fan", fan_run, "count", "--index", "0"},
                                   dir_.path());
  EXPECT_EQ(alias.exit_code, 0) << alias.err;
  EXPECT_EQ(alias.out.find("failing 1"), std::string::npos) << alias.out;
  auto ambiguous = testing::run_sluice({"tasks", "logs", "fan", fan_run, "count"}, dir_.path());
  EXPECT_NE(ambiguous.exit_code, 0);
  EXPECT_NE(ambiguous.err.find("0..2"), std::string::npos) << ambiguous.err;

  // And `tasks mark --map-index` marks that instance only, keeping its times
  TaskInstanceRecord second = instances(*run, "count").at(1);
  auto marked = testing::run_sluice(
      {"tasks", "mark", "fan", fan_run, "count", "failed", "--map-index", "1"}, dir_.path());
  EXPECT_EQ(marked.exit_code, 0) << marked.out << marked.err;
  EXPECT_NE(marked.out.find("marked count[1]"), std::string::npos) << marked.out;
  std::vector<TaskInstanceRecord> after_mark = instances(*run, "count");
  EXPECT_EQ(after_mark[1].state, TaskState::kFailed);
  EXPECT_EQ(after_mark[1].ended_at, second.ended_at);
  EXPECT_EQ(after_mark[1].marked_by.rfind("cli: ", 0), 0u) << after_mark[1].marked_by;
  EXPECT_EQ(after_mark[0].state, TaskState::kSuccess);
  EXPECT_FALSE(after_mark[0].marked_at);
  auto unmarked = testing::run_sluice(
      {"tasks", "mark", "fan", fan_run, "count", "success", "--map-index", "1"}, dir_.path());
  EXPECT_EQ(unmarked.exit_code, 0) << unmarked.err;

  // And an empty listing skips the mapped task and its downstream: no failure
  auto empty = wait_for_run_end("nothing", empty_run);
  ASSERT_TRUE(empty) << logs();
  EXPECT_EQ(empty->state, RunState::kSuccess) << logs();
  std::vector<TaskInstanceRecord> none = instances(*empty, "count");
  ASSERT_EQ(none.size(), 1u);
  EXPECT_EQ(none[0].map_index, -1);
  EXPECT_EQ(none[0].state, TaskState::kSkipped);
  EXPECT_EQ(instances(*empty, "total").at(0).state, TaskState::kSkipped);

  // When a clear is previewed, it lists the instance and the reduce and changes nothing
  auto preview = testing::run_sluice(
      {"tasks", "clear", "fan", "--task", "^count$", "--index", "2", "--dry-run"}, dir_.path());
  EXPECT_EQ(preview.exit_code, 0) << preview.out << preview.err;
  EXPECT_NE(preview.out.find("count[2]"), std::string::npos) << preview.out;
  EXPECT_NE(preview.out.find("total"), std::string::npos) << preview.out;
  EXPECT_EQ(preview.out.find("count[1]"), std::string::npos) << preview.out;
  EXPECT_NE(preview.out.find("would clear 2 task instance(s) in 1 run(s); nothing was changed"),
            std::string::npos)
      << preview.out;
  auto preview_json = testing::run_sluice(
      {"tasks", "clear", "fan", "--task", "^count$", "--index", "2", "--dry-run", "--json"},
      dir_.path());
  nlohmann::json listed = nlohmann::json::parse(preview_json.out);
  ASSERT_EQ(listed.size(), 2u) << preview_json.out;
  for (const nlohmann::json& item : listed) {
    EXPECT_EQ(item["state"], "success") << item;
    EXPECT_EQ(item["map_index"], item["task_id"] == "count" ? 2 : -1) << item;
  }
  EXPECT_EQ(store_->get_run("fan", fan_run)->state, RunState::kSuccess);
  EXPECT_EQ(instances(*run, "count").at(2).state, TaskState::kSuccess);

  // When one instance is cleared with --wait, only it (and the reduce) run
  // again, and the command returns once the run has ended
  auto cleared = testing::run_sluice(
      {"tasks", "clear", "fan", "--task", "^count$", "--index", "2", "--wait"}, dir_.path());
  EXPECT_EQ(cleared.exit_code, 0) << cleared.out << cleared.err;
  EXPECT_NE(cleared.out.find("cleared 2 task instance(s)"), std::string::npos) << cleared.out;
  EXPECT_NE(cleared.out.find("run " + fan_run + " success"), std::string::npos) << cleared.out;
  EXPECT_EQ(store_->get_run("fan", fan_run)->state, RunState::kSuccess);
  run = wait_for_run_end("fan", fan_run);
  ASSERT_TRUE(run);
  counts = instances(*run, "count");
  EXPECT_EQ(run->state, RunState::kSuccess) << logs();
  EXPECT_EQ(counts[0].try_number, 1);
  EXPECT_EQ(counts[2].try_number, 2);
}

TEST_F(MappingIntegrationTest, ConcurrencyCapAndMapLimitAreRespected) {
  // Given a task mapped over 5 items (the configured limit) with at most 2
  // running at once, on a worker with 4 slots, and one mapped over 6 items
  dir_.write("dags/capped.yaml", R"(dag: capped
schedule: null
tasks:
  - id: each
    type: shell
    map: {items: [1, 2, 3, 4, 5]}
    max_map_concurrency: 2
    command: |
      mkdir -p running; touch running/{{ map_index }}
      ls running | wc -l >> seen.txt
      sleep 0.4
      rm running/{{ map_index }}
  - id: too_many
    type: shell
    map: {dates: {from: "2026-01-01", to: "2026-01-06"}}
    command: echo {{ item }}
)");
  auto scheduler = start({"scheduler"}, "scheduler.log");
  auto worker = start({"worker", "--slots", "4"}, "worker.log");
  testing::wait_until([&] { return store_->get_dag("capped").has_value(); }, 30s);
  std::string run_id = trigger("capped");
  auto run = wait_for_run_end("capped", run_id);
  ASSERT_TRUE(run) << logs();

  // Then every instance succeeded and no more than two ever ran together
  std::vector<TaskInstanceRecord> each = instances(*run, "each");
  ASSERT_EQ(each.size(), 5u) << logs();
  for (const auto& ti : each) EXPECT_EQ(ti.state, TaskState::kSuccess) << ti.error << logs();
  std::ifstream seen(dir_.file("dags/seen.txt"));
  int most = 0, entries = 0;
  for (int n; seen >> n; ++entries) most = std::max(most, n);
  EXPECT_EQ(entries, 5);
  EXPECT_GE(most, 1);
  EXPECT_LE(most, 2);
  // And the list over the limit failed with a clear message, without retries
  std::vector<TaskInstanceRecord> over = instances(*run, "too_many");
  ASSERT_EQ(over.size(), 1u);
  EXPECT_EQ(over[0].state, TaskState::kFailed);
  EXPECT_NE(over[0].error.find("more than 5 items"), std::string::npos) << over[0].error;
  EXPECT_EQ(run->state, RunState::kFailed);
}

}  // namespace
}  // namespace sluice
