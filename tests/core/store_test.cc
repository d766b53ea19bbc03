// The Store contract, run against every backend: each TEST_P runs once for
// SQLite and once for Postgres.

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

namespace sluice {
namespace {

using std::chrono::minutes;

const Timestamp kT0 = from_epoch_ms(1767225600000);  // 2026-01-01T00:00:00Z
Timestamp at(int minute) { return kT0 + minutes(minute); }

RunDecisions no_change(const RunSnapshot&) { return {}; }

TaskTransition transition(int64_t ti_id, TaskState from, TaskState to) {
  TaskTransition t;
  t.ti_id = ti_id;
  t.from = from;
  t.to = to;
  return t;
}
Decider noop() { return Decider{no_change}; }

/// Queues every task still in `none` and starts the run.
Decider queue_all() {
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
Decider chain() {
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
Decider worker_decider(const std::string& yaml, SeenSnapshots& seen, Timestamp now,
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

const char* kOneTaskDag = R"(dag: d
tasks:
  - {id: a, type: shell, command: "true"}
)";

const char* kChainDag = R"(dag: d
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

TEST_P(StoreTest, MigrateIsIdempotentAndReportsStatus) {
  SchemaStatus first = store_->schema_status();
  EXPECT_GT(first.latest, 0);
  EXPECT_EQ(first.current, first.latest);
  EXPECT_TRUE(first.pending.empty());
  ASSERT_FALSE(first.applied.empty());
  EXPECT_EQ(first.applied.front().substr(0, 4), "0001");

  SchemaStatus again = store_->migrate();
  EXPECT_EQ(again.current, first.current);
  EXPECT_EQ(again.applied, first.applied);
  EXPECT_NO_THROW(store_->require_current_schema());
}

TEST_P(StoreTest, UpsertDagAddsAVersionOnlyForNewContentAndKeepsPaused) {
  int64_t v1 = store_->upsert_dag("orders", "dags/orders.yaml", "h1", "dag: orders",
                                  nlohmann::json{{"v", 1}}, true, 8, kT0);
  std::optional<DagRecord> dag = store_->get_dag("orders");
  ASSERT_TRUE(dag);
  EXPECT_TRUE(dag->paused);  // new DAG starts with initially_paused
  EXPECT_EQ(dag->max_active_tasks, 8);
  EXPECT_EQ(dag->version_id, v1);

  store_->set_paused("orders", false);
  int64_t same = store_->upsert_dag("orders", "dags/orders.yaml", "h1", "dag: orders",
                                    nlohmann::json{{"v", 1}}, true, 8, at(1));
  EXPECT_EQ(same, v1);
  EXPECT_FALSE(store_->get_dag("orders")->paused);  // paused of an existing DAG kept

  int64_t v2 = store_->upsert_dag("orders", "dags/orders.yaml", "h2", "dag: orders # 2",
                                  nlohmann::json{{"v", 2}}, true, 4, at(2));
  EXPECT_NE(v2, v1);
  dag = store_->get_dag("orders");
  EXPECT_EQ(dag->version_id, v2);
  EXPECT_EQ(dag->max_active_tasks, 4);
  EXPECT_FALSE(dag->paused);

  DagVersion old = store_->get_version(v1);
  EXPECT_EQ(old.dag_id, "orders");
  EXPECT_EQ(old.content_hash, "h1");
  EXPECT_EQ(old.yaml, "dag: orders");
  EXPECT_EQ(old.definition, (nlohmann::json{{"v", 1}}));
  EXPECT_EQ(store_->get_version(v2).definition["v"], 2);
  EXPECT_THROW(store_->get_version(v2 + 100), NotFoundError);
  EXPECT_THROW(store_->set_paused("nope", true), NotFoundError);
  EXPECT_FALSE(store_->get_dag("nope"));
}

TEST_P(StoreTest, FileErrorsAndActiveFiles) {
  add_dag("a");
  add_dag("b");
  store_->set_file_error(FileError{"dags/a.yaml", "a", "dags/a.yaml:3:1: unknown key", at(1)});
  store_->set_file_error(FileError{"dags/broken.yaml", "", "dags/broken.yaml:1:1: bad", at(1)});

  std::vector<FileError> errors = store_->list_file_errors();
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].file, "dags/a.yaml");
  EXPECT_EQ(errors[0].message, "dags/a.yaml:3:1: unknown key");
  EXPECT_EQ(errors[0].at, at(1));
  EXPECT_EQ(store_->get_dag("a")->parse_error, "dags/a.yaml:3:1: unknown key");
  EXPECT_EQ(store_->get_dag("a")->version_id, 1);  // last good version kept

  add_dag("a");  // loads again: the error goes
  EXPECT_EQ(store_->get_dag("a")->parse_error, "");
  store_->clear_file_error("dags/broken.yaml");
  EXPECT_TRUE(store_->list_file_errors().empty());

  store_->set_active_files({"dags/a.yaml"});
  std::vector<DagRecord> dags = store_->list_dags();
  ASSERT_EQ(dags.size(), 2u);
  EXPECT_EQ(dags[0].dag_id, "a");
  EXPECT_TRUE(dags[0].active);
  EXPECT_FALSE(dags[1].active);
  store_->set_active_files({"dags/a.yaml", "dags/b.yaml"});
  EXPECT_TRUE(store_->get_dag("b")->active);
}

TEST_P(StoreTest, PoolsAlwaysHaveADefault) {
  EXPECT_EQ(store_->list_pools(), (std::map<std::string, int>{{"default", 128}}));
  store_->set_pools({{"db", 2}, {"default", 64}});
  EXPECT_EQ(store_->list_pools(), (std::map<std::string, int>{{"db", 2}, {"default", 64}}));
  store_->set_pools({{"spark", 1}});
  EXPECT_EQ(store_->list_pools(), (std::map<std::string, int>{{"default", 128}, {"spark", 1}}));
}

TEST_P(StoreTest, CreateRunIsUniquePerIntervalForScheduledAndBackfill) {
  int64_t v = add_dag("d");
  RunRecord run = create(new_run("d", RunType::kScheduled, at(0), {"a"}, v));
  EXPECT_EQ(run.dag_id, "d");
  EXPECT_EQ(run.type, RunType::kScheduled);
  EXPECT_EQ(run.interval.start, at(0));
  EXPECT_EQ(run.version_id, v);

  // Same interval again, as scheduled or as backfill: not created.
  EXPECT_FALSE(store_->create_run(new_run("d", RunType::kScheduled, at(0), {"a"}, v), noop(), kT0));
  EXPECT_FALSE(store_->create_run(new_run("d", RunType::kBackfill, at(0), {"a"}, v), noop(), kT0));
  // Another DAG, or another interval: fine.
  EXPECT_TRUE(store_->create_run(new_run("e", RunType::kScheduled, at(0), {"a"}, v), noop(), kT0));
  EXPECT_TRUE(store_->create_run(new_run("d", RunType::kBackfill, at(60), {"a"}, v), noop(), kT0));

  // Manual runs for the same interval never clash...
  NewRun m1 = new_run("d", RunType::kManual, at(0), {"a"}, v);
  m1.run_id = "manual__1";
  NewRun m2 = m1;
  m2.run_id = "manual__2";
  EXPECT_TRUE(store_->create_run(m1, noop(), kT0));
  EXPECT_TRUE(store_->create_run(m2, noop(), kT0));
  // ... unless their run_id does.
  EXPECT_THROW(store_->create_run(m1, noop(), kT0), ConflictError);

  RunFilter all;
  all.dag_id = "d";
  EXPECT_EQ(store_->list_runs(all).size(), 4u);
}

TEST_P(StoreTest, CreateRunStoresTasksAndAppliesTheDecider) {
  int64_t v = add_dag("d");
  NewRun spec = new_run("d", RunType::kScheduled, at(0), {"extract", "load"}, v);
  spec.conf = nlohmann::json{{"country", "us"}};
  spec.tasks[0].max_tries = 3;
  spec.tasks[0].priority = 7;
  spec.tasks[0].queue = "etl";
  spec.tasks[0].pool = "db";
  Decider decider{[](const RunSnapshot& snap) {
    RunDecisions d;
    EXPECT_EQ(snap.tasks.size(), 2u);
    EXPECT_EQ(snap.run.state, RunState::kQueued);
    for (const TaskStateView& t : snap.tasks) {
      // A transition whose `from` does not hold (load is none, not failed)
      // is skipped, not an error.
      TaskState from = t.task_id == "extract" ? TaskState::kNone : TaskState::kFailed;
      d.tasks.push_back(transition(t.id, from, TaskState::kQueued));
    }
    d.run_state = RunState::kRunning;
    d.alerts.push_back({"success", snap.run.dag_id, snap.run.run_id, "", {{"text", "hi"}}});
    return d;
  }};
  RunRecord run = create(spec, decider, at(5));
  EXPECT_EQ(run.state, RunState::kRunning);
  EXPECT_EQ(run.started_at, at(5));
  EXPECT_EQ(run.created_at, at(5));
  EXPECT_FALSE(run.ended_at);
  EXPECT_EQ(run.conf, (nlohmann::json{{"country", "us"}}));

  TaskInstanceRecord extract = ti(run.id, "extract");
  EXPECT_EQ(extract.state, TaskState::kQueued);
  EXPECT_EQ(extract.queued_at, at(5));
  EXPECT_EQ(extract.max_tries, 3);
  EXPECT_EQ(extract.priority, 7);
  EXPECT_EQ(extract.queue, "etl");
  EXPECT_EQ(extract.pool, "db");
  EXPECT_EQ(extract.try_number, 0);
  EXPECT_EQ(extract.run_id, run.run_id);
  EXPECT_EQ(extract.dag_id, "d");
  EXPECT_EQ(extract.map_index, -1);
  TaskInstanceRecord load = ti(run.id, "load");
  EXPECT_EQ(load.state, TaskState::kNone);
  EXPECT_FALSE(load.queued_at);

  std::vector<AlertRecord> alerts = store_->list_alerts(false, 10);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].event, "success");
  EXPECT_EQ(alerts[0].run_id, run.run_id);
  EXPECT_EQ(alerts[0].payload["text"], "hi");
  EXPECT_FALSE(alerts[0].event_id.empty());
  EXPECT_EQ(alerts[0].next_attempt_at, at(5));

