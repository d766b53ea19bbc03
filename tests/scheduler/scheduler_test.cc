// The scheduler loop with a fake clock and a real SQLite store: runs created
// from schedules (once per interval, catchup or not, paused DAGs none), runs
// started within max_active_runs, DAG files synced only when changed.
#include "scheduler/scheduler.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "core/error.h"

#include "core/store.h"
#include "engine/dag_cache.h"
#include "engine/dag_sync.h"
#include "engine/next_run.h"
#include "engine/run_factory.h"
#include "engine/trigger.h"
#include "tests/core/fault_store.h"
#include "tests/core/store_test_util.h"
#include "tests/test_util.h"

namespace sluice {
namespace {

using namespace std::chrono_literals;

Timestamp at(const char* iso) { return *parse_timestamp(iso); }

class SchedulerTest : public ::testing::Test {
 protected:
  SchedulerTest() : store_(testing::make_test_store("sqlite")), dags_(*store_), clock_(at("2026-03-10T12:00:00Z")) {}

  void write_dag(const std::string& name, const std::string& yaml) {
    dir_.write(name + ".yaml", yaml);
  }

  Scheduler make_scheduler() { return make_scheduler(*store_); }

  Scheduler make_scheduler(Store& store) {
    SchedulerOptions options;
    options.dags_folder = dir_.path();
    options.sync_interval = 0ms;
    options.dag_refresh_interval = 0ms;
    return Scheduler(store, dags_, clock_, options);
  }

  std::vector<RunRecord> runs(const std::string& dag) {
    RunFilter filter;
    filter.dag_id = dag;
    filter.limit = 1000;
    return store_->list_runs(filter);
  }

