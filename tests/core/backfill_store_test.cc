// The backfill part of the Store contract, against SQLite and Postgres.
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/store.h"
#include "tests/core/store_test_util.h"

namespace sluice {
namespace {

using std::chrono::hours;
const Timestamp kT0 = from_epoch_ms(1767225600000);  // 2026-01-01T00:00:00Z
Timestamp day(int n) { return kT0 + hours(24 * n); }

Decider finish_all(RunState state) {
  Decider decider;
  decider.decide = [state](const RunSnapshot& snap) {
    RunDecisions d;
    for (const TaskStateView& t : snap.tasks) {
      TaskTransition tr;
      tr.ti_id = t.id;
      tr.from = t.state;
      tr.to = state == RunState::kSuccess ? TaskState::kSuccess : TaskState::kFailed;
      d.tasks.push_back(tr);
    }
    d.run_state = state;
    return d;
  };
  return decider;
}

class BackfillStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    store_ = testing::make_test_store(GetParam());
    ASSERT_NE(store_, nullptr);
    version_ = store_->upsert_dag("d", "d.yaml", "h1", "dag: d", nlohmann::json::object(), false,
                                  16, kT0);
  }

  RunRecord make_run(RunType type, int n, RunState end_state,
                     std::optional<int64_t> backfill_id = std::nullopt) {
    NewRun run;
    run.dag_id = "d";
    run.type = type;
    run.run_id = std::string(to_string(type)) + "__" + format_iso(day(n));
    run.version_id = version_;
    run.interval = {day(n), day(n + 1)};
    run.backfill_id = backfill_id;
    run.tasks = {{"a"}, {"b"}};
    auto created = store_->create_run(run, finish_all(end_state), kT0);
    EXPECT_TRUE(created.has_value());
    return *created;
  }

  BackfillRecord backfill(int days) {
    BackfillRecord b;
    b.dag_id = "d";
    b.range_from = day(0);
    b.range_to = day(days - 1);
    b.reprocess = "failed";
    b.max_active_runs = 3;
    b.backwards = true;
    b.conf = {{"k", "v"}};
    b.created_at = kT0;
    b.total_runs = days;
    return b;
  }

  std::unique_ptr<Store> store_;
  int64_t version_ = 0;
};

TEST_P(BackfillStoreTest, CreateStoresTheBackfillAndItsPlan) {
  std::vector<BackfillIntervalRecord> plan(3);
  for (int i = 0; i < 3; ++i) {
    plan[i].interval = {day(i), day(i + 1)};
    plan[i].action = i == 1 ? "skip" : "create";
    plan[i].reason = i == 1 ? "completed" : "missing";
  }
  int64_t id = store_->create_backfill(backfill(3), plan);
  auto got = store_->get_backfill(id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->dag_id, "d");
  EXPECT_EQ(got->range_from, day(0));
  EXPECT_EQ(got->range_to, day(2));
  EXPECT_EQ(got->reprocess, "failed");
  EXPECT_EQ(got->max_active_runs, 3);
  EXPECT_TRUE(got->backwards);
  EXPECT_EQ(got->conf, (nlohmann::json{{"k", "v"}}));
  EXPECT_EQ(got->state, "running");
  EXPECT_FALSE(got->finished_at);
  EXPECT_FALSE(store_->get_backfill(id + 100));

  auto intervals = store_->list_backfill_intervals(id);
  ASSERT_EQ(intervals.size(), 3u);
  EXPECT_EQ(intervals[1].interval.start, day(1));
  EXPECT_EQ(intervals[1].action, "skip");
  EXPECT_EQ(intervals[1].reason, "completed");
  EXPECT_FALSE(intervals[0].run_pk);

  // Linking a run shows its id and state.
  RunRecord run = make_run(RunType::kBackfill, 0, RunState::kSuccess, id);
  EXPECT_EQ(store_->update_backfill_interval(id, day(0), "create", "missing", run.id), "running");
  intervals = store_->list_backfill_intervals(id);
  EXPECT_EQ(intervals[0].run_pk, run.id);
  EXPECT_EQ(intervals[0].run_id, run.run_id);
  EXPECT_EQ(intervals[0].run_state, RunState::kSuccess);

  // Listing: newest first, by DAG, running only.
  int64_t other = store_->create_backfill(backfill(1), {});
  EXPECT_EQ(store_->list_backfills("", false, 10).front().id, other);
  EXPECT_EQ(store_->list_backfills("d", false, 10).size(), 2u);
  EXPECT_TRUE(store_->list_backfills("x", false, 10).empty());
  EXPECT_TRUE(store_->update_backfill(other, "success", 1, 1, 0, day(5)));
  auto running = store_->list_backfills("", true, 10);
  ASSERT_EQ(running.size(), 1u);
  EXPECT_EQ(running[0].id, id);
  EXPECT_EQ(store_->get_backfill(other)->finished_at, day(5));
  EXPECT_EQ(store_->get_backfill(other)->succeeded_runs, 1);
}