  EXPECT_EQ(store_->get_run("d", run.run_id)->id, run.id);
  EXPECT_EQ(store_->get_run_by_pk(run.id)->run_id, run.run_id);
  EXPECT_FALSE(store_->get_run("d", "nope"));
}

TEST_P(StoreTest, ClaimOrderIsManualAndScheduledBeforeBackfillThenPriority) {
  int64_t v = add_dag("d");
  NewRun backfill = new_run("d", RunType::kBackfill, at(-2000), {"bf_high"}, v);
  backfill.tasks[0].priority = 100;
  create(backfill, queue_all(), at(0));
  NewRun manual = new_run("d", RunType::kManual, at(0), {"low", "high"}, v);
  manual.tasks[0].priority = 1;
  manual.tasks[1].priority = 5;
  RunRecord mrun = create(manual, queue_all(), at(1));
  NewRun sched = new_run("d", RunType::kScheduled, at(-1000), {"sched_low"}, v);
  sched.tasks[0].priority = 1;
  create(sched, queue_all(), at(2));

  std::vector<ClaimedTask> claimed = claim("w1", 10, at(3));
  std::vector<std::string> order;
  for (const ClaimedTask& c : claimed) order.push_back(c.task.task_id);
  // Same priority: earlier queued first (low queued at 1, sched_low at 2).
  EXPECT_EQ(order, (std::vector<std::string>{"high", "low", "sched_low", "bf_high"}));

  const ClaimedTask& first = claimed[0];
  EXPECT_EQ(first.task.state, TaskState::kRunning);
  EXPECT_EQ(first.task.try_number, 1);
  EXPECT_EQ(first.task.worker_id, "w1");
  EXPECT_EQ(first.task.started_at, at(3));
  EXPECT_EQ(first.task.first_started_at, at(3));
  EXPECT_EQ(first.run.id, mrun.id);
  EXPECT_EQ(first.run.run_id, mrun.run_id);
  EXPECT_TRUE(claim("w2", 10, at(4)).empty());
}

TEST_P(StoreTest, ClaimTakesOnlyRequestedQueuesAndAtMostMaxTasks) {
  int64_t v = add_dag("d");
  NewRun spec = new_run("d", RunType::kManual, at(0), {"a", "b", "c", "gpu"}, v);
  spec.tasks[3].queue = "gpu";
  create(spec);
  EXPECT_EQ(claim("w1", 2).size(), 2u);
  std::vector<ClaimedTask> rest = claim("w1", 5);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].task.task_id, "c");
  std::vector<ClaimedTask> gpu = claim("w2", 5, at(1), {"gpu", "other"});
  ASSERT_EQ(gpu.size(), 1u);
  EXPECT_EQ(gpu[0].task.task_id, "gpu");
}

TEST_P(StoreTest, ClaimRespectsPoolSlots) {
  int64_t v = add_dag("d");
  store_->set_pools({{"db", 2}});
  NewRun spec = new_run("d", RunType::kManual, at(0), {"db1", "db2", "db3", "free"}, v);
  for (int i = 0; i < 3; ++i) spec.tasks[i].pool = "db";
  RunRecord run = create(spec);
  std::vector<ClaimedTask> first = claim("w1", 10);
  std::set<std::string> got;
  for (const ClaimedTask& c : first) got.insert(c.task.task_id);
  EXPECT_EQ(got, (std::set<std::string>{"db1", "db2", "free"}));
  EXPECT_TRUE(claim("w1", 10).empty());  // db3 waits for a slot

  store_->finish_task(result_of(first[0], TaskState::kSuccess), noop());
  std::vector<ClaimedTask> second = claim("w1", 10);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].task.task_id, "db3");
  EXPECT_EQ(ti(run.id, "db3").state, TaskState::kRunning);
}

