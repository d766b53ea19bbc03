// SQLite-only behaviour: connection settings, schema refusal, and failures
// injected with a second raw connection (triggers that abort, a held lock).

#include "core/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <stdexcept>

#include "core/error.h"
#include "core/store.h"

namespace sluice {
namespace {

const Timestamp kT0 = from_epoch_ms(1767225600000);  // 2026-01-01T00:00:00Z

/// A raw connection to the store's file, to look behind the store's back or
/// to inject failures.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) throw std::runtime_error("open " + path);
  }
  ~RawDb() { sqlite3_close(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  void exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string message = err ? err : "?";
      sqlite3_free(err);
      throw std::runtime_error(sql + ": " + message);
    }
  }
  std::string text(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      throw std::runtime_error(sql + ": " + sqlite3_errmsg(db_));
    }
    std::string out;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
      const unsigned char* value = sqlite3_column_text(stmt, 0);
      out = value ? reinterpret_cast<const char*>(value) : "";
    }
    sqlite3_finalize(stmt);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

/// A temp folder for one SQLite database file.
class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "sluice_sqlite_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    path_ = (dir_ / "sluice.db").string();
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::unique_ptr<Store> migrated(const SqliteOptions& options = {}) {
    std::unique_ptr<Store> store = open_sqlite_store(path_, options);
    store->migrate();
    return store;
  }

  static NewRun two_task_run() {
    NewRun run;
    run.dag_id = "d";
    run.run_id = "manual__1";
    run.version_id = 1;
    run.interval = DataInterval{kT0, kT0};
    run.tasks = {NewRun::Task{"a"}, NewRun::Task{"b"}};
    return run;
  }

  static Decider queue_first() {
    return Decider{[](const RunSnapshot& snap) {
      RunDecisions d;
      TaskTransition t;
      t.ti_id = snap.tasks.at(0).id;
      t.from = TaskState::kNone;
      t.to = TaskState::kQueued;
      d.tasks.push_back(t);
      d.run_state = RunState::kRunning;
      return d;
    }};
  }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(SqliteStoreTest, OpensInWalModeWithTheChosenSynchronousLevel) {
  std::unique_ptr<Store> normal = Store::open("sqlite://" + path_);
  EXPECT_EQ(sqlite_synchronous_level(*normal), 1);  // NORMAL
  std::unique_ptr<Store> full = Store::open("sqlite://" + path_ + "?synchronous=full");
  EXPECT_EQ(sqlite_synchronous_level(*full), 2);  // FULL
  RawDb raw(path_);
  EXPECT_EQ(raw.text("PRAGMA journal_mode"), "wal");  // persistent in the file
  EXPECT_THROW(Store::open("sqlite://" + path_ + "?synchronous=off"), UserError);
}

TEST_F(SqliteStoreTest, RefusesAnUnmigratedOrNewerSchema) {
  std::unique_ptr<Store> store = open_sqlite_store(path_);
  SchemaStatus fresh = store->schema_status();
  EXPECT_EQ(fresh.current, 0);
  ASSERT_FALSE(fresh.pending.empty());
  EXPECT_EQ(fresh.pending.front(), "0001_initial");
  EXPECT_THROW(store->require_current_schema(), SchemaError);

  SchemaStatus migrated = store->migrate();
  EXPECT_EQ(migrated.current, migrated.latest);
  EXPECT_TRUE(migrated.pending.empty());
  EXPECT_NO_THROW(store->require_current_schema());

  RawDb raw(path_);
  EXPECT_EQ(raw.text("SELECT name FROM schema_migrations WHERE version = 1"), "0001_initial");
  raw.exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '0999_x', 0)");
  try {
    store->require_current_schema();
    FAIL() << "a newer schema was accepted";
  } catch (const SchemaError& e) {
    EXPECT_NE(std::string(e.what()).find("newer"), std::string::npos) << e.what();
  }
}

TEST_F(SqliteStoreTest, ADeciderThatThrowsInCreateRunLeavesNoRunAndNoTasks) {
  std::unique_ptr<Store> store = migrated();
  Decider broken{[](const RunSnapshot&) -> RunDecisions { throw std::runtime_error("boom"); }};
  EXPECT_THROW(store->create_run(two_task_run(), broken, kT0), std::runtime_error);

  EXPECT_TRUE(store->list_runs(RunFilter{}).empty());
  RawDb raw(path_);
  EXPECT_EQ(raw.text("SELECT COUNT(*) FROM dag_runs"), "0");
  EXPECT_EQ(raw.text("SELECT COUNT(*) FROM task_instances"), "0");
  // The connection is usable afterwards and the run can be created.
  EXPECT_TRUE(store->create_run(two_task_run(), queue_first(), kT0));
}

