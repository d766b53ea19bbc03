// Store operations of dynamic task mapping, on both backends.

#include <gtest/gtest.h>

#include <algorithm>

#include "core/error.h"
#include "core/store.h"
#include "tests/core/store_test_util.h"

namespace sluice {
namespace {

using std::chrono::minutes;

const Timestamp kT0 = from_epoch_ms(1767225600000);  // 2026-01-01T00:00:00Z

/// Queues every task in `none` and starts the run.
Decider queue_all() {
  Decider decider;
  decider.decide = [](const RunSnapshot& snap) {
    RunDecisions d;
    for (const TaskStateView& t : snap.tasks) {
      if (t.state == TaskState::kNone) {
        d.tasks.push_back(TaskTransition{t.id, TaskState::kNone, TaskState::kQueued, {}, ""});
      }
    }
    d.run_state = RunState::kRunning;
    return d;
  };
  return decider;
}

class MappingStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    store_ = testing::make_test_store(GetParam());
    ASSERT_NE(store_, nullptr);
    store_->upsert_dag("d", "dags/d.yaml", "h", "dag: d", nlohmann::json{{"dag", "d"}}, false, 16,
                       kT0);
    NewRun run;
    run.dag_id = "d";
    run.run_id = "manual__1";
    run.version_id = 1;
    run.interval = DataInterval{kT0, kT0 + std::chrono::hours(24)};
    run.tasks.push_back(NewRun::Task{"fan", 3, "default", 5, "default"});
    std::optional<RunRecord> created = store_->create_run(run, queue_all(), kT0);
    ASSERT_TRUE(created);
    run_pk_ = created->id;
  }

  /// Claims the placeholder, as the worker that expands it does.
  ClaimedTask claim_placeholder() {
    std::vector<ClaimedTask> claimed =
        store_->claim_tasks(ClaimRequest{"w1", {"default"}, kT0 + minutes(1), 1});
    EXPECT_EQ(claimed.size(), 1u);
    return claimed.at(0);
  }

  std::vector<TaskInstanceRecord> instances() {
    std::vector<TaskInstanceRecord> all = store_->list_task_instances(run_pk_);
    std::sort(all.begin(), all.end(),
              [](const auto& a, const auto& b) { return a.map_index < b.map_index; });
    return all;
  }

  std::unique_ptr<Store> store_;
  int64_t run_pk_ = 0;
};

TEST_P(MappingStoreTest, ExpandReplacesThePlaceholderByOneFreshInstancePerItem) {
  // Given a claimed placeholder of a mapped task
  ClaimedTask placeholder = claim_placeholder();
  ASSERT_EQ(placeholder.task.map_index, -1);
  ASSERT_EQ(placeholder.task.try_number, 1);

  // When it expands into three items, with a decider queueing what is new
  std::vector<nlohmann::json> items = {"a.csv", nlohmann::json{{"k", 2}}, 7};
  FinishOutcome outcome = store_->expand_mapped_task(placeholder.task.id, 1, "w1", items,
                                                     queue_all(), kT0 + minutes(2));

  // Then there are instances 0..2, each with its item, tries fresh and queued
  EXPECT_EQ(outcome.queued, 3);
  std::vector<TaskInstanceRecord> all = instances();
  ASSERT_EQ(all.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(all[i].map_index, i);
    EXPECT_EQ(all[i].task_id, "fan");
    EXPECT_EQ(all[i].state, TaskState::kQueued);
    EXPECT_EQ(all[i].try_number, 0);
    EXPECT_EQ(all[i].max_tries, 3);
    EXPECT_EQ(all[i].priority, 5);
    EXPECT_EQ(store_->get_map_item(all[i].id), items[i]);
  }
  EXPECT_EQ(all[0].id, placeholder.task.id);  // the placeholder became instance 0

  // And each instance is claimed and run on its own, starting at try 1
  std::vector<ClaimedTask> claimed =
      store_->claim_tasks(ClaimRequest{"w2", {"default"}, kT0 + minutes(3), 10});
  ASSERT_EQ(claimed.size(), 3u);
  for (const ClaimedTask& c : claimed) EXPECT_EQ(c.task.try_number, 1);
}

TEST_P(MappingStoreTest, ExpandIsACompareAndSetOnThePlaceholdersTry) {
  // Given a claimed placeholder
  ClaimedTask placeholder = claim_placeholder();

  // When another worker (or a stale try) tries to expand it, it conflicts
  EXPECT_THROW(store_->expand_mapped_task(placeholder.task.id, 1, "w-other", {"x"}, queue_all(),
                                          kT0 + minutes(2)),
               ConflictError);
  EXPECT_THROW(store_->expand_mapped_task(placeholder.task.id, 2, "w1", {"x"}, queue_all(),
                                          kT0 + minutes(2)),
               ConflictError);

  // Then a first expansion works and a second one (now instance 0) conflicts
  store_->expand_mapped_task(placeholder.task.id, 1, "w1", {"x", "y"}, queue_all(),
                             kT0 + minutes(2));
  EXPECT_THROW(store_->expand_mapped_task(placeholder.task.id, 1, "w1", {"x"}, queue_all(),
                                          kT0 + minutes(2)),
               ConflictError);
  EXPECT_EQ(instances().size(), 2u);
}

TEST_P(MappingStoreTest, UnmappedInstancesHaveNoItem) {
  EXPECT_TRUE(store_->get_map_item(instances().at(0).id).is_null());
}

INSTANTIATE_TEST_SUITE_P(Backends, MappingStoreTest, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace sluice