TEST_P(StoreTest, ClaimRespectsMaxActiveTasksAcrossRuns) {
  int64_t v = add_dag("d", /*max_active_tasks=*/2);
  add_dag("other");
  create(new_run("d", RunType::kScheduled, at(0), {"a", "b"}, v));
  create(new_run("d", RunType::kScheduled, at(1440), {"a", "b"}, v));
  create(new_run("other", RunType::kScheduled, at(0), {"x"}, v));
  std::vector<ClaimedTask> claimed = claim("w1", 10);
  int from_d = 0;
  for (const ClaimedTask& c : claimed) from_d += c.task.dag_id == "d";
  EXPECT_EQ(from_d, 2);
  EXPECT_EQ(claimed.size(), 3u);  // the other DAG is not held back
  EXPECT_TRUE(claim("w1", 10).empty());

  store_->finish_task(result_of(claimed[0].task.dag_id == "d" ? claimed[0] : claimed[1],
                                TaskState::kSuccess),
                      noop());
  EXPECT_EQ(claim("w1", 10).size(), 1u);
}

TEST_P(StoreTest, FinishIsACompareAndSetOnTryAndWorker) {
  int64_t v = add_dag("d");
  RunRecord run = create(new_run("d", RunType::kManual, at(0), {"a"}, v));
  std::vector<ClaimedTask> claimed = claim("w1", 1);
  ASSERT_EQ(claimed.size(), 1u);

  TaskResult wrong_worker = result_of(claimed[0], TaskState::kSuccess);
  wrong_worker.worker_id = "w2";
  EXPECT_THROW(store_->finish_task(wrong_worker, noop()), ConflictError);
  TaskResult wrong_try = result_of(claimed[0], TaskState::kSuccess);
  wrong_try.try_number = 2;
  EXPECT_THROW(store_->finish_task(wrong_try, noop()), ConflictError);
  EXPECT_EQ(ti(run.id, "a").state, TaskState::kRunning);

  TaskResult ok = result_of(claimed[0], TaskState::kSuccess);
  ok.outputs = nlohmann::json{{"rows", 12}};
  ok.rendered = nlohmann::json{{"command", "echo ***"}};
  store_->finish_task(ok, noop());
  TaskInstanceRecord done = ti(run.id, "a");
  EXPECT_EQ(done.state, TaskState::kSuccess);
  EXPECT_EQ(done.exit_code, 0);
  EXPECT_EQ(done.outputs["rows"], 12);
  EXPECT_EQ(done.rendered["command"], "echo ***");
  EXPECT_EQ(done.ended_at, at(2));

  // The stale writer (a second report of the same try) learns it lost.
  EXPECT_THROW(store_->finish_task(ok, noop()), ConflictError);
  // An empty worker id skips the worker check but not the state check.
  TaskResult anyone = ok;
  anyone.worker_id = "";
  EXPECT_THROW(store_->finish_task(anyone, noop()), ConflictError);
}

TEST_P(StoreTest, FinishAppliesTheDeciderInTheSameTransaction) {
  int64_t v = add_dag("d");
  RunRecord run = create(new_run("d", RunType::kScheduled, at(0), {"a", "b"}, v), chain());
  EXPECT_EQ(ti(run.id, "a").state, TaskState::kQueued);
  EXPECT_EQ(ti(run.id, "b").state, TaskState::kNone);

  std::vector<ClaimedTask> a = claim("w1", 5);
  ASSERT_EQ(a.size(), 1u);

  // A decider that fails rolls back the whole finish: the try still runs,
  // its final log chunk is not stored.
  Decider broken{[](const RunSnapshot&) -> RunDecisions { throw std::runtime_error("boom"); }};
  TaskResult result = result_of(a[0], TaskState::kSuccess);
  result.final_log = "last line\n";
  result.final_log_seq = 3;
  EXPECT_ANY_THROW(store_->finish_task(result, broken));
  EXPECT_EQ(ti(run.id, "a").state, TaskState::kRunning);
  EXPECT_EQ(store_->read_log(a[0].task.id, 1, 0).data, "");

  FinishOutcome outcome = store_->finish_task(result, chain());
  EXPECT_EQ(outcome.queued, 1);
  EXPECT_FALSE(outcome.run_state);
  EXPECT_EQ(ti(run.id, "b").state, TaskState::kQueued);
  EXPECT_EQ(store_->read_log(a[0].task.id, 1, 0).data, "last line\n");

  std::vector<ClaimedTask> b = claim("w1", 5, at(3));
  ASSERT_EQ(b.size(), 1u);
  FinishOutcome last = store_->finish_task(result_of(b[0], TaskState::kSuccess, at(4)), chain());
  EXPECT_EQ(last.queued, 0);
  EXPECT_EQ(last.run_state, RunState::kSuccess);
  std::optional<RunRecord> ended = store_->get_run_by_pk(run.id);
  EXPECT_EQ(ended->state, RunState::kSuccess);
  EXPECT_EQ(ended->ended_at, at(4));
}

TEST_P(StoreTest, FinishClaimsTheWorkersNextTaskInTheSameTransaction) {
  int64_t v = add_dag("d");
  RunRecord run = create(new_run("d", RunType::kScheduled, at(0), {"a", "b"}, v), chain());
  std::vector<ClaimedTask> a = claim("w1", 1);
  ASSERT_EQ(a.size(), 1u);

  // Finishing a queues b, and the same transaction hands b to this worker.
  TaskResult done = result_of(a[0], TaskState::kSuccess);
  done.claim_next = ClaimRequest{"w1", {"default"}, at(3), 1};
  FinishOutcome outcome = store_->finish_task(done, chain());
  EXPECT_EQ(outcome.queued, 1);
  ASSERT_EQ(outcome.claimed.size(), 1u);
  EXPECT_FALSE(outcome.more_queued);
  const ClaimedTask& b = outcome.claimed[0];
  EXPECT_EQ(b.task.task_id, "b");
  EXPECT_EQ(b.task.state, TaskState::kRunning);
  EXPECT_EQ(b.task.worker_id, "w1");
  EXPECT_EQ(b.task.try_number, 1);
  EXPECT_EQ(b.task.started_at, at(3));
  EXPECT_EQ(b.run.id, run.id);
  EXPECT_EQ(b.run.run_id, run.run_id);
  EXPECT_EQ(ti(run.id, "b").state, TaskState::kRunning);
  EXPECT_TRUE(claim("w2", 5).empty());
}

TEST_P(StoreTest, FinishWithClaimReportsWhatIsLeftAndRollsBackAsOne) {
  int64_t v = add_dag("d");
  RunRecord run = create(new_run("d", RunType::kManual, at(0), {"x", "y", "z"}, v));
  std::vector<ClaimedTask> x = claim("w1", 1);
  ASSERT_EQ(x.size(), 1u);

  // Three queued, one claimed with the finish: the rest is left for others.
  TaskResult done = result_of(x[0], TaskState::kSuccess);
  done.claim_next = ClaimRequest{"w1", {"default"}, at(3), 1};
  FinishOutcome outcome = store_->finish_task(done, noop());
  ASSERT_EQ(outcome.claimed.size(), 1u);
  EXPECT_TRUE(outcome.more_queued);
  const ClaimedTask y = outcome.claimed[0];

  // A finish that fails claims nothing either.
  Decider broken{[](const RunSnapshot&) -> RunDecisions { throw std::runtime_error("boom"); }};
  TaskResult failing = result_of(y, TaskState::kSuccess);
  failing.claim_next = ClaimRequest{"w1", {"default"}, at(4), 1};
  EXPECT_ANY_THROW(store_->finish_task(failing, broken));
  EXPECT_EQ(ti(run.id, y.task.task_id).state, TaskState::kRunning);
  int queued = 0;
  for (const auto& t : store_->list_task_instances(run.id)) queued += t.state == TaskState::kQueued;
  EXPECT_EQ(queued, 1);

  // A worker of another queue claims nothing, and the queued task is left.
  TaskResult other = result_of(y, TaskState::kSuccess);
  other.claim_next = ClaimRequest{"w1", {"gpu"}, at(5), 1};
  FinishOutcome none = store_->finish_task(other, noop());
  EXPECT_TRUE(none.claimed.empty());
  EXPECT_TRUE(none.more_queued);
}

