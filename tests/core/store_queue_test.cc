// The Store contract of the run queue (claim, finish, retries, clear, mark,
// cancel), run against every backend; instantiated in store_test.cc.

#include "tests/core/store_test_fixture.h"

namespace sluice::store_test {
namespace {

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
  store_->mark_task_instance(ti(run.id, "b").id, TaskState::kFailed, "test", noop(), at(1));

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
  store_->mark_task_instance(ti(first.id, "a").id, TaskState::kSuccess, "test", noop(), at(1));
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
  store_->mark_task_instance(ti(run.id, "a").id, TaskState::kSuccess, "cli: ann@box", chain(),
                             at(5));
  EXPECT_EQ(ti(run.id, "a").state, TaskState::kSuccess);
  // A task that never ran gets no times from a mark: who and when are kept apart.
  EXPECT_FALSE(ti(run.id, "a").ended_at);
  EXPECT_EQ(ti(run.id, "a").marked_at, at(5));
  EXPECT_EQ(ti(run.id, "a").marked_by, "cli: ann@box");
  EXPECT_EQ(ti(run.id, "b").state, TaskState::kQueued);
  store_->mark_task_instance(ti(run.id, "b").id, TaskState::kSuccess, "test", chain(), at(6));
  EXPECT_EQ(store_->get_run_by_pk(run.id)->state, RunState::kSuccess);
  EXPECT_THROW(store_->mark_task_instance(999999, TaskState::kSuccess, "test", noop(), at(7)),
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
  const TaskInstanceRecord before = *store_->get_task_instance(a);
  store_->mark_task_instance(a, TaskState::kFailed, "test", worker_decider(kOneTaskDag, seen, at(2)),
                             at(2));
  EXPECT_EQ(store_->get_run_by_pk(run.id)->state, RunState::kFailed);
  // The try's own times and exit code stay; the mark is recorded beside them.
  const TaskInstanceRecord after = *store_->get_task_instance(a);
  EXPECT_EQ(after.started_at, before.started_at);
  EXPECT_EQ(after.ended_at, before.ended_at);
  EXPECT_EQ(after.exit_code, before.exit_code);
  EXPECT_EQ(after.marked_at, at(2));
  store_->mark_task_instance(a, TaskState::kSuccess, "test", worker_decider(kOneTaskDag, seen, at(3)),
                             at(3));
  EXPECT_EQ(store_->get_run_by_pk(run.id)->state, RunState::kSuccess);
}

TEST_P(StoreTest, AMarkEndsARunningTryAtTheMarkAndAClearForgetsTheMark) {
  int64_t v = add_dag("d");
  RunRecord run = create(new_run("d", RunType::kScheduled, at(0), {"a"}, v));
  std::vector<ClaimedTask> claimed = claim("w1", 1, at(1));
  ASSERT_EQ(claimed.size(), 1u);
  const int64_t a = claimed[0].task.id;
  store_->mark_task_instance(a, TaskState::kSuccess, "api: 127.0.0.1", noop(), at(4));
  TaskInstanceRecord marked = *store_->get_task_instance(a);
  EXPECT_EQ(marked.started_at, at(1));
  EXPECT_EQ(marked.ended_at, at(4));  // the worker stops the try now
  EXPECT_EQ(marked.marked_by, "api: 127.0.0.1");

  store_->clear_task_instances(run.id, {a}, noop(), at(6));
  TaskInstanceRecord cleared = *store_->get_task_instance(a);
  EXPECT_FALSE(cleared.marked_at);
  EXPECT_EQ(cleared.marked_by, "");
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

}  // namespace
}  // namespace sluice::store_test
