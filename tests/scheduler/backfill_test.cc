// Backfills without processes: the pure planner (reprocess modes, bounds,
// backwards, DST), the date range, and the scheduler pass on a real SQLite
// store with a fake clock (limits, resume from the store alone, cancel).
#include "engine/backfill.h"
#include "scheduler/backfill_pass.h"

#include <gtest/gtest.h>

#include "core/dag.h"
#include "core/dag_loader.h"
#include "core/error.h"
#include "core/store.h"
#include "engine/dag_cache.h"
#include "engine/run_factory.h"
#include "engine/trigger.h"
#include "scheduler/scheduler.h"
#include "tests/core/store_test_util.h"

namespace sluice {
namespace {

using namespace std::chrono_literals;

Timestamp at(const char* iso) { return *parse_timestamp(iso); }

Dag load(const std::string& yaml) {
  LoadResult r = load_dag_text("d.yaml", yaml);
  if (!r.dag) {
    ADD_FAILURE() << "DAG did not load: " << (r.errors.empty() ? "" : r.errors[0].message);
    return Dag{};
  }
  return *r.dag;
}

const char* kDaily = R"(dag: daily
schedule: "@daily"
start_date: 2025-01-01
tasks:
  - {id: a, type: shell, command: "true"}
  - {id: b, type: shell, command: "true", depends_on: [a]}
)";

RunRecord run_at(const char* start, RunState state, RunType type = RunType::kScheduled) {
  RunRecord r;
  r.id = 100 + parse_timestamp(start)->time_since_epoch().count() % 1000;
  r.dag_id = "daily";
  r.type = type;
  r.run_id = make_run_id(type, at(start));
  r.state = state;
  r.interval = {at(start), at(start) + 24h};
  return r;
}

std::vector<std::string> actions(const std::vector<PlannedInterval>& plan) {
  std::vector<std::string> out;
  for (const PlannedInterval& p : plan) {
    out.push_back(format_iso(p.interval.start).substr(0, 10) + " " + p.action + " " + p.reason);
  }
  return out;
}

TEST(BackfillPlanTest, ThirtyOneDaysWithNoRunsCreateThirtyOneInOrder) {
  Dag dag = load(kDaily);
  auto [from, to] = backfill_range(dag, "2026-01-01", "2026-01-31");
  auto plan = plan_backfill(dag, {}, from, to, Reprocess::kNone);
  ASSERT_EQ(plan.size(), 31u);
  EXPECT_EQ(plan.front().interval.start, at("2026-01-01T00:00:00Z"));
  EXPECT_EQ(plan.back().interval.start, at("2026-01-31T00:00:00Z"));
  for (const PlannedInterval& p : plan) {
    EXPECT_EQ(p.action, "create");
    EXPECT_EQ(p.reason, "missing");
  }
}

TEST(BackfillPlanTest, ReprocessModesDecideWhichExistingRunsRunAgain) {
  Dag dag = load(kDaily);
  std::vector<RunRecord> existing = {
      run_at("2026-01-01T00:00:00Z", RunState::kSuccess),
      run_at("2026-01-02T00:00:00Z", RunState::kFailed, RunType::kBackfill),
      run_at("2026-01-03T00:00:00Z", RunState::kRunning),
      run_at("2026-01-04T00:00:00Z", RunState::kQueued),
      run_at("2026-01-05T00:00:00Z", RunState::kCanceled),
      // Manual runs never count as an interval's run.
      run_at("2026-01-06T00:00:00Z", RunState::kSuccess, RunType::kManual),
  };
  auto [from, to] = backfill_range(dag, "2026-01-01", "2026-01-06");

  EXPECT_EQ(actions(plan_backfill(dag, existing, from, to, Reprocess::kNone)),
            (std::vector<std::string>{
                "2026-01-01 skip completed", "2026-01-02 skip failed", "2026-01-03 skip running",
                "2026-01-04 skip running", "2026-01-05 skip canceled",
                "2026-01-06 create missing"}));
  EXPECT_EQ(actions(plan_backfill(dag, existing, from, to, Reprocess::kFailed)),
            (std::vector<std::string>{
                "2026-01-01 skip completed", "2026-01-02 rerun failed", "2026-01-03 skip running",
                "2026-01-04 skip running", "2026-01-05 rerun canceled",
                "2026-01-06 create missing"}));
  // Even `all` never touches a queued or running run.
  EXPECT_EQ(actions(plan_backfill(dag, existing, from, to, Reprocess::kAll)),
            (std::vector<std::string>{
                "2026-01-01 rerun completed", "2026-01-02 rerun failed",
                "2026-01-03 skip running", "2026-01-04 skip running",
                "2026-01-05 rerun canceled", "2026-01-06 create missing"}));
  // A rerun names the run it clears.
  auto plan = plan_backfill(dag, existing, from, to, Reprocess::kFailed);
  EXPECT_EQ(plan[1].run_id, "backfill__2026-01-02T00:00:00Z");
}

TEST(BackfillPlanTest, IntervalsOutsideStartAndEndDateAreReportedNotRun) {
  Dag dag = load(R"(dag: daily
schedule: "@daily"
start_date: 2026-01-03
end_date: 2026-01-04
tasks:
  - {id: a, type: shell, command: "true"}
)");
  auto [from, to] = backfill_range(dag, "2026-01-01", "2026-01-06");
  EXPECT_EQ(actions(plan_backfill(dag, {}, from, to, Reprocess::kAll)),
            (std::vector<std::string>{
                "2026-01-01 skip outside_bounds", "2026-01-02 skip outside_bounds",
                "2026-01-03 create missing", "2026-01-04 create missing",
                "2026-01-05 skip outside_bounds", "2026-01-06 skip outside_bounds"}));
}

TEST(BackfillPlanTest, OnceHasItsSingleIntervalAtStartDate) {
  Dag dag = load(R"(dag: once
schedule: "@once"
start_date: 2026-01-05
tasks:
  - {id: a, type: shell, command: "true"}
)");
  auto [from, to] = backfill_range(dag, "2026-01-01", "2026-01-31");
  EXPECT_EQ(actions(plan_backfill(dag, {}, from, to, Reprocess::kNone)),
            (std::vector<std::string>{"2026-01-05 create missing"}));
  auto [later_from, later_to] = backfill_range(dag, "2026-02-01", "2026-02-02");
  EXPECT_TRUE(plan_backfill(dag, {}, later_from, later_to, Reprocess::kNone).empty());
}

TEST(BackfillPlanTest, BackwardsRunsTheLatestIntervalFirst) {
  Dag dag = load(kDaily);
  auto [from, to] = backfill_range(dag, "2026-01-01", "2026-01-03");
  auto plan = plan_backfill(dag, {}, from, to, Reprocess::kNone, /*backwards=*/true);
  ASSERT_EQ(plan.size(), 3u);
  EXPECT_EQ(plan[0].interval.start, at("2026-01-03T00:00:00Z"));
  EXPECT_EQ(plan[2].interval.start, at("2026-01-01T00:00:00Z"));
}

TEST(BackfillPlanTest, HourlyAcrossDstChangesHasOneIntervalPerLocalHour) {
  Dag dag = load(R"(dag: hourly
schedule: "@hourly"
timezone: Europe/Berlin
start_date: 2026-01-01
tasks:
  - {id: a, type: shell, command: "true"}
)");
  // Spring forward: 02:00-03:00 does not exist, the day has 23 hours.
  auto [spring_from, spring_to] = backfill_range(dag, "2026-03-29", "2026-03-29");
  auto spring = plan_backfill(dag, {}, spring_from, spring_to, Reprocess::kNone);
  EXPECT_EQ(spring.size(), 23u);
  EXPECT_EQ(spring.front().interval.start, at("2026-03-28T23:00:00Z"));  // local midnight
  EXPECT_EQ(spring.back().interval.start, at("2026-03-29T21:00:00Z"));   // local 23:00
  // Fall back: the day has 25 hours; the repeated 02:00 runs once, so its
  // interval is two hours long and the day has 24 intervals.
  auto [fall_from, fall_to] = backfill_range(dag, "2026-10-25", "2026-10-25");
  auto fall = plan_backfill(dag, {}, fall_from, fall_to, Reprocess::kNone);
  EXPECT_EQ(fall.size(), 24u);
  EXPECT_EQ(fall.front().interval.start, at("2026-10-24T22:00:00Z"));
  EXPECT_EQ(fall.back().interval.end, at("2026-10-25T23:00:00Z"));  // next local midnight
  // A week spanning the spring change: 7 * 24 - 1.
  auto [week_from, week_to] = backfill_range(dag, "2026-03-26", "2026-04-01");
  EXPECT_EQ(plan_backfill(dag, {}, week_from, week_to, Reprocess::kNone).size(), 167u);
}

TEST(BackfillRangeTest, DatesAreLocalDaysAndTimestampsAreExact) {
  Dag dag = load(R"(dag: berlin
schedule: "0 2 * * *"
timezone: Europe/Berlin
start_date: 2026-01-01
tasks:
  - {id: a, type: shell, command: "true"}
)");
  auto [from, to] = backfill_range(dag, "2026-01-10", "2026-01-11");
  EXPECT_EQ(from, at("2026-01-09T23:00:00Z"));
  EXPECT_EQ(to, at("2026-01-11T22:59:59.999Z"));
  auto exact = backfill_range(dag, "2026-01-10T02:00:00", "2026-01-10T02:00:00");
  EXPECT_EQ(exact.first, at("2026-01-10T01:00:00Z"));
  EXPECT_EQ(exact.second, at("2026-01-10T01:00:00Z"));
  EXPECT_EQ(plan_backfill(dag, {}, exact.first, exact.second, Reprocess::kNone).size(), 1u);

  EXPECT_THROW(backfill_range(dag, "2026-01-11", "2026-01-10"), UserError);
  try {
    backfill_range(dag, "yesterday", "2026-01-10");
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("--from 'yesterday'"), std::string::npos) << e.what();
  }
}