TEST_F(SqliteStoreTest, AFailedWriteInsideFinishRollsBackTheWholeFinish) {
  std::unique_ptr<Store> store = migrated();
  std::optional<RunRecord> run = store->create_run(two_task_run(), queue_first(), kT0);
  ASSERT_TRUE(run);
  std::vector<ClaimedTask> claimed = store->claim_tasks(ClaimRequest{"w1", {"default"}, kT0, 1});
  ASSERT_EQ(claimed.size(), 1u);

  // Inject: writing the outbox row fails, after the task update and the log
  // chunk were written in the same transaction.
  RawDb raw(path_);
  raw.exec(
      "CREATE TRIGGER inject_failure BEFORE INSERT ON alert_outbox "
      "BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
  Decider alert_and_queue{[](const RunSnapshot& snap) {
    RunDecisions d;
    for (const TaskStateView& t : snap.tasks) {
      if (t.state == TaskState::kNone) {
        TaskTransition tr;
        tr.ti_id = t.id;
        tr.from = TaskState::kNone;
        tr.to = TaskState::kQueued;
        d.tasks.push_back(tr);
      }
    }
    d.alerts.push_back(AlertEvent{"success", "d", snap.run.run_id, "a", nlohmann::json::object()});
    return d;
  }};
  TaskResult result;
  result.ti_id = claimed[0].task.id;
  result.try_number = 1;
  result.worker_id = "w1";
  result.state = TaskState::kSuccess;
  result.ended_at = kT0;
  result.final_log = "done\n";
  try {
    store->finish_task(result, alert_and_queue);
    FAIL() << "the injected failure did not surface";
  } catch (const StoreError& e) {
    EXPECT_FALSE(e.retryable());
    EXPECT_NE(std::string(e.what()).find("injected failure"), std::string::npos) << e.what();
  }

  for (const TaskInstanceRecord& t : store->list_task_instances(run->id)) {
    EXPECT_EQ(t.state, t.id == result.ti_id ? TaskState::kRunning : TaskState::kNone) << t.task_id;
  }
  EXPECT_EQ(store->read_log(result.ti_id, 1, 0).data, "");
  EXPECT_TRUE(store->list_alerts(false, 10).empty());

  raw.exec("DROP TRIGGER inject_failure");
  FinishOutcome outcome = store->finish_task(result, alert_and_queue);
  EXPECT_EQ(outcome.queued, 1);
  EXPECT_EQ(store->read_log(result.ti_id, 1, 0).data, "done\n");
}

TEST_F(SqliteStoreTest, ABusyDatabaseIsARetryableErrorAndReadsStillWork) {
  SqliteOptions impatient;
  impatient.busy_timeout_ms = 50;
  std::unique_ptr<Store> store = migrated(impatient);
  std::optional<RunRecord> run = store->create_run(two_task_run(), queue_first(), kT0);
  ASSERT_TRUE(run);

  RawDb raw(path_);
  raw.exec("BEGIN IMMEDIATE");  // another writer holds the lock
  try {
    store->claim_tasks(ClaimRequest{"w1", {"default"}, kT0, 1});
    FAIL() << "claimed while another writer held the lock";
  } catch (const StoreError& e) {
    EXPECT_TRUE(e.retryable()) << e.what();
  }
  EXPECT_EQ(store->get_run_by_pk(run->id)->state, RunState::kRunning);  // WAL: reads go on
  raw.exec("COMMIT");

  EXPECT_EQ(store->claim_tasks(ClaimRequest{"w1", {"default"}, kT0, 1}).size(), 1u);
}

TEST_F(SqliteStoreTest, DeletingARunCascadesToTasksAndLogs) {
  std::unique_ptr<Store> store = migrated();
  std::optional<RunRecord> run = store->create_run(two_task_run(), queue_first(), kT0);
  ASSERT_TRUE(run);
  int64_t ti = store->list_task_instances(run->id).at(0).id;
  store->append_log(ti, 1, 0, "x");
  store->cancel_run(run->id, kT0);
  EXPECT_EQ(store->clean_finished_runs(kT0 + Millis(1)), 1);
  RawDb raw(path_);
  EXPECT_EQ(raw.text("SELECT COUNT(*) FROM task_instances"), "0");
  EXPECT_EQ(raw.text("SELECT COUNT(*) FROM task_logs"), "0");
  EXPECT_THROW(store->append_log(ti, 1, 1, "y"), NotFoundError);
}

}  // namespace
}  // namespace sluice