  testing::TempDir dir_;
  std::unique_ptr<Store> store_;
  DagCache dags_;
  FakeClock clock_;
};

TEST_F(SchedulerTest, CatchupCreatesEveryMissedIntervalOnceAcrossRestarts) {
  write_dag("daily", R"(dag: daily
schedule: "0 2 * * *"
start_date: 2026-03-05
catchup: true
max_active_runs: 2
tasks:
  - {id: a, type: shell, command: "true"}
)");
  {
    Scheduler scheduler = make_scheduler();
    scheduler.tick();
  }
  // Intervals starting Mar 5..Mar 9 02:00 have ended by Mar 10 12:00.
  auto created = runs("daily");
  ASSERT_EQ(created.size(), 5u);
  EXPECT_EQ(created.back().run_id, "scheduled__2026-03-05T02:00:00Z");
  EXPECT_EQ(created.front().run_id, "scheduled__2026-03-09T02:00:00Z");

  // A restarted scheduler (or a standby) creates none of them again.
  Scheduler again = make_scheduler();
  again.tick();
  EXPECT_EQ(runs("daily").size(), 5u);

  // max_active_runs: 2 of the 5 are running, the oldest first.
  int running = 0;
  for (const RunRecord& r : runs("daily")) {
    if (r.state == RunState::kRunning) {
      ++running;
      EXPECT_LE(r.interval.start, at("2026-03-06T02:00:00Z"));
    }
  }
  EXPECT_EQ(running, 2);

  // The next interval is created once it ends, not before.
  clock_.set(at("2026-03-11T01:59:00Z"));
  again.tick();
  EXPECT_EQ(runs("daily").size(), 5u);
  clock_.set(at("2026-03-11T02:00:00Z"));
  again.tick();
  EXPECT_EQ(runs("daily").size(), 6u);
}

TEST_F(SchedulerTest, CatchupFromFarInThePastCreatesRunsOnlyAsEarlierOnesStart) {
  // given a per-minute schedule from 1970 with catch-up: 29 million intervals
  write_dag("flood", R"(dag: flood
schedule: "* * * * *"
start_date: 1970-01-01
catchup: true
max_active_runs: 2
tasks:
  - {id: a, type: shell, command: "true"}
)");
  SchedulerOptions options;  // the default intervals: a pass is not due at once
  options.dags_folder = dir_.path();
  Scheduler scheduler(*store_, dags_, clock_, options);

  // then a pass creates 16 queued runs, the oldest intervals, and starts 2
  Timestamp next = scheduler.tick();
  auto created = runs("flood");
  ASSERT_EQ(created.size(), 16u);
  EXPECT_EQ(created.back().interval.start, at("1970-01-01T00:00:00Z"));
  // and waiting for room makes no pass due at once
  EXPECT_GT(next, clock_.now());
  // the next pass tops the queue up to 16 again, no more
  scheduler.tick();
  EXPECT_EQ(runs("flood").size(), 18u);
  scheduler.tick();
  EXPECT_EQ(runs("flood").size(), 18u);

  // when the running runs end, the next ones start and the queue refills
  for (const RunRecord& run : runs("flood")) {
    if (run.state == RunState::kRunning) store_->cancel_run(run.id, clock_.now());
  }
  scheduler.tick();
  scheduler.tick();
  int queued = 0;
  int running = 0;
  for (const RunRecord& run : runs("flood")) {
    queued += run.state == RunState::kQueued;
    running += run.state == RunState::kRunning;
  }
  EXPECT_EQ(queued, 16);
  EXPECT_EQ(running, 2);
  EXPECT_EQ(runs("flood").size(), 20u);
}

TEST_F(SchedulerTest, WithoutCatchupOnlyTheLatestIntervalRuns) {
  write_dag("nocatch", R"(dag: nocatch
schedule: "@daily"
start_date: 2026-01-01
tasks:
  - {id: a, type: shell, command: "true"}
)");
  Scheduler scheduler = make_scheduler();
  scheduler.tick();
  auto created = runs("nocatch");
  ASSERT_EQ(created.size(), 1u);
  EXPECT_EQ(created[0].interval.start, at("2026-03-09T00:00:00Z"));
  EXPECT_EQ(created[0].state, RunState::kRunning);
}

TEST_F(SchedulerTest, PausedDagsCreateNothingUntilUnpaused) {
  write_dag("paused", R"(dag: paused
schedule: "@hourly"
start_date: 2026-03-10
paused: true
tasks:
  - {id: a, type: shell, command: "true"}
)");
  Scheduler scheduler = make_scheduler();
  scheduler.tick();
  EXPECT_TRUE(runs("paused").empty());
  store_->set_paused("paused", false);
  scheduler.tick();
  EXPECT_EQ(runs("paused").size(), 1u);
}

TEST_F(SchedulerTest, OnceRunsExactlyOnce) {
  write_dag("once", R"(dag: once
schedule: "@once"
start_date: 2026-03-01
tasks:
  - {id: a, type: shell, command: "true"}
)");
  Scheduler scheduler = make_scheduler();
  scheduler.tick();
  clock_.advance(std::chrono::hours(48));
  scheduler.tick();
  EXPECT_EQ(runs("once").size(), 1u);
}

TEST_F(SchedulerTest, ManualRunsAreNeverMergedAndRespectConf) {
  write_dag("manual", R"(dag: manual
schedule: null
params: {country: us}
tasks:
  - {id: a, type: shell, command: "echo {{ params.country }}"}
)");
  DagFolderSync(*store_, dir_.path()).sync(clock_.now());
  TriggerRequest request{"manual", std::nullopt, {{"country", "de"}}};
  RunRecord first = trigger_run(*store_, dags_, request, clock_.now());
  RunRecord second = trigger_run(*store_, dags_, request, clock_.now());
  EXPECT_NE(first.run_id, second.run_id);
  EXPECT_EQ(first.conf["country"], "de");
  TriggerRequest bad{"manual", std::nullopt, {{"contry", "de"}}};
  try {
    trigger_run(*store_, dags_, bad, clock_.now());
    FAIL() << "an unknown conf key must be refused";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'country'"), std::string::npos) << e.what();
  }
  EXPECT_EQ(runs("manual").size(), 2u);
}

TEST_F(SchedulerTest, ManualIntervalFollowsTheDateRules) {
  write_dag("berlin", R"(dag: berlin
schedule: "0 2 * * *"
timezone: Europe/Berlin
start_date: 2026-01-01
tasks:
  - {id: a, type: shell, command: "true"}
)");
  DagFolderSync(*store_, dir_.path()).sync(clock_.now());
  auto dag = dags_.get(*store_->get_dag("berlin")->version_id);
  // A bare date: the interval starting that day, 02:00 Berlin = 01:00 UTC in winter.
  DataInterval day = manual_interval(*dag, std::string("2026-02-03"), clock_.now());
  EXPECT_EQ(day.start, at("2026-02-03T01:00:00Z"));
  EXPECT_EQ(day.end, at("2026-02-04T01:00:00Z"));
  // A timestamp: the interval containing it.
  DataInterval containing = manual_interval(*dag, std::string("2026-02-03T01:00:00"), clock_.now());
  EXPECT_EQ(containing.start, at("2026-02-02T01:00:00Z"));
  // None: the latest complete interval.
  DataInterval latest = manual_interval(*dag, std::nullopt, clock_.now());
  EXPECT_EQ(latest.end, at("2026-03-10T01:00:00Z"));
  EXPECT_THROW(manual_interval(*dag, std::string("yesterday"), clock_.now()), UserError);
}

TEST_F(SchedulerTest, ManualIntervalDayRunsFromLocalMidnightToMidnight) {
  write_dag("late", R"(dag: late
schedule: "30 23 * * *"
timezone: Europe/Berlin
start_date: 2026-01-01
tasks:
  - {id: a, type: shell, command: "true"}
)");
  write_dag("monday", R"(dag: monday
schedule: "30 0 * * 1"
timezone: Europe/Berlin
start_date: 2026-01-01
tasks:
  - {id: a, type: shell, command: "true"}
)");
  DagFolderSync(*store_, dir_.path()).sync(clock_.now());
  auto late = dags_.get(*store_->get_dag("late")->version_id);
  auto monday = dags_.get(*store_->get_dag("monday")->version_id);
  // 2026-10-25 has 25 hours in Berlin, 00:00 CEST (22:00Z) to 24:00 CET
  // (23:00Z the next day): its 23:30 CET (22:30Z) starts on it.
  DataInterval long_day = manual_interval(*late, std::string("2026-10-25"), clock_.now());
  EXPECT_EQ(long_day.start, at("2026-10-25T22:30:00Z"));
  EXPECT_EQ(long_day.end, at("2026-10-26T22:30:00Z"));
  // 2026-03-29, a Sunday, has 23 hours, 00:00 CET (23:00Z) to 24:00 CEST
  // (22:00Z): Monday 00:30 CEST (22:30Z) does not start on it.
  try {
    DataInterval wrong = manual_interval(*monday, std::string("2026-03-29"), clock_.now());
    ADD_FAILURE() << "got the interval starting " << format_iso(wrong.start);
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("no data interval of DAG 'monday' (schedule 30 0 * * 1) "
                                         "starts on 2026-03-29"),
              std::string::npos)
        << e.what();
  }
  DataInterval next_day = manual_interval(*monday, std::string("2026-03-30"), clock_.now());
  EXPECT_EQ(next_day.start, at("2026-03-29T22:30:00Z"));
  EXPECT_EQ(next_day.end, at("2026-04-05T22:30:00Z"));
  // The days around them are 24 hours.
  EXPECT_EQ(manual_interval(*late, std::string("2026-10-24"), clock_.now()).start,
            at("2026-10-24T21:30:00Z"));
  EXPECT_EQ(manual_interval(*late, std::string("2026-03-29"), clock_.now()).start,
            at("2026-03-29T21:30:00Z"));
}

TEST_F(SchedulerTest, UnchangedFilesAreNotParsedAgain) {
  write_dag("one", "dag: one\nschedule: null\ntasks:\n  - {id: a, type: shell, command: \"true\"}\n");
  write_dag("two", "dag: two\nschedule: null\ntasks:\n  - {id: a, type: shell, command: \"true\"}\n");
  DagFolderSync sync(*store_, dir_.path());
  SyncReport first = sync.sync(clock_.now());
  EXPECT_EQ(first.parsed, 2);
  EXPECT_EQ(first.stored, 2);
  SyncReport second = sync.sync(clock_.now());
  EXPECT_EQ(second.parsed, 0);
  // A changed file is parsed again and stored as a new version.
  write_dag("two", "dag: two\nschedule: null\ntasks:\n  - {id: b, type: shell, command: \"true\"}\n");
  SyncReport third = sync.sync(clock_.now());
  EXPECT_EQ(third.parsed, 1);
  EXPECT_EQ(third.stored, 1);
  // A file with errors keeps the DAG's last good version and records the error.
  write_dag("two", "dag: two\nschedule: null\ntasks:\n  - {id: b, type: shel, command: \"true\"}\n");
  SyncReport fourth = sync.sync(clock_.now());
  EXPECT_EQ(fourth.errors, 1);
  auto errors = store_->list_file_errors();
  ASSERT_EQ(errors.size(), 1u);
  auto record = store_->get_dag("two");
  ASSERT_TRUE(record && record->version_id);
  EXPECT_EQ(dags_.get(*record->version_id)->tasks[0].id, "b");
  // A removed file marks its DAG inactive.
  std::filesystem::remove(dir_.file("one.yaml"));
  sync.sync(clock_.now());
  EXPECT_FALSE(store_->get_dag("one")->active);
}

TEST_F(SchedulerTest, ChangedFilesAreParsedSmallestFirstWithinTheParseBudget) {
  // given a large file that sorts first and two small ones
  std::string big = "dag: a_big\nschedule: null\nparams:\n";
  for (int i = 0; i < 20000; ++i) big += "  k" + std::to_string(i) + ": v\n";
  write_dag("a_big", big + "tasks:\n  - {id: a, type: shell, command: \"true\"}\n");
  write_dag("b_small", "dag: b_small\nschedule: null\ntasks:\n  - {id: a, type: shell, command: \"true\"}\n");
  write_dag("c_small", "dag: c_small\nschedule: null\ntasks:\n  - {id: b, type: shell, command: \"true\"}\n");
  // and no parse budget: each pass parses one file
  DagFolderSync sync(*store_, dir_.path(), 0ms);

  // then the small files come first, one a pass, and the big one last
  SyncReport first = sync.sync(clock_.now());
  EXPECT_EQ(first.parsed, 1);
  EXPECT_EQ(first.waiting, 2);
  EXPECT_TRUE(store_->get_dag("b_small"));
  EXPECT_EQ(sync.sync(clock_.now()).waiting, 1);
  EXPECT_TRUE(store_->get_dag("c_small"));
  EXPECT_FALSE(store_->get_dag("a_big"));
  SyncReport third = sync.sync(clock_.now());
  EXPECT_EQ(third.waiting, 0);
  EXPECT_TRUE(store_->get_dag("a_big"));
  EXPECT_EQ(sync.sync(clock_.now()).parsed, 0);
}

TEST_F(SchedulerTest, SyncSkipsFifosAndDeviceLinksAndSaysSoOnce) {
  write_dag("good", "dag: good\nschedule: null\ntasks:\n  - {id: a, type: shell, command: \"true\"}\n");
  ASSERT_EQ(mkfifo(dir_.file("fifo.yaml").c_str(), 0600), 0);
  std::filesystem::create_symlink("/dev/zero", dir_.file("zero.yaml"));
  DagFolderSync sync(*store_, dir_.path());

  SyncReport first = sync.sync(clock_.now());

  EXPECT_EQ(first.files, 1);
  EXPECT_EQ(first.errors, 0);
  EXPECT_TRUE(store_->get_dag("good"));
  EXPECT_EQ(first.newly_skipped,
            (std::vector<std::string>{dir_.file("fifo.yaml") + ": a FIFO, not a regular file; skipped",
                                      dir_.file("zero.yaml") +
                                          ": a character device, not a regular file; skipped"}));
  EXPECT_TRUE(sync.sync(clock_.now()).newly_skipped.empty());
}

TEST_F(SchedulerTest, ADagThatFailsInAPassCostsOnlyItself) {
  write_dag("a_broken", "dag: a_broken\nschedule: null\ntasks:\n  - {id: a, type: shell, command: \"true\"}\n");
  write_dag("b_good", "dag: b_good\nschedule: null\ntasks:\n  - {id: a, type: shell, command: \"true\"}\n");
  DagFolderSync(*store_, dir_.path()).sync(clock_.now());
  trigger_run(*store_, dags_, TriggerRequest{"a_broken", std::nullopt, {}}, clock_.now());
  trigger_run(*store_, dags_, TriggerRequest{"b_good", std::nullopt, {}}, clock_.now());
  // a_broken's stored definition becomes unreadable, as after a bad upgrade;
  // its queued run comes first in the pass.
  std::string path = testing::last_test_store_url("sqlite").substr(std::string("sqlite://").size());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(db, "UPDATE dag_versions SET definition = '{}' WHERE dag_id = 'a_broken'",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  DagCache fresh(*store_);
  SchedulerOptions options;
  options.dags_folder = dir_.path();
  Scheduler scheduler(*store_, fresh, clock_, options);

  EXPECT_NO_THROW(scheduler.tick());

  EXPECT_EQ(runs("a_broken")[0].state, RunState::kQueued);
  EXPECT_EQ(runs("b_good")[0].state, RunState::kRunning);
}

TEST_F(SchedulerTest, DuplicateDagIdInALaterFileIsAnErrorAndTheFirstKeepsWorking) {
  write_dag("a_first", "dag: same\nschedule: null\ntasks:\n  - {id: a, type: shell, command: \"true\"}\n");
  write_dag("b_second", "dag: same\nschedule: null\ntasks:\n  - {id: z, type: shell, command: \"true\"}\n");
  DagFolderSync sync(*store_, dir_.path());
  SyncReport report = sync.sync(clock_.now());
  EXPECT_EQ(report.errors, 1);
  ASSERT_EQ(report.error_messages.size(), 1u);
  EXPECT_NE(report.error_messages[0].find("b_second.yaml"), std::string::npos);
  EXPECT_NE(report.error_messages[0].find("already defined"), std::string::npos);
  auto record = store_->get_dag("same");
  EXPECT_EQ(dags_.get(*record->version_id)->tasks[0].id, "a");
}

TEST_F(SchedulerTest, ClearedRunsQueueBehindMaxActiveRuns) {
  // Two finished runs of a max_active_runs: 1 DAG are cleared together: they
  // queue again and the scheduler runs them one at a time, like new runs.
  write_dag("one", R"(dag: one
schedule: "0 2 * * *"
start_date: 2026-03-07
catchup: true
max_active_runs: 1
tasks:
  - {id: a, type: shell, command: "true"}
)");
  Scheduler scheduler = make_scheduler();
  scheduler.tick();
  auto created = runs("one");
  ASSERT_GE(created.size(), 2u);
  for (const RunRecord& run : created) store_->cancel_run(run.id, clock_.now());
  auto dag = dags_.get(created[0].version_id);
  for (const RunRecord& run : created) {
    std::vector<int64_t> ids;
    for (const auto& ti : store_->list_task_instances(run.id)) ids.push_back(ti.id);
    store_->clear_task_instances(run.id, ids, make_decider(dag, clock_.now()), clock_.now());
    EXPECT_EQ(store_->get_run_by_pk(run.id)->state, RunState::kQueued);
  }
  scheduler.tick();
  int running = 0;
  for (const RunRecord& run : runs("one")) {
    if (run.state == RunState::kRunning) ++running;
  }
  EXPECT_EQ(running, 1);
}

// The loop against a store that fails: a pass that fails changes nothing
// it should not, and later passes make good what it did not do, exactly once
// (also when the failure came after the store had committed).
TEST_F(SchedulerTest, RunsAFailedPassDidNotCreateAreCreatedLaterExactlyOnce) {
  write_dag("daily", R"(dag: daily
schedule: "0 2 * * *"
start_date: 2026-03-05
catchup: true
max_active_runs: 16
tasks:
  - {id: a, type: shell, command: "true"}
)");
  testing::FaultStore faulty(*store_);
  Scheduler scheduler = make_scheduler(faulty);
  faulty.fail_next("create_run", 1, testing::FaultStore::When::kBefore);
  EXPECT_THROW(scheduler.tick(), StoreError);
  EXPECT_EQ(faulty.failures("create_run"), 1);
  scheduler.tick();
  EXPECT_EQ(runs("daily").size(), 5u);  // Mar 5..9

  // The next interval's run is committed, then the store's answer is lost.
  clock_.advance(24h);
  faulty.fail_next("create_run", 1, testing::FaultStore::When::kAfter);
  EXPECT_THROW(scheduler.tick(), StoreError);
  scheduler.tick();
  clock_.advance(24h);
  scheduler.tick();
  std::set<std::string> ids;
  for (const RunRecord& run : runs("daily")) ids.insert(run.run_id);
  EXPECT_EQ(runs("daily").size(), 7u);
  EXPECT_EQ(ids.size(), 7u);
  EXPECT_TRUE(ids.count("scheduled__2026-03-10T02:00:00Z"));
  EXPECT_TRUE(ids.count("scheduled__2026-03-11T02:00:00Z"));
}

// A pass whose read of the unfinished runs fails starts nothing; the next
// one starts the queued runs within max_active_runs.
TEST_F(SchedulerTest, QueuedRunsAStartPassCouldNotReadStartInTheNextPass) {
  write_dag("daily", R"(dag: daily
schedule: "0 2 * * *"
start_date: 2026-03-07
catchup: true
max_active_runs: 2
tasks:
  - {id: a, type: shell, command: "true"}
)");
  testing::FaultStore faulty(*store_);
  Scheduler scheduler = make_scheduler(faulty);
  faulty.fail_next("list_unfinished_runs", 2, testing::FaultStore::When::kBefore);
  EXPECT_THROW(scheduler.tick(), StoreError);
  EXPECT_THROW(scheduler.tick(), StoreError);
  for (const RunRecord& run : runs("daily")) EXPECT_EQ(run.state, RunState::kQueued);
  scheduler.tick();
  int running = 0;
  for (const RunRecord& run : runs("daily")) running += run.state == RunState::kRunning;
  EXPECT_EQ(runs("daily").size(), 3u);
  EXPECT_EQ(running, 2);
}

// What `dags list`, the API and the UI show as the next run
// (engine/next_run) is the run the scheduler creates next, for every kind of
// schedule: the same rule in both places, not two that happen to agree.
TEST_F(SchedulerTest, EveryRunItCreatesIsTheNextRunShownJustBefore) {
  write_dag("catchup", R"(dag: catchup
schedule: "30 1 * * 1-5"
timezone: Europe/Berlin
start_date: 2026-03-02
catchup: true
tasks:
  - {id: a, type: shell, command: "true"}
)");
  write_dag("latest", R"(dag: latest
schedule: "0 */6 * * *"
start_date: 2026-03-01
tasks:
  - {id: a, type: shell, command: "true"}
)");
  write_dag("once", R"(dag: once
schedule: "@once"
start_date: 2026-03-11
tasks:
  - {id: a, type: shell, command: "true"}
)");
  Scheduler scheduler = make_scheduler();
  scheduler.tick();
  std::map<std::string, std::optional<DataInterval>> shown;
  auto show = [&] {
    for (const char* dag_id : {"catchup", "latest", "once"}) {
      auto record = store_->get_dag(dag_id);
      ASSERT_TRUE(record && record->version_id) << dag_id;
      auto latest = store_->latest_interval_run(dag_id);
      shown[dag_id] = next_scheduled_interval(
          *dags_.get(*record->version_id),
          latest ? std::optional(latest->interval.start) : std::nullopt, clock_.now());
    }
  };
  int checked = 0;
  for (int step = 0; step < 60; ++step) {
    show();
    std::map<std::string, size_t> before;
    for (const auto& [dag_id, next] : shown) before[dag_id] = runs(dag_id).size();
    clock_.advance(97min);
    scheduler.tick();
    for (const auto& [dag_id, next] : shown) {
      std::vector<RunRecord> made = runs(dag_id);
      if (made.size() == before[dag_id]) continue;
      // The oldest run of this tick is the one that was shown.
      const RunRecord& first_new = made[made.size() - before[dag_id] - 1];
      ASSERT_TRUE(next.has_value())
          << dag_id << " showed no next run but made " << first_new.run_id;
      EXPECT_EQ(first_new.interval.start, next->start) << dag_id << " at step " << step;
      EXPECT_EQ(first_new.interval.end, next->end) << dag_id << " at step " << step;
      ++checked;
    }
    // Ended runs leave room: the scheduler makes at most 16 queued runs per DAG.
    for (const char* dag_id : {"catchup", "latest", "once"}) {
      for (const RunRecord& run : runs(dag_id)) {
        if (run.state == RunState::kQueued || run.state == RunState::kRunning) {
          store_->cancel_run(run.id, clock_.now());
        }
      }
    }
  }
  EXPECT_GE(checked, 20);
}

}  // namespace
}  // namespace sluice