TEST(BackfillPlanTest, RangesOverTheIntervalLimitAreRefusedWithoutListingThem) {
  // A daily DAG from 2025-01-01: the limit is exactly reachable, one more
  // interval is refused, and two thousand years are refused as quickly.
  Dag dag = load(kDaily);
  Timestamp from = at("2025-01-01T00:00:00Z");
  Timestamp last = from + std::chrono::days(kMaxBackfillIntervals - 1);
  EXPECT_EQ(plan_backfill(dag, {}, from, last, Reprocess::kNone).size(), kMaxBackfillIntervals);
  EXPECT_THROW(plan_backfill(dag, {}, from, last + 24h, Reprocess::kNone), UserError);
  try {
    plan_backfill(dag, {}, from, at("4052-01-05T00:00:00Z"), Reprocess::kNone);
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("more than 10000 data intervals"), std::string::npos)
        << e.what();
  }
}

/// The scheduler's backfill pass over a real SQLite store; runs are ended by
/// marking their tasks, as a worker would finish them.
class BackfillPassTest : public ::testing::Test {
 protected:
  BackfillPassTest() : store_(testing::make_test_store("sqlite")), dags_(*store_) {
    LoadResult r = load_dag_text("daily.yaml", kDaily);
    EXPECT_TRUE(r.dag.has_value());
    dag_ = *r.dag;
    version_ = store_->upsert_dag("daily", "daily.yaml", r.content_hash, r.content,
                                  dag_to_json(dag_), /*initially_paused=*/true, 16, now_);
  }