// Postgres predicts the snapshot of a successful finish when the scope holds
// only the task and its downstream tasks (Decider::predictable), and sends
// the decisions with the finish; SQLite reads it. The outcome is the same.
TEST_P(StoreTest, FinishDownAChainGivesTheSameOutcomeWhetherPredictedOrRead) {
  const bool predicts = GetParam() == "postgres";
  SeenSnapshots seen;
  RunRecord run = start_chain(seen);
  std::vector<ClaimedTask> a = claim("w1", 1);
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(a[0].task.task_id, "a");

  seen = {};
  TaskResult done = result_of(a[0], TaskState::kSuccess, at(2));
  done.task_id = "a";
  done.outputs = nlohmann::json{{"rows", "42"}};
  done.final_log = "done\n";
  done.final_log_seq = 2;
  done.claim_next = ClaimRequest{"w1", {"default"}, at(3), 1};
  FinishOutcome outcome = store_->finish_task(done, worker_decider(kChainDag, seen, at(2)));
  EXPECT_EQ(seen.predicted, predicts ? 1 : 0);
  EXPECT_EQ(seen.read, predicts ? 0 : 1);
  EXPECT_EQ(outcome.queued, 1);
  EXPECT_FALSE(outcome.more_queued);
  EXPECT_FALSE(outcome.run_state);
  ASSERT_EQ(outcome.claimed.size(), 1u);
  const ClaimedTask b = outcome.claimed[0];
  EXPECT_EQ(b.task.task_id, "b");
  EXPECT_EQ(b.task.state, TaskState::kRunning);
  EXPECT_EQ(b.task.worker_id, "w1");
  EXPECT_EQ(b.task.try_number, 1);
  EXPECT_EQ(b.task.queued_at, at(2));
  EXPECT_EQ(b.task.started_at, at(3));
  EXPECT_EQ(b.run.id, run.id);
  EXPECT_EQ(b.run.state, RunState::kRunning);
  TaskInstanceRecord a_now = ti(run.id, "a");
  EXPECT_EQ(a_now.state, TaskState::kSuccess);
  EXPECT_EQ(a_now.ended_at, at(2));
  EXPECT_EQ(a_now.exit_code, 0);
  EXPECT_EQ(a_now.outputs, (nlohmann::json{{"rows", "42"}}));
  EXPECT_EQ(store_->read_log(a_now.id, 1, 0).data, "done\n");
  EXPECT_EQ(ti(run.id, "c").state, TaskState::kNone);

  // Without a claim the downstream task is left queued for any worker.
  seen = {};
  TaskResult b_done = result_of(b, TaskState::kSuccess, at(4));
  b_done.task_id = "b";
  FinishOutcome after_b = store_->finish_task(b_done, worker_decider(kChainDag, seen, at(4)));
  EXPECT_EQ(seen.predicted, predicts ? 1 : 0);
  EXPECT_EQ(after_b.queued, 1);
  EXPECT_TRUE(after_b.claimed.empty());
  EXPECT_EQ(ti(run.id, "c").state, TaskState::kQueued);
  EXPECT_EQ(ti(run.id, "c").queued_at, at(4));

  // The last task: nothing else is unfinished, so the prediction (a partial
  // snapshot) is wrong; the store finds out, reads the run and ends it.
  std::vector<ClaimedTask> c = claim("w1", 1, at(5));
  ASSERT_EQ(c.size(), 1u);
  seen = {};
  TaskResult c_done = result_of(c[0], TaskState::kSuccess, at(6));
  c_done.task_id = "c";
  FinishOutcome last = store_->finish_task(c_done, worker_decider(kChainDag, seen, at(6)));
  EXPECT_EQ(seen.predicted, predicts ? 1 : 0);
  EXPECT_EQ(seen.read, 1);
  EXPECT_EQ(last.run_state, RunState::kSuccess);
  EXPECT_EQ(store_->get_run_by_pk(run.id)->state, RunState::kSuccess);
  EXPECT_EQ(store_->get_run_by_pk(run.id)->ended_at, at(6));
}

TEST_P(StoreTest, AWrongPredictionChangesNothingBeforeTheFinishIsRead) {
  const bool predicts = GetParam() == "postgres";
  SeenSnapshots seen;
  RunRecord run = start_chain(seen);
  std::vector<ClaimedTask> a = claim("w1", 1);
  ASSERT_EQ(a.size(), 1u);
  // Someone marked b failed while a ran: b no longer waits, as predicted.
  store_->mark_task_instance(ti(run.id, "b").id, TaskState::kFailed, noop(), at(1));

  seen = {};
  TaskResult done = result_of(a[0], TaskState::kSuccess, at(2));
  done.task_id = "a";
  done.final_log = "once\n";
  done.final_log_seq = 1;
  done.claim_next = ClaimRequest{"w1", {"default"}, at(3), 1};
  FinishOutcome outcome = store_->finish_task(done, worker_decider(kChainDag, seen, at(2)));
  // The predicted attempt was rolled back whole (else the finish read after it
  // would find the try already ended and fail), then the run was read.
  EXPECT_EQ(seen.predicted, predicts ? 1 : 0);
  EXPECT_EQ(seen.read, 1);
  EXPECT_EQ(outcome.queued, 0);
  EXPECT_TRUE(outcome.claimed.empty());
  EXPECT_EQ(ti(run.id, "a").state, TaskState::kSuccess);
  EXPECT_EQ(ti(run.id, "b").state, TaskState::kFailed);
  EXPECT_EQ(store_->read_log(a[0].task.id, 1, 0).data, "once\n");
}

