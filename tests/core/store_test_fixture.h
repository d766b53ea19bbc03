#pragma once
// The fixture and helpers of the Store contract tests (store_test.cc,
// store_queue_test.cc): each TEST_P runs once for SQLite and once for
// Postgres.

#include "core/store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <stdexcept>
#include <thread>

#include "core/dag_loader.h"
#include "core/error.h"
#include "engine/readiness.h"
#include "engine/run_factory.h"
#include "tests/core/store_test_util.h"

namespace sluice::store_test {


using std::chrono::minutes;

inline const Timestamp kT0 = from_epoch_ms(1767225600000);  // 2026-01-01T00:00:00Z
inline Timestamp at(int minute) { return kT0 + minutes(minute); }

inline RunDecisions no_change(const RunSnapshot&) { return {}; }

inline TaskTransition transition(int64_t ti_id, TaskState from, TaskState to) {
  TaskTransition t;
  t.ti_id = ti_id;
  t.from = from;
  t.to = to;
  return t;
}
inline Decider noop() { return Decider{no_change}; }

/// Queues every task still in `none` and starts the run.
inline Decider queue_all() {
  return Decider{[](const RunSnapshot& snap) {
    RunDecisions d;
    for (const TaskStateView& t : snap.tasks) {
      if (t.state == TaskState::kNone) d.tasks.push_back(transition(t.id, TaskState::kNone, TaskState::kQueued));
    }
    d.run_state = RunState::kRunning;
    return d;
  }};
}

/// Treats the run's tasks (by task id) as a chain a -> b -> c: queues the
/// first task whose predecessors all succeeded; the run succeeds when all did
/// and fails when one failed.
inline Decider chain() {
  return Decider{[](const RunSnapshot& snap) {
    RunDecisions d;
    bool all_success = true;
    std::vector<TaskStateView> tasks = snap.tasks;
    std::sort(tasks.begin(), tasks.end(),
              [](const auto& a, const auto& b) { return a.task_id < b.task_id; });
    for (const TaskStateView& t : tasks) {
      if (t.state == TaskState::kFailed) {
        d.run_state = RunState::kFailed;
        return d;
      }
      if (t.state == TaskState::kSuccess) continue;
      all_success = false;
      if (t.state == TaskState::kNone) d.tasks.push_back(transition(t.id, TaskState::kNone, TaskState::kQueued));
      break;
    }
    d.run_state = all_success ? RunState::kSuccess : RunState::kRunning;
    return d;
  }};
}

/// How many snapshots a decider saw, and how many of them a store predicted
/// (made up before reading the run, whose id it does not know yet).
struct SeenSnapshots {
  int read = 0;
  int predicted = 0;
};

/// The decider a worker uses for the DAG in `yaml` (scheduler/run_factory,
/// with scope and predictable), counting what it sees into `seen`.
inline Decider worker_decider(const std::string& yaml, SeenSnapshots& seen, Timestamp now,
                       bool start_run = false) {
  LoadResult loaded = load_dag_text("dags/d.yaml", yaml);
  if (!loaded.dag) throw std::logic_error("test DAG does not load");
  auto dag = std::make_shared<const Dag>(*loaded.dag);
  auto index = std::make_shared<const DagIndex>(DagIndex::build(*dag));
  Decider decider = make_decider(dag, index, now, start_run);
  decider.decide = [inner = decider.decide, &seen](const RunSnapshot& snapshot) {
    ++(snapshot.run.id == 0 ? seen.predicted : seen.read);
    return inner(snapshot);
  };
  return decider;
}

inline const char* kOneTaskDag = R"(dag: d
tasks:
  - {id: a, type: shell, command: "true"}
)";

inline const char* kChainDag = R"(dag: d
tasks:
  - {id: a, type: shell, command: "true"}
  - {id: b, type: shell, command: "true", depends_on: [a]}
  - {id: c, type: shell, command: "true", depends_on: [b]}
)";

/// A fresh, migrated store of the backend named by the test parameter.
class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    store_ = testing::make_test_store(GetParam());
    ASSERT_NE(store_, nullptr);
  }

  int64_t add_dag(const std::string& dag_id, int max_active_tasks = 16) {
    return store_->upsert_dag(dag_id, "dags/" + dag_id + ".yaml", "hash-1", "dag: " + dag_id,
                              nlohmann::json{{"dag", dag_id}}, false, max_active_tasks, kT0);
  }

  NewRun new_run(const std::string& dag_id, RunType type, Timestamp start,
                 const std::vector<std::string>& tasks, int64_t version_id = 1) {
    NewRun run;
    run.dag_id = dag_id;
    run.type = type;
    run.run_id = std::string(to_string(type)) + "__" + format_iso(start);
    run.version_id = version_id;
    run.interval = DataInterval{start, start + std::chrono::hours(24)};
    for (const std::string& id : tasks) run.tasks.push_back(NewRun::Task{id});
    return run;
  }

  RunRecord create(const NewRun& run, const Decider& decider = queue_all(), Timestamp now = kT0) {
    std::optional<RunRecord> created = store_->create_run(run, decider, now);
    if (!created) throw std::logic_error("run " + run.run_id + " was not created");
    return *created;
  }

  TaskInstanceRecord ti(int64_t run_pk, const std::string& task_id) {
    for (const TaskInstanceRecord& t : store_->list_task_instances(run_pk)) {
      if (t.task_id == task_id) return t;
    }
    throw std::logic_error("no task " + task_id);
  }

  std::vector<ClaimedTask> claim(const std::string& worker, int max_tasks, Timestamp now = at(1),
                                 std::vector<std::string> queues = {"default"}) {
    return store_->claim_tasks(ClaimRequest{worker, std::move(queues), now, max_tasks});
  }

  TaskResult result_of(const ClaimedTask& c, TaskState state, Timestamp ended = at(2)) {
    TaskResult r;
    r.ti_id = c.task.id;
    r.try_number = c.task.try_number;
    r.worker_id = c.task.worker_id;
    r.state = state;
    r.exit_code = state == TaskState::kSuccess ? 0 : 1;
    r.ended_at = ended;
    return r;
  }

  /// A started manual run of kChainDag (a -> b -> c), a queued.
  RunRecord start_chain(SeenSnapshots& seen) {
    int64_t v = add_dag("d");
    return create(new_run("d", RunType::kManual, at(0), {"a", "b", "c"}, v),
                  worker_decider(kChainDag, seen, at(0), /*start_run=*/true));
  }

  std::unique_ptr<Store> store_;
};

}  // namespace sluice::store_test