  BackfillPlan create(const std::string& from, const std::string& to, int max_active,
                      const std::string& reprocess = "none") {
    BackfillRequest request;
    request.dag_id = "daily";
    request.from = from;
    request.to = to;
    request.max_active_runs = max_active;
    request.reprocess = reprocess;
    return create_backfill(*store_, dags_, request, now_);
  }

  std::vector<RunRecord> runs() {
    RunFilter filter;
    filter.dag_id = "daily";
    filter.limit = 1000;
    return store_->list_runs(filter);
  }

  std::vector<RunRecord> active_runs() {
    std::vector<RunRecord> out;
    for (const RunRecord& r : runs()) {
      if (!is_finished(r.state)) out.push_back(r);
    }
    return out;
  }

  /// Starts a run as the scheduler would, then ends it as its tasks would:
  /// each task marked `state`.
  void finish(const RunRecord& run, TaskState state) {
    auto dag = dags_.get(version_);
    store_->reconcile_run(run.id, make_decider(dag, now_, /*start_run=*/true), now_);
    for (const TaskInstanceRecord& ti : store_->list_task_instances(run.id)) {
      store_->mark_task_instance(ti.id, state, "test", make_decider(dag, now_), now_);
    }
  }

  std::unique_ptr<Store> store_;
  DagCache dags_;
  Dag dag_;
  int64_t version_ = 0;
  Timestamp now_ = at("2026-03-01T00:00:00Z");
};