TEST_P(StoreTest, FinishPredictsFanOutsButNotFanIns) {
  const bool predicts = GetParam() == "postgres";
  const char* yaml = R"(dag: d
tasks:
  - {id: a, type: shell, command: "true"}
  - {id: b, type: shell, command: "true", depends_on: [a]}
  - {id: c, type: shell, command: "true", depends_on: [a]}
  - {id: x, type: shell, command: "true"}
  - {id: y, type: shell, command: "true", depends_on: [b, x]}
)";
  int64_t v = add_dag("d");
  SeenSnapshots seen;
  RunRecord run = create(new_run("d", RunType::kManual, at(0), {"a", "b", "c", "x", "y"}, v),
                         worker_decider(yaml, seen, at(0), /*start_run=*/true));
  std::vector<ClaimedTask> roots = claim("w1", 2);
  ASSERT_EQ(roots.size(), 2u);
  const ClaimedTask& a = roots[0].task.task_id == "a" ? roots[0] : roots[1];
  const ClaimedTask& x = roots[0].task.task_id == "a" ? roots[1] : roots[0];

  // a -> {b, c}: both queued, one claimed, the other left for others.
  seen = {};
  TaskResult a_done = result_of(a, TaskState::kSuccess, at(2));
  a_done.task_id = "a";
  a_done.claim_next = ClaimRequest{"w1", {"default"}, at(3), 1};
  FinishOutcome fan_out = store_->finish_task(a_done, worker_decider(yaml, seen, at(2)));
  EXPECT_EQ(seen.predicted, predicts ? 1 : 0);
  EXPECT_EQ(fan_out.queued, 2);
  ASSERT_EQ(fan_out.claimed.size(), 1u);
  EXPECT_TRUE(fan_out.more_queued);

  // x's downstream y also waits on b: its snapshot cannot be predicted.
  seen = {};
  TaskResult x_done = result_of(x, TaskState::kSuccess, at(4));
  x_done.task_id = "x";
  FinishOutcome fan_in = store_->finish_task(x_done, worker_decider(yaml, seen, at(4)));
  EXPECT_EQ(seen.predicted, 0);
  EXPECT_EQ(seen.read, 1);
  EXPECT_EQ(fan_in.queued, 0);
  EXPECT_EQ(ti(run.id, "y").state, TaskState::kNone);
}

TEST_P(StoreTest, RunningOnWorkerListsThatWorkersTries) {
  int64_t v = add_dag("d");
  create(new_run("d", RunType::kManual, at(0), {"a", "b", "c"}, v));
  std::vector<ClaimedTask> w1 = claim("w1", 2);
  std::vector<ClaimedTask> w2 = claim("w2", 1);
  ASSERT_EQ(w1.size(), 2u);
  ASSERT_EQ(w2.size(), 1u);
  std::vector<TaskInstanceRecord> running = store_->running_on_worker("w1");
  ASSERT_EQ(running.size(), 2u);
  EXPECT_EQ(running[0].id, w1[0].task.id);
  EXPECT_EQ(running[1].id, w1[1].task.id);
  EXPECT_EQ(running[0].worker_id, "w1");

  store_->finish_task(result_of(w1[0], TaskState::kSuccess), noop());
  running = store_->running_on_worker("w1");
  ASSERT_EQ(running.size(), 1u);
  EXPECT_EQ(running[0].id, w1[1].task.id);
  EXPECT_TRUE(store_->running_on_worker("nobody").empty());
}

// A try whose claim was lost is handed back: queued again, with the same
// try number for its next claim, and only by the worker that claimed it.
TEST_P(StoreTest, AReleasedClaimIsQueuedAgainWithItsTryNumber) {
  int64_t v = add_dag("d");
  RunRecord run = create(new_run("d", RunType::kManual, at(0), {"a"}, v));
  std::vector<ClaimedTask> first = claim("w1", 1);
  ASSERT_EQ(first.size(), 1u);
  int64_t id = first[0].task.id;
  EXPECT_EQ(first[0].task.try_number, 1);
  EXPECT_FALSE(store_->release_claim(id, 1, "w2"));  // not its claim
  EXPECT_FALSE(store_->release_claim(id, 2, "w1"));  // not this try
  EXPECT_TRUE(store_->release_claim(id, 1, "w1"));
  TaskInstanceRecord released = ti(run.id, "a");
  EXPECT_EQ(released.state, TaskState::kQueued);
  EXPECT_EQ(released.try_number, 0);
  EXPECT_FALSE(released.started_at.has_value());
  EXPECT_FALSE(released.first_started_at.has_value());
  EXPECT_TRUE(store_->running_on_worker("w1").empty());
  EXPECT_FALSE(store_->release_claim(id, 1, "w1"));  // once only

  std::vector<ClaimedTask> again = claim("w2", 1);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].task.id, id);
  EXPECT_EQ(again[0].task.try_number, 1);
  store_->finish_task(result_of(again[0], TaskState::kSuccess), noop());
  EXPECT_EQ(ti(run.id, "a").state, TaskState::kSuccess);
}

TEST_P(StoreTest, RetriesBecomeDueAtTheirTime) {
  int64_t v = add_dag("d");
  RunRecord run = create(new_run("d", RunType::kManual, at(0), {"a", "b"}, v));
  std::vector<ClaimedTask> claimed = claim("w1", 2);
  ASSERT_EQ(claimed.size(), 2u);
  EXPECT_FALSE(store_->next_due_time());

  TaskResult retry = result_of(claimed[0], TaskState::kUpForRetry);
  retry.next_try_at = at(10);
  retry.error = "exit code 1";
  store_->finish_task(retry, noop());
  TaskResult reschedule = result_of(claimed[1], TaskState::kUpForReschedule);
  reschedule.next_try_at = at(7);
  store_->finish_task(reschedule, noop());

  EXPECT_EQ(store_->next_due_time(), at(7));
  EXPECT_TRUE(store_->runs_with_due_tasks(at(6)).empty());
  EXPECT_EQ(store_->runs_with_due_tasks(at(7)), (std::vector<int64_t>{run.id}));
  EXPECT_EQ(ti(run.id, "a").error, "exit code 1");

  // The decider moves the due retry back to queued; next_try_at no longer counts.
  Decider requeue{[](const RunSnapshot& snap) {
    RunDecisions d;
    for (const TaskStateView& t : snap.tasks) {
      if (t.state == TaskState::kUpForRetry) {
        d.tasks.push_back(transition(t.id, TaskState::kUpForRetry, TaskState::kQueued));
      }
    }
    return d;
  }};
  RunDecisions applied = store_->reconcile_run(run.id, requeue, at(10));
  EXPECT_EQ(applied.tasks.size(), 1u);
  EXPECT_EQ(ti(run.id, "a").state, TaskState::kQueued);
  EXPECT_EQ(ti(run.id, "a").queued_at, at(10));
  EXPECT_EQ(store_->next_due_time(), at(7));

  std::vector<ClaimedTask> again = claim("w1", 5, at(11));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].task.try_number, 2);
  EXPECT_EQ(again[0].task.first_started_at, at(1));  // kept from the first try
  EXPECT_EQ(again[0].task.started_at, at(11));
}

TEST_P(StoreTest, PreviousIntervalStatesReachTheDeciderWhenAsked) {
  int64_t v = add_dag("d");
  RunRecord first = create(new_run("d", RunType::kScheduled, at(0), {"a", "b"}, v));
  store_->mark_task_instance(ti(first.id, "a").id, TaskState::kSuccess, noop(), at(1));
  create(new_run("d", RunType::kManual, at(1440), {"a", "b"}, v));  // not an interval run

  RunSnapshot seen;
  Decider recorder{[&seen](const RunSnapshot& snap) {
                     seen = snap;
                     return RunDecisions{};
                   },
                   /*needs_previous_interval=*/true};
  RunRecord second = create(new_run("d", RunType::kScheduled, at(2880), {"a", "b"}, v), recorder);
  EXPECT_TRUE(seen.has_previous_run);
  EXPECT_EQ(seen.previous_interval,
            (std::map<std::string, TaskState>{{"a", TaskState::kSuccess}, {"b", TaskState::kQueued}}));

  seen = RunSnapshot{};
  store_->reconcile_run(first.id, recorder, at(2));
  EXPECT_FALSE(seen.has_previous_run);
  EXPECT_TRUE(seen.previous_interval.empty());
  EXPECT_EQ(seen.run.id, first.id);
  EXPECT_NE(second.id, first.id);
}

