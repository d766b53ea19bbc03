// The Store contract, run against every backend: each TEST_P runs once for
// SQLite and once for Postgres. The run queue's part (claim, finish, retry,
// clear, mark, cancel) is in store_queue_test.cc.

#include "tests/core/store_test_fixture.h"

namespace sluice::store_test {
namespace {

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
  EXPECT_EQ(store_->count_runs(page), 6) << "the count ignores limit and offset";

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
  EXPECT_EQ(store_->count_runs(backfills), 1);
  RunFilter everything;
  EXPECT_EQ(store_->list_runs(everything).size(), 7u);
  EXPECT_EQ(store_->count_runs(everything), 7);

  store_->cancel_run(p1[0].id, at(1));
  RunFilter canceled;
  canceled.state = RunState::kCanceled;
  canceled.dag_id = "d";
  ASSERT_EQ(store_->list_runs(canceled).size(), 1u);
  EXPECT_EQ(store_->list_runs(canceled)[0].id, p1[0].id);
  EXPECT_EQ(store_->count_runs(canceled), 1);

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
}  // namespace sluice::store_test

namespace sluice::store_test {
namespace {

CheckResultRecord check_result(int seq, const std::string& name, const std::string& status,
                               std::optional<double> value) {
  CheckResultRecord r;
  r.seq = seq;
  r.name = name;
  r.kind = "not_null";
  r.severity = "error";
  r.status = status;
  r.actual = value ? std::to_string(static_cast<int>(*value)) + " NULL rows" : "error: no table";
  r.value = value;
  r.threshold = "0 NULL rows";
  return r;
}

TEST_P(StoreTest, CheckResultsAreStoredWithTheTrysEndAndListedNewestIntervalFirst) {
  int64_t v = add_dag("d");
  // Two daily runs of one check task; the first day's try fails, then is retried.
  RunRecord day1 = create(new_run("d", RunType::kScheduled, at(0), {"checks"}, v), queue_all());
  RunRecord day2 = create(new_run("d", RunType::kScheduled, at(1440), {"checks"}, v), queue_all());
  auto c = claim("w1", 2, at(1441));
  ASSERT_EQ(c.size(), 2u);
  for (const ClaimedTask& t : c) {
    bool first_day = t.run.id == day1.id;
    TaskResult r = result_of(t, first_day ? TaskState::kUpForRetry : TaskState::kSuccess, at(1442));
    if (first_day) r.next_try_at = at(1442);
    r.checks = {check_result(0, "ids", first_day ? "fail" : "pass", first_day ? 3 : 0),
                check_result(1, "amounts", "error", std::nullopt)};
    store_->finish_task(r, noop());
  }
  // A try that lost its claim stores nothing.
  TaskResult stale = result_of(c[1], TaskState::kSuccess, at(1443));
  stale.checks = {check_result(0, "ids", "pass", 0)};
  EXPECT_THROW(store_->finish_task(stale, noop()), ConflictError);

  CheckResultFilter all;
  all.dag_id = "d";
  std::vector<CheckResultRecord> results = store_->list_check_results(all);
  ASSERT_EQ(results.size(), 4u);
  EXPECT_EQ(results[0].run_id, day2.run_id);
  EXPECT_EQ(results[0].interval_start, day2.interval.start);
  EXPECT_EQ(results[0].interval_end, day2.interval.end);
  EXPECT_EQ(results[0].task_id, "checks");
  EXPECT_EQ(results[0].try_number, 1);
  EXPECT_EQ(results[0].name, "ids");
  EXPECT_EQ(results[0].status, "pass");
  EXPECT_EQ(results[0].value, 0);
  EXPECT_EQ(results[0].recorded_at, at(1442));
  EXPECT_EQ(results[1].name, "amounts");
  EXPECT_FALSE(results[1].value.has_value());
  EXPECT_EQ(results[1].actual, "error: no table");
  EXPECT_EQ(results[2].run_id, day1.run_id);
  EXPECT_EQ(results[2].status, "fail");
  EXPECT_EQ(results[2].value, 3);
  EXPECT_EQ(results[2].threshold, "0 NULL rows");
  CheckResultFilter paged = all;
  paged.limit = 1;
  paged.offset = 3;
  EXPECT_EQ(store_->count_check_results(paged), 4) << "the count ignores limit and offset";

  CheckResultFilter history = all;
  history.task_id = "checks";
  history.name = "ids";
  history.passed_only = true;
  history.before_interval = day2.interval.start + std::chrono::hours(1);
  results = store_->list_check_results(history);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].run_id, day2.run_id);
  EXPECT_EQ(store_->count_check_results(history), 1);
  history.before_interval = day2.interval.start;
  EXPECT_TRUE(store_->list_check_results(history).empty());

  CheckResultFilter one = all;
  one.ti_id = results.empty() ? 0 : c[0].task.id;
  one.limit = 1;
  one.offset = 1;
  results = store_->list_check_results(one);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].ti_id, c[0].task.id);
  EXPECT_EQ(results[0].seq, 1);
  CheckResultFilter other = all;
  other.dag_id = "other";
  EXPECT_TRUE(store_->list_check_results(other).empty());
  EXPECT_EQ(store_->count_check_results(other), 0);
}

}  // namespace
}  // namespace sluice::store_test