TEST_F(BackfillPassTest, KeepsMaxActiveRunsGoingUntilAllSucceedEvenWhenPaused) {
  BackfillPlan plan = create("2026-01-01", "2026-01-05", 2);
  ASSERT_GT(plan.backfill.id, 0);
  EXPECT_EQ(plan.backfill.total_runs, 5);
  EXPECT_TRUE(runs().empty()) << "the CLI only records the backfill; the scheduler runs it";

  BackfillPass pass(*store_, dags_);
  EXPECT_EQ(pass.advance(now_), now_);
  ASSERT_EQ(active_runs().size(), 2u);
  for (const RunRecord& r : active_runs()) {
    EXPECT_EQ(r.type, RunType::kBackfill);
    EXPECT_EQ(r.backfill_id, plan.backfill.id);
  }
  // Oldest first.
  EXPECT_EQ(runs().back().run_id, "backfill__2026-01-01T00:00:00Z");
  // Nothing ended: no new run.
  EXPECT_EQ(pass.advance(now_), std::nullopt);
  EXPECT_EQ(runs().size(), 2u);

  for (int i = 0; i < 20 && !active_runs().empty(); ++i) {
    finish(active_runs().front(), TaskState::kSuccess);
    pass.advance(now_);
    EXPECT_LE(active_runs().size(), 2u);
  }
  EXPECT_EQ(runs().size(), 5u);
  auto b = store_->get_backfill(plan.backfill.id);
  EXPECT_EQ(b->state, "success");
  EXPECT_EQ(b->succeeded_runs, 5);
  EXPECT_TRUE(b->finished_at.has_value());

  // The same backfill again creates nothing and is done at once.
  BackfillPlan again = create("2026-01-01", "2026-01-05", 2);
  EXPECT_EQ(again.backfill.total_runs, 0);
  EXPECT_EQ(store_->get_backfill(again.backfill.id)->state, "success");
}