TEST_P(StoreTest, LogsAppendAndReadWithOffsets) {
  int64_t v = add_dag("d");
  RunRecord run = create(new_run("d", RunType::kManual, at(0), {"a"}, v));
  int64_t id = ti(run.id, "a").id;
  store_->append_log(id, 1, 0, "hello ");
  store_->append_log(id, 1, 1, std::string("wor\0ld\n", 7));
  store_->append_log(id, 1, 2, "bye\n");
  store_->append_log(id, 2, 0, "second try\n");

  LogSlice all = store_->read_log(id, 1, 0);
  EXPECT_EQ(all.data, std::string("hello wor\0ld\nbye\n", 17));
  EXPECT_EQ(all.next_offset, 17);

  LogSlice middle = store_->read_log(id, 1, 4, 5);
  EXPECT_EQ(middle.data, std::string("o wor"));
  EXPECT_EQ(middle.next_offset, 9);
  LogSlice rest = store_->read_log(id, 1, middle.next_offset);
  EXPECT_EQ(rest.data, std::string("\0ld\nbye\n", 8));
  LogSlice none = store_->read_log(id, 1, rest.next_offset);
  EXPECT_EQ(none.data, "");
  EXPECT_EQ(none.next_offset, 17);

  EXPECT_EQ(store_->read_log(id, 2, 0).data, "second try\n");
  EXPECT_EQ(store_->read_log(id, 3, 0).data, "");

  store_->append_log(id, 1, 2, "BYE\n");  // a resent chunk replaces itself
  EXPECT_EQ(store_->read_log(id, 1, 13).data, "BYE\n");
}

TEST_P(StoreTest, TasksToStopAreTheTriesNoLongerRunningForThatWorker) {
  int64_t v = add_dag("d");
  RunRecord r1 = create(new_run("d", RunType::kManual, at(0), {"a", "b"}, v));
  std::vector<ClaimedTask> claimed = claim("w1", 2);
  ASSERT_EQ(claimed.size(), 2u);
  std::vector<int64_t> ids = {claimed[0].task.id, claimed[1].task.id};
  EXPECT_TRUE(store_->tasks_to_stop("w1", ids).empty());
  EXPECT_EQ(store_->tasks_to_stop("w2", ids), ids);  // not w2's tries

  store_->clear_task_instances(r1.id, {claimed[1].task.id}, noop(), at(3));
  EXPECT_EQ(store_->tasks_to_stop("w1", ids), (std::vector<int64_t>{claimed[1].task.id}));
  store_->cancel_run(r1.id, at(4));
  EXPECT_EQ(store_->tasks_to_stop("w1", ids), ids);
  EXPECT_EQ(store_->tasks_to_stop("w1", {999999}), (std::vector<int64_t>{999999}));
}

TEST_P(StoreTest, OrphanedTasksAreThoseOfSilentOrUnknownWorkers) {
  int64_t v = add_dag("d");
  create(new_run("d", RunType::kManual, at(0), {"a", "b", "c"}, v));
  store_->register_worker(WorkerRecord{"w1", "host1", 10, 4, {"default"}, at(0), at(0), "running"});
  std::vector<ClaimedTask> w1 = claim("w1", 1);
  std::vector<ClaimedTask> ghost = claim("ghost", 1);
  ASSERT_EQ(w1.size(), 1u);
  ASSERT_EQ(ghost.size(), 1u);

  std::vector<TaskInstanceRecord> orphans = store_->orphaned_tasks(at(1));
  ASSERT_EQ(orphans.size(), 2u);

  store_->heartbeat_worker("w1", at(5));
  orphans = store_->orphaned_tasks(at(1));
  ASSERT_EQ(orphans.size(), 1u);
  EXPECT_EQ(orphans[0].id, ghost[0].task.id);
  EXPECT_EQ(orphans[0].worker_id, "ghost");
  EXPECT_EQ(store_->orphaned_tasks(at(6)).size(), 2u);
}

TEST_P(StoreTest, WorkersRegisterHeartbeatAndChangeState) {
  store_->register_worker(WorkerRecord{"w1", "h", 42, 4, {"default", "gpu"}, at(0), at(0), "running"});
  store_->heartbeat_worker("w1", at(3));
  store_->set_worker_state("w1", "draining");
  std::vector<WorkerRecord> workers = store_->list_workers();
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(workers[0].host, "h");
  EXPECT_EQ(workers[0].pid, 42);
  EXPECT_EQ(workers[0].slots, 4);
  EXPECT_EQ(workers[0].queues, (std::vector<std::string>{"default", "gpu"}));
  EXPECT_EQ(workers[0].last_heartbeat, at(3));
  EXPECT_EQ(workers[0].state, "draining");
  EXPECT_THROW(store_->heartbeat_worker("nobody", at(3)), NotFoundError);
  EXPECT_NO_THROW(store_->heartbeat_scheduler("s1", "h", true, Millis(12), at(1)));
  EXPECT_NO_THROW(store_->heartbeat_scheduler("s1", "h", false, Millis(3), at(2)));
}

TEST_P(StoreTest, SchedulersAreListedWithLeaderTermAndLoopLag) {
  EXPECT_TRUE(store_->list_schedulers().empty());
  store_->heartbeat_scheduler("s1", "h1", true, Millis(12), at(1));
  store_->heartbeat_scheduler("s2", "h2", false, Millis(3), at(2));
  store_->heartbeat_scheduler("s1", "h1", true, Millis(40), at(3));

  std::vector<SchedulerRecord> schedulers = store_->list_schedulers();
  ASSERT_EQ(schedulers.size(), 2u);
  EXPECT_EQ(schedulers[0].id, "s1");
  EXPECT_EQ(schedulers[0].host, "h1");
  EXPECT_TRUE(schedulers[0].leader);
  EXPECT_EQ(schedulers[0].epoch, 1);
  EXPECT_EQ(schedulers[0].last_heartbeat, at(3));
  EXPECT_EQ(schedulers[0].loop_lag, Millis(40));
  EXPECT_EQ(schedulers[1].id, "s2");
  EXPECT_FALSE(schedulers[1].leader);
  EXPECT_EQ(schedulers[1].loop_lag, Millis(3));
}