TEST_P(BackfillStoreTest, UpdateChangesOnlyARunningBackfill) {
  int64_t id = store_->create_backfill(backfill(2), {});
  EXPECT_TRUE(store_->update_backfill(id, "running", 2, 1, 0, kT0));
  EXPECT_TRUE(store_->update_backfill(id, "canceled", 2, 1, 0, day(1)));
  // A pass that read it as running before the cancel must not revive it.
  EXPECT_FALSE(store_->update_backfill(id, "running", 2, 2, 0, day(2)));
  auto got = store_->get_backfill(id);
  EXPECT_EQ(got->state, "canceled");
  EXPECT_EQ(got->succeeded_runs, 1);
  EXPECT_EQ(store_->update_backfill_interval(id, day(0), "create", "missing", std::nullopt),
            "canceled");
  EXPECT_FALSE(store_->update_backfill(id + 100, "success", 0, 0, 0, kT0));
}

TEST_P(BackfillStoreTest, RerunClearsAFinishedRunInPlace) {
  RunRecord failed = make_run(RunType::kScheduled, 0, RunState::kFailed);
  int64_t id = store_->create_backfill(backfill(1), {});
  ASSERT_TRUE(store_->rerun_for_backfill(failed.id, id, {{"k", "v"}}, day(3)));
  auto run = store_->get_run_by_pk(failed.id);
  EXPECT_EQ(run->state, RunState::kQueued);
  EXPECT_EQ(run->run_id, failed.run_id);
  EXPECT_EQ(run->backfill_id, id);
  EXPECT_EQ(run->conf, (nlohmann::json{{"k", "v"}}));
  EXPECT_FALSE(run->ended_at);
  for (const TaskInstanceRecord& ti : store_->list_task_instances(failed.id)) {
    EXPECT_EQ(ti.state, TaskState::kNone);
    EXPECT_GT(ti.max_tries, ti.try_number) << "tries granted again";
  }
  // Queued now: a second rerun changes nothing.
  EXPECT_FALSE(store_->rerun_for_backfill(failed.id, id + 1, {}, day(3)));
  EXPECT_EQ(store_->get_run_by_pk(failed.id)->backfill_id, id);
  // An empty conf keeps the run's own.
  RunRecord ok = make_run(RunType::kScheduled, 1, RunState::kSuccess);
  ASSERT_TRUE(store_->rerun_for_backfill(ok.id, id, nlohmann::json::object(), day(3)));
  EXPECT_EQ(store_->get_run_by_pk(ok.id)->conf, nlohmann::json::object());
  EXPECT_THROW(store_->rerun_for_backfill(ok.id + 1000, id, {}, day(3)), NotFoundError);
}

TEST_P(BackfillStoreTest, IntervalRunsAreScheduledAndBackfillRunsInRange) {
  make_run(RunType::kScheduled, 0, RunState::kSuccess);
  make_run(RunType::kBackfill, 1, RunState::kFailed);
  make_run(RunType::kManual, 2, RunState::kSuccess);
  make_run(RunType::kScheduled, 3, RunState::kSuccess);
  auto runs = store_->list_interval_runs("d", day(0), day(2));
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].interval.start, day(0));
  EXPECT_EQ(runs[1].type, RunType::kBackfill);
  EXPECT_EQ(store_->list_interval_runs("d", day(1), day(3)).size(), 2u);
  EXPECT_TRUE(store_->list_interval_runs("other", day(0), day(3)).empty());
}

INSTANTIATE_TEST_SUITE_P(Backends, BackfillStoreTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace sluice