TEST_F(BackfillPassTest, AFreshPassResumesFromTheStoreWithoutRunningAnIntervalTwice) {
  BackfillPlan plan = create("2026-01-01", "2026-01-04", 1);
  {
    BackfillPass first(*store_, dags_);
    first.advance(now_);
  }
  ASSERT_EQ(runs().size(), 1u);
  // A scheduler that died after creating a run but before recording it: the
  // run exists with this backfill's id, the interval is still pending.
  NewRun orphan = make_new_run(dag_, version_, RunType::kBackfill,
                               {at("2026-01-02T00:00:00Z"), at("2026-01-03T00:00:00Z")}, {},
                               "backfill__2026-01-02T00:00:00Z");
  orphan.backfill_id = plan.backfill.id;
  ASSERT_TRUE(store_->create_run(orphan, make_decider(dags_.get(version_), now_), now_));

  BackfillPass second(*store_, dags_);  // a restarted scheduler
  for (int i = 0; i < 20 && !active_runs().empty(); ++i) {
    finish(active_runs().front(), TaskState::kSuccess);
    second.advance(now_);
  }
  EXPECT_EQ(runs().size(), 4u);
  auto shown = store_->list_backfill_intervals(plan.backfill.id);
  ASSERT_EQ(shown.size(), 4u);
  EXPECT_EQ(shown[1].run_id, "backfill__2026-01-02T00:00:00Z");
  EXPECT_EQ(store_->get_backfill(plan.backfill.id)->state, "success");
}

TEST_F(BackfillPassTest, ReprocessFailedClearsExactlyTheFailedRunsInPlace) {
  BackfillPlan first = create("2026-01-01", "2026-01-05", 5);
  BackfillPass pass(*store_, dags_);
  pass.advance(now_);
  for (const RunRecord& r : active_runs()) {
    bool fail = r.run_id.find("01-02") != std::string::npos ||
                r.run_id.find("01-04") != std::string::npos;
    finish(r, fail ? TaskState::kFailed : TaskState::kSuccess);
  }
  pass.advance(now_);
  EXPECT_EQ(store_->get_backfill(first.backfill.id)->state, "failed");
  EXPECT_EQ(store_->get_backfill(first.backfill.id)->failed_runs, 2);

  BackfillPlan second = create("2026-01-01", "2026-01-05", 5, "failed");
  EXPECT_EQ(second.backfill.total_runs, 2);
  pass.advance(now_);
  auto active = active_runs();
  ASSERT_EQ(active.size(), 2u);
  EXPECT_EQ(active[0].run_id, "backfill__2026-01-04T00:00:00Z");
  EXPECT_EQ(active[1].run_id, "backfill__2026-01-02T00:00:00Z");
  EXPECT_EQ(active[0].backfill_id, second.backfill.id);
  for (const TaskInstanceRecord& ti : store_->list_task_instances(active[0].id)) {
    EXPECT_NE(ti.state, TaskState::kFailed);
  }
  for (const RunRecord& r : active) finish(r, TaskState::kSuccess);
  pass.advance(now_);
  EXPECT_EQ(runs().size(), 5u) << "cleared in place, never a second run per interval";
  EXPECT_EQ(store_->get_backfill(second.backfill.id)->state, "success");
}

TEST_F(BackfillPassTest, CancelStopsNewIntervalsAndCancelsQueuedRuns) {
  BackfillPlan plan = create("2026-01-01", "2026-01-10", 3);
  BackfillPass pass(*store_, dags_);
  pass.advance(now_);
  ASSERT_EQ(active_runs().size(), 3u);
  // One of them has started.
  RunRecord started = active_runs().back();
  store_->reconcile_run(started.id, make_decider(dags_.get(version_), now_, true), now_);
  ASSERT_EQ(store_->get_run_by_pk(started.id)->state, RunState::kRunning);

  cancel_backfill(*store_, plan.backfill.id, /*terminate_running=*/false, now_);
  EXPECT_EQ(store_->get_backfill(plan.backfill.id)->state, "canceled");
  auto active = active_runs();
  ASSERT_EQ(active.size(), 1u) << "queued runs canceled, the running one finishes";
  EXPECT_EQ(active[0].id, started.id);

  finish(started, TaskState::kSuccess);
  pass.advance(now_);
  EXPECT_EQ(runs().size(), 3u) << "no interval starts after cancel";
  EXPECT_EQ(store_->get_backfill(plan.backfill.id)->state, "canceled");
  EXPECT_THROW(cancel_backfill(*store_, plan.backfill.id, false, now_), UserError);
  EXPECT_THROW(cancel_backfill(*store_, 999, false, now_), NotFoundError);
}