TEST_P(StoreTest, TaskDurationHistogramCountsTasksThatEndedSince) {
  using std::chrono::seconds;
  int64_t v = add_dag("d");
  // given an old run whose task took 60 s and ended at minute 2
  create(new_run("d", RunType::kManual, at(0), {"a"}, v), chain());
  auto c = claim("w1", 1, at(1));
  ASSERT_EQ(c.size(), 1u);
  store_->finish_task(result_of(c[0], TaskState::kSuccess, at(2)), chain());
  // and a finished run whose tasks took 30 s and 5 min
  RunRecord done = create(new_run("d", RunType::kManual, at(1440), {"a", "b"}, v), chain());
  c = claim("w1", 1, at(10));
  ASSERT_EQ(c.size(), 1u);
  store_->finish_task(result_of(c[0], TaskState::kSuccess, at(10) + seconds(30)), chain());
  c = claim("w1", 1, at(11));
  ASSERT_EQ(c.size(), 1u);
  store_->finish_task(result_of(c[0], TaskState::kFailed, at(16)), chain());
  EXPECT_EQ(store_->get_run_by_pk(done.id)->state, RunState::kFailed);
  // and a running run with one task done in 90 s and one still running
  RunRecord running = create(new_run("d", RunType::kManual, at(2880), {"a", "b"}, v));
  c = claim("w1", 2, at(20));
  ASSERT_EQ(c.size(), 2u);
  store_->finish_task(result_of(c[0], TaskState::kSuccess, at(20) + seconds(90)), noop());
  EXPECT_EQ(store_->get_run_by_pk(running.id)->state, RunState::kRunning);

  // then tasks ended since minute 5 fall into buckets with inclusive bounds
  std::vector<Millis> bounds{seconds(30), seconds(120), seconds(600)};
  DurationHistogram h = store_->task_duration_histogram(at(5), bounds);
  EXPECT_EQ(h.bounds, bounds);
  EXPECT_EQ(h.counts, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(h.count, 3);
  EXPECT_EQ(h.sum, seconds(30 + 300 + 90));

  DurationHistogram recent = store_->task_duration_histogram(at(17), bounds);
  EXPECT_EQ(recent.counts, (std::vector<int64_t>{0, 1, 1}));
  EXPECT_EQ(recent.count, 1);
  EXPECT_EQ(recent.sum, seconds(90));

  DurationHistogram totals_only = store_->task_duration_histogram(at(0), {});
  EXPECT_TRUE(totals_only.counts.empty());
  EXPECT_EQ(totals_only.count, 4);
  EXPECT_EQ(totals_only.sum, seconds(60 + 30 + 300 + 90));
}

TEST_P(StoreTest, ClearGrantsTriesAgainAndReopensTheRun) {
  int64_t v = add_dag("d");
  RunRecord run = create(new_run("d", RunType::kScheduled, at(0), {"a"}, v), chain());
  std::vector<ClaimedTask> claimed = claim("w1", 1);
  ASSERT_EQ(claimed.size(), 1u);
  FinishOutcome failed = store_->finish_task(result_of(claimed[0], TaskState::kFailed), chain());
  EXPECT_EQ(failed.run_state, RunState::kFailed);
  EXPECT_TRUE(store_->get_run_by_pk(run.id)->ended_at);

  int cleared = store_->clear_task_instances(run.id, {claimed[0].task.id}, chain(), at(10));
  EXPECT_EQ(cleared, 1);
  TaskInstanceRecord a = ti(run.id, "a");
  EXPECT_EQ(a.state, TaskState::kQueued);  // the decider ran after the clear
  EXPECT_EQ(a.try_number, 1);
  EXPECT_EQ(a.max_tries, 2);  // one more try than used
  EXPECT_FALSE(a.exit_code);
  std::optional<RunRecord> reopened = store_->get_run_by_pk(run.id);
  EXPECT_EQ(reopened->state, RunState::kRunning);
  EXPECT_FALSE(reopened->ended_at);

  // Ids of another run are not cleared.
  RunRecord other = create(new_run("d", RunType::kScheduled, at(1440), {"a"}, v), noop());
  EXPECT_EQ(store_->clear_task_instances(other.id, {a.id}, noop(), at(11)), 0);
}

TEST_P(StoreTest, MarkSetsStateByHandThenDecides) {
  int64_t v = add_dag("d");
  RunRecord run = create(new_run("d", RunType::kScheduled, at(0), {"a", "b"}, v), chain());
  store_->mark_task_instance(ti(run.id, "a").id, TaskState::kSuccess, chain(), at(5));
  EXPECT_EQ(ti(run.id, "a").state, TaskState::kSuccess);
  EXPECT_EQ(ti(run.id, "a").ended_at, at(5));
  EXPECT_EQ(ti(run.id, "b").state, TaskState::kQueued);
  store_->mark_task_instance(ti(run.id, "b").id, TaskState::kSuccess, chain(), at(6));
  EXPECT_EQ(store_->get_run_by_pk(run.id)->state, RunState::kSuccess);
  EXPECT_THROW(store_->mark_task_instance(999999, TaskState::kSuccess, noop(), at(7)),
               NotFoundError);
}

// A mark in an ended run re-decides the run's state from its tasks (found
// by the model harness's marks after a run's end, SLUICE_MODEL_SEED=313: the
// run stayed success with its only task marked failed).
TEST_P(StoreTest, AMarkInAnEndedRunRedecidesItsState) {
  int64_t v = add_dag("d");
  SeenSnapshots seen;
  RunRecord run = create(new_run("d", RunType::kScheduled, at(0), {"a"}, v),
                         worker_decider(kOneTaskDag, seen, at(0), /*start_run=*/true));
  std::vector<ClaimedTask> claimed = claim("w1", 1);
  ASSERT_EQ(claimed.size(), 1u);
  store_->finish_task(result_of(claimed[0], TaskState::kSuccess),
                      worker_decider(kOneTaskDag, seen, at(1)));
  ASSERT_EQ(store_->get_run_by_pk(run.id)->state, RunState::kSuccess);

  const int64_t a = claimed[0].task.id;
  store_->mark_task_instance(a, TaskState::kFailed, worker_decider(kOneTaskDag, seen, at(2)),
                             at(2));
  EXPECT_EQ(store_->get_run_by_pk(run.id)->state, RunState::kFailed);
  store_->mark_task_instance(a, TaskState::kSuccess, worker_decider(kOneTaskDag, seen, at(3)),
                             at(3));
  EXPECT_EQ(store_->get_run_by_pk(run.id)->state, RunState::kSuccess);
}

TEST_P(StoreTest, CancelEndsUnfinishedTasksAndTheRun) {
  int64_t v = add_dag("d");
  RunRecord run = create(new_run("d", RunType::kManual, at(0), {"a", "b", "c"}, v));
  std::vector<ClaimedTask> claimed = claim("w1", 1);
  store_->finish_task(result_of(claimed[0], TaskState::kSuccess), noop());
  claim("w1", 1);  // one running, one queued
  store_->cancel_run(run.id, at(9));

  std::optional<RunRecord> canceled = store_->get_run_by_pk(run.id);
  EXPECT_EQ(canceled->state, RunState::kCanceled);
  EXPECT_EQ(canceled->ended_at, at(9));
  int n_canceled = 0;
  for (const TaskInstanceRecord& t : store_->list_task_instances(run.id)) {
    if (t.id == claimed[0].task.id) {
      EXPECT_EQ(t.state, TaskState::kSuccess);
    } else {
      EXPECT_EQ(t.state, TaskState::kCanceled);
      EXPECT_EQ(t.ended_at, at(9));
      ++n_canceled;
    }
  }
  EXPECT_EQ(n_canceled, 2);
  EXPECT_TRUE(claim("w1", 5).empty());
  EXPECT_TRUE(store_->list_unfinished_runs().empty());
}

TEST_P(StoreTest, DueAlertsAreUndeliveredAndDue) {
  int64_t v = add_dag("d");
  Decider alerting{[](const RunSnapshot& snap) {
    RunDecisions d;
    d.alerts.push_back({"failure", snap.run.dag_id, snap.run.run_id, "", {{"n", 1}}});
    d.alerts.push_back({"retry", snap.run.dag_id, snap.run.run_id, "a", {{"n", 2}}});
    return d;
  }};
  create(new_run("d", RunType::kScheduled, at(0), {"a"}, v), alerting, at(1));
  std::vector<AlertRecord> due = store_->due_alerts(at(1), 10);
  ASSERT_EQ(due.size(), 2u);
  EXPECT_NE(due[0].event_id, due[1].event_id);
  EXPECT_TRUE(store_->due_alerts(at(0), 10).empty());
  EXPECT_EQ(store_->due_alerts(at(1), 1).size(), 1u);

  store_->mark_alert_delivered(due[0].id, at(2));
  store_->mark_alert_failed(due[1].id, "HTTP 500", at(5));
  due = store_->due_alerts(at(4), 10);
  EXPECT_TRUE(due.empty());
  due = store_->due_alerts(at(5), 10);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].event, "retry");
  EXPECT_EQ(due[0].attempts, 1);
  EXPECT_EQ(due[0].last_error, "HTTP 500");

  store_->mark_alert_failed(due[0].id, "gave up", std::nullopt);  // no further attempt
  EXPECT_TRUE(store_->due_alerts(at(100), 10).empty());
  EXPECT_EQ(store_->list_alerts(true, 10).size(), 1u);
  std::vector<AlertRecord> all = store_->list_alerts(false, 10);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].delivered_at, at(2));  // newest first
}

