// The high-water marks of incremental extracts in the store, on both
// backends: set by hand, and moved forward only by successful finishes.

#include "tests/core/store_test_fixture.h"

namespace sluice::store_test {
namespace {

class WatermarkStoreTest : public StoreTest {
 protected:
  static Watermark mark_of(const std::string& value, const std::string& run_id = "") {
    Watermark m = make_watermark("updated_at", value);
    m.dag_id = "d";
    m.task_id = "a";
    m.run_id = run_id;
    return m;
  }
  std::string stored() {
    std::optional<Watermark> m = store_->get_watermark("d", "a");
    return m ? m->value : "(none)";
  }
  /// A claimed try of task a in a new manual run starting at `minute`.
  ClaimedTask start_try(int minute) {
    int64_t v = add_dag("d");
    create(new_run("d", RunType::kManual, at(minute), {"a"}, v));
    std::vector<ClaimedTask> c = claim("w1", 1, at(minute + 1));
    if (c.size() != 1) throw std::logic_error("nothing claimed");
    return c[0];
  }
  TaskResult finish_with(const ClaimedTask& c, TaskState state, const std::string& value) {
    TaskResult r = result_of(c, state, at(2));
    r.task_id = "a";
    r.watermark = mark_of(value, c.run.run_id);
    return r;
  }
};

TEST_P(WatermarkStoreTest, SetReadAndResetByHand) {
  EXPECT_FALSE(store_->get_watermark("d", "a"));
  Watermark m = mark_of("2026-01-02 03:04:05+00");
  m.updated_at = at(5);
  store_->set_watermark(m);
  std::optional<Watermark> read = store_->get_watermark("d", "a");
  ASSERT_TRUE(read);
  EXPECT_EQ(*read, m);
  EXPECT_EQ(read->kind, "timestamp");
  // By hand a mark may move backwards.
  store_->set_watermark(mark_of("2025-01-01"));
  EXPECT_EQ(stored(), "2025-01-01");
  EXPECT_FALSE(store_->get_watermark("d", "b"));
  EXPECT_TRUE(store_->delete_watermark("d", "a"));
  EXPECT_FALSE(store_->delete_watermark("d", "a"));
  EXPECT_EQ(stored(), "(none)");
}

TEST_P(WatermarkStoreTest, OnlyASuccessfulFinishMovesTheMark) {
  ClaimedTask failing = start_try(0);
  store_->finish_task(finish_with(failing, TaskState::kFailed, "10"), noop());
  EXPECT_EQ(stored(), "(none)");

  ClaimedTask ok = start_try(1440);
  store_->finish_task(finish_with(ok, TaskState::kSuccess, "10"), noop());
  std::optional<Watermark> m = store_->get_watermark("d", "a");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->value, "10");
  EXPECT_EQ(m->kind, "number");
  EXPECT_EQ(m->run_id, ok.run.run_id);
  EXPECT_EQ(m->updated_at, at(2));

  // A try that is no longer this worker's (its finish conflicts) moves nothing.
  EXPECT_THROW(store_->finish_task(finish_with(ok, TaskState::kSuccess, "99"), noop()),
               ConflictError);
  EXPECT_EQ(stored(), "10");
}

TEST_P(WatermarkStoreTest, FinishesOutOfOrderNeverMoveTheMarkBackwards) {
  // Two runs of the task (a backfill beside the scheduled run) are running.
  int64_t v = add_dag("d");
  create(new_run("d", RunType::kManual, at(0), {"a"}, v));
  create(new_run("d", RunType::kBackfill, at(-1440), {"a"}, v));
  std::vector<ClaimedTask> c = claim("w1", 2);
  ASSERT_EQ(c.size(), 2u);
  // The one that read further finishes first; the other's lower mark is kept out.
  store_->finish_task(finish_with(c[0], TaskState::kSuccess, "10"), noop());
  store_->finish_task(finish_with(c[1], TaskState::kSuccess, "9.5"), noop());
  EXPECT_EQ(stored(), "10");
  EXPECT_EQ(store_->get_watermark("d", "a")->run_id, c[0].run.run_id);

  ClaimedTask later = start_try(2880);
  store_->finish_task(finish_with(later, TaskState::kSuccess, "-3"), noop());
  EXPECT_EQ(stored(), "10");  // compared as numbers: "-3" is not after "10"
  ClaimedTask next = start_try(4320);
  store_->finish_task(finish_with(next, TaskState::kSuccess, "100"), noop());
  EXPECT_EQ(stored(), "100");  // and "100" is after "10"

  // A mark of another kind (the column now holds timestamps) starts over.
  ClaimedTask other = start_try(5760);
  store_->finish_task(finish_with(other, TaskState::kSuccess, "2026-01-01"), noop());
  EXPECT_EQ(stored(), "2026-01-01");
}

TEST_P(WatermarkStoreTest, ConcurrentFinishesKeepTheGreatestMark) {
  int64_t v = add_dag("d");
  constexpr int kRuns = 8;
  for (int i = 0; i < kRuns; ++i) create(new_run("d", RunType::kBackfill, at(1440 * i), {"a"}, v));
  std::vector<ClaimedTask> c = claim("w1", kRuns);
  ASSERT_EQ(c.size(), static_cast<size_t>(kRuns));
  std::vector<std::thread> threads;
  for (int i = 0; i < kRuns; ++i) {
    threads.emplace_back([&, i] {
      store_->finish_task(finish_with(c[i], TaskState::kSuccess, std::to_string(100 + i)), noop());
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(stored(), std::to_string(100 + kRuns - 1));
}

TEST_P(WatermarkStoreTest, AFinishTheStoreCouldPredictStillStoresTheMark) {
  SeenSnapshots seen;
  RunRecord run = start_chain(seen);
  std::vector<ClaimedTask> c = claim("w1", 1);
  ASSERT_EQ(c.size(), 1u);
  TaskResult r = finish_with(c[0], TaskState::kSuccess, "2026-01-05T00:00:00Z");
  store_->finish_task(r, worker_decider(kChainDag, seen, at(2)));
  EXPECT_EQ(stored(), "2026-01-05T00:00:00Z");
  EXPECT_EQ(ti(run.id, "b").state, TaskState::kQueued);
}

INSTANTIATE_TEST_SUITE_P(Backends, WatermarkStoreTest, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace sluice::store_test