TEST_F(BackfillPassTest, CancelNowAlsoCancelsRunningRuns) {
  BackfillPlan plan = create("2026-01-01", "2026-01-03", 2);
  BackfillPass pass(*store_, dags_);
  pass.advance(now_);
  for (const RunRecord& r : active_runs()) {
    store_->reconcile_run(r.id, make_decider(dags_.get(version_), now_, true), now_);
  }
  cancel_backfill(*store_, plan.backfill.id, /*terminate_running=*/true, now_);
  EXPECT_TRUE(active_runs().empty());
  for (const RunRecord& r : runs()) EXPECT_EQ(r.state, RunState::kCanceled);
}

TEST_F(BackfillPassTest, SchedulerStartsBackfillRunsWithinTheBackfillsOwnLimit) {
  // The DAG allows 1 active run; the backfill asks for 3.
  ASSERT_EQ(dag_.max_active_runs, 1);
  FakeClock clock(now_);
  SchedulerOptions options;
  options.dag_refresh_interval = 0ms;
  Scheduler scheduler(*store_, dags_, clock, options);
  add_backfill_pass(scheduler, *store_, dags_);
  BackfillPlan plan = create("2026-01-01", "2026-01-10", 3);
  scheduler.tick();  // the pass creates 3 queued runs
  scheduler.tick();  // the scheduler starts them
  int running = 0;
  for (const RunRecord& r : runs()) running += r.state == RunState::kRunning;
  EXPECT_EQ(running, 3);
  EXPECT_EQ(runs().size(), 3u);

  // Backfill runs do not use up the DAG's own limit: a manual run starts.
  TriggerRequest trigger;
  trigger.dag_id = "daily";
  trigger.date = "2026-02-01";
  RunRecord manual = trigger_run(*store_, dags_, trigger, now_);
  scheduler.tick();
  EXPECT_EQ(store_->get_run_by_pk(manual.id)->state, RunState::kRunning);
  EXPECT_EQ(store_->get_backfill(plan.backfill.id)->state, "running");
}

TEST_F(BackfillPassTest, BadRequestsNameTheField) {
  auto message = [&](BackfillRequest r) -> std::string {
    try {
      create_backfill(*store_, dags_, r, now_);
    } catch (const UserError& e) {
      return e.what();
    }
    return "";
  };
  BackfillRequest ok;
  ok.dag_id = "daily";
  ok.from = "2026-01-01";
  ok.to = "2026-01-02";
  BackfillRequest r = ok;
  r.reprocess = "some";
  EXPECT_NE(message(r).find("--reprocess 'some'"), std::string::npos);
  r = ok;
  r.max_active_runs = 0;
  EXPECT_NE(message(r).find("--max-active-runs"), std::string::npos);
  r = ok;
  r.conf = {{"nope", 1}};
  EXPECT_NE(message(r).find("nope"), std::string::npos);
  r = ok;
  r.from = "2024-01-01";
  r.to = "2024-01-01";
  // Before start_date: reported, not an error.
  r.dry_run = true;
  BackfillPlan dry = create_backfill(*store_, dags_, r, now_);
  ASSERT_EQ(dry.intervals.size(), 1u);
  EXPECT_EQ(dry.intervals[0].reason, "outside_bounds");
  EXPECT_EQ(dry.backfill.id, 0);
  EXPECT_TRUE(store_->list_backfills("", false, 10).empty()) << "a dry run changes nothing";
  r = ok;
  r.dag_id = "dialy";
  EXPECT_THROW(create_backfill(*store_, dags_, r, now_), NotFoundError);
}

}  // namespace
}  // namespace sluice