TEST_P(StoreTest, CleanFinishedRunsDeletesOldRunsWithTasksAndLogs) {
  int64_t v = add_dag("d");
  std::vector<RunRecord> runs;
  for (int i = 0; i < 5; ++i) {
    runs.push_back(create(new_run("d", RunType::kScheduled, at(i * 1440), {"a"}, v), noop()));
  }
  int64_t old_ti = ti(runs[0].id, "a").id;
  store_->append_log(old_ti, 1, 0, "old log");
  for (int i = 0; i < 3; ++i) store_->cancel_run(runs[i].id, at(10));  // old and finished
  store_->cancel_run(runs[3].id, at(100));                              // finished, recent
  // runs[4] is unfinished.

  EXPECT_EQ(store_->clean_finished_runs(at(50), /*batch=*/2), 3);
  EXPECT_FALSE(store_->get_run_by_pk(runs[0].id));
  EXPECT_FALSE(store_->get_task_instance(old_ti));
  EXPECT_EQ(store_->read_log(old_ti, 1, 0).data, "");
  EXPECT_TRUE(store_->get_run_by_pk(runs[3].id));
  EXPECT_TRUE(store_->get_run_by_pk(runs[4].id));
  EXPECT_EQ(store_->clean_finished_runs(at(50), 2), 0);
}

TEST_P(StoreTest, ListRunsPagesNewestIntervalFirstAndFilters) {
  int64_t v = add_dag("d");
  add_dag("e");
  for (int i = 0; i < 5; ++i) create(new_run("d", RunType::kScheduled, at(i * 1440), {"a"}, v), noop());
  create(new_run("d", RunType::kBackfill, at(-1440), {"a"}, v), noop());
  create(new_run("e", RunType::kScheduled, at(0), {"a"}, v), noop());

  RunFilter page;
  page.dag_id = "d";
  page.limit = 2;
  std::vector<RunRecord> p1 = store_->list_runs(page);
  ASSERT_EQ(p1.size(), 2u);
  EXPECT_EQ(p1[0].interval.start, at(4 * 1440));
  EXPECT_EQ(p1[1].interval.start, at(3 * 1440));
  page.offset = 4;
  std::vector<RunRecord> p3 = store_->list_runs(page);
  ASSERT_EQ(p3.size(), 2u);
  EXPECT_EQ(p3[1].interval.start, at(-1440));
  EXPECT_EQ(p3[1].type, RunType::kBackfill);

  // `latest`: the run created last (the backfill of the oldest interval).
  RunFilter created_last;
  created_last.dag_id = "d";
  created_last.limit = 1;
  created_last.newest_created_first = true;
  std::vector<RunRecord> newest = store_->list_runs(created_last);
  ASSERT_EQ(newest.size(), 1u);
  EXPECT_EQ(newest[0].interval.start, at(-1440));

  RunFilter backfills;
  backfills.type = RunType::kBackfill;
  EXPECT_EQ(store_->list_runs(backfills).size(), 1u);
  RunFilter everything;
  EXPECT_EQ(store_->list_runs(everything).size(), 7u);

  store_->cancel_run(p1[0].id, at(1));
  RunFilter canceled;
  canceled.state = RunState::kCanceled;
  canceled.dag_id = "d";
  ASSERT_EQ(store_->list_runs(canceled).size(), 1u);
  EXPECT_EQ(store_->list_runs(canceled)[0].id, p1[0].id);

  std::optional<RunRecord> latest = store_->latest_interval_run("d");
  ASSERT_TRUE(latest);
  EXPECT_EQ(latest->interval.start, at(4 * 1440));
  EXPECT_FALSE(store_->latest_interval_run("nope"));
  EXPECT_EQ(store_->list_unfinished_runs().size(), 6u);
}

TEST_P(StoreTest, ConcurrentClaimersClaimEveryTaskExactlyOnce) {
  constexpr int kTasks = 10000;
  constexpr int kThreads = 8;
  int64_t v = add_dag("big", /*max_active_tasks=*/kTasks);
  store_->set_pools({{"default", kTasks}});
  std::vector<std::string> names;
  for (int i = 0; i < kTasks; ++i) names.push_back("t" + std::to_string(i));
  create(new_run("big", RunType::kManual, at(0), names, v));
  std::string url = testing::last_test_store_url(GetParam());

  std::vector<std::vector<int64_t>> claimed(kThreads);
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        std::unique_ptr<Store> mine = Store::open(url);
        ClaimRequest request{"w" + std::to_string(t), {"default"}, at(1), 5};
        while (true) {
          std::vector<ClaimedTask> got;
          try {
            got = mine->claim_tasks(request);
          } catch (const StoreError& e) {
            if (e.retryable()) continue;
            throw;
          }
          if (got.empty()) break;
          for (const ClaimedTask& c : got) claimed[t].push_back(c.task.id);
        }
      } catch (const std::exception& e) {
        errors[t] = e.what();
      }
    });
  }
  for (std::thread& th : threads) th.join();

  std::set<int64_t> unique;
  size_t total = 0;
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(errors[t], "") << "thread " << t;
    total += claimed[t].size();
    unique.insert(claimed[t].begin(), claimed[t].end());
  }
  EXPECT_EQ(total, static_cast<size_t>(kTasks));
  EXPECT_EQ(unique.size(), static_cast<size_t>(kTasks));
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace sluice
