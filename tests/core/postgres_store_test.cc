// Postgres-only store tests: claims from several processes, losing the
// server, failed commits and lost connections mid-transaction, migrations
// racing. The behaviour both stores share is in store_test.cc.

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include <pqxx/pqxx>

#include "core/error.h"
#include "core/store.h"
#include "tests/core/store_test_util.h"

namespace sluice {
namespace {

using testing::last_test_postgres_url;
using testing::make_test_postgres_store;
using testing::test_postgres_url;

const Timestamp kNow = from_epoch_ms(1770000000000);  // 2026-02-02

// Queues every task that is `none`; ends the run when all tasks finished.
Decider queue_all() {
  Decider d;
  d.decide = [](const RunSnapshot& snap) {
    RunDecisions out;
    bool all_done = !snap.tasks.empty();
    for (const auto& t : snap.tasks) {
      if (t.state == TaskState::kNone) {
        out.tasks.push_back({t.id, TaskState::kNone, TaskState::kQueued, std::nullopt, ""});
      }
      if (!is_finished(t.state)) all_done = false;
    }
    if (all_done) {
      out.run_state = RunState::kSuccess;
    } else if (snap.run.state == RunState::kQueued) {
      out.run_state = RunState::kRunning;
    }
    return out;
  };
  return d;
}

NewRun manual_run(const std::string& run_id, int tasks, const std::string& pool = "default") {
  NewRun run;
  run.dag_id = "pg_dag";
  run.run_id = run_id;
  run.type = RunType::kManual;
  run.version_id = 1;
  run.interval = {kNow, kNow};
  for (int i = 0; i < tasks; ++i) {
    NewRun::Task t;
    t.task_id = "t" + std::to_string(i);
    t.pool = pool;
    run.tasks.push_back(t);
  }
  return run;
}

// A second, plain connection to the test schema, for looking behind the
// store's back and for injecting failures.
int64_t count_rows(const std::string& url, const std::string& sql) {
  pqxx::connection conn(url);
  pqxx::nontransaction w(conn);
  return w.exec(sql)[0][0].as<int64_t>();
}

void exec_sql(const std::string& url, const std::string& sql) {
  pqxx::connection conn(url);
  pqxx::nontransaction w(conn);
  w.exec(sql);
}

// Waits for a child process, killing it at the deadline; true when it exited 0.
bool wait_child(pid_t pid, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (r < 0) return false;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

TEST(PostgresStoreTest, TestUrlFailsTheTestWhenUnset) {
  // given: no server configured
  const char* saved = getenv("SLUICE_TEST_PG_URL");
  std::string keep = saved ? saved : "";
  unsetenv("SLUICE_TEST_PG_URL");
  // then: asking for it is a test failure, never a skip
  EXPECT_NONFATAL_FAILURE(testing::test_postgres_url(), "SLUICE_TEST_PG_URL is not set");
  if (saved) setenv("SLUICE_TEST_PG_URL", keep.c_str(), 1);
}

TEST(PostgresStoreTest, OpenRejectsMalformedUrlAndReportsUnreachableServer) {
  EXPECT_THROW(Store::open("postgresql://host:notaport:x/db?bogus=1"), UserError);
  // Port 1 on localhost: nothing listens there.
  try {
    Store::open("postgresql://nobody:secret@127.0.0.1:1/db?connect_timeout=2");
    FAIL() << "opened a store on a closed port";
  } catch (const UserError& e) {
    FAIL() << "a reachable-but-down server is not bad input: " << e.what();
  } catch (const StoreError& e) {
    EXPECT_TRUE(e.retryable());
    EXPECT_EQ(std::string(e.what()).find("secret"), std::string::npos) << e.what();
  }
}

TEST(PostgresStoreTest, MigrationsRacingFromTwoStoresApplyOnce) {
  // given: an empty schema and two stores on it
  std::string server = test_postgres_url();
  ASSERT_FALSE(server.empty());
  std::string schema = "t_race_" + std::to_string(getpid());
  exec_sql(server, "DROP SCHEMA IF EXISTS " + schema + " CASCADE; CREATE SCHEMA " + schema);
  std::string url = server + (server.find('?') == std::string::npos ? "?" : "&") +
                    "options=-csearch_path%3D" + schema;
  {
    auto a = Store::open(url);
    auto b = Store::open(url);
    EXPECT_EQ(a->schema_status().current, 0);
    EXPECT_THROW(a->require_current_schema(), SchemaError);
    // when: both migrate at once
    SchemaStatus sa, sb;
    std::thread ta([&] { sa = a->migrate(); });
    std::thread tb([&] { sb = b->migrate(); });
    ta.join();
    tb.join();
    // then: both see the latest schema, each migration recorded once
    EXPECT_EQ(sa.current, sa.latest);
    EXPECT_EQ(sb.current, sb.latest);
    EXPECT_TRUE(sa.pending.empty());
    EXPECT_EQ(count_rows(url, "SELECT count(*) FROM schema_migrations"),
              static_cast<int64_t>(sa.applied.size()));
    EXPECT_NO_THROW(a->require_current_schema());
    // and migrating again changes nothing
    EXPECT_EQ(a->migrate().applied, sa.applied);
  }
  exec_sql(server, "DROP SCHEMA " + schema + " CASCADE");
}

TEST(PostgresStoreTest, FourProcessesClaimTenThousandTasksEachExactlyOnce) {
  // given: 10,000 queued task instances in 100 pools with room for all of
  // them to run
  auto store = make_test_postgres_store();
  std::string url = last_test_postgres_url();
  std::map<std::string, int> pools;
  for (int p = 0; p < 100; ++p) pools["p" + std::to_string(p)] = 100;
  store->set_pools(pools);
  for (int r = 0; r < 10; ++r) {
    NewRun run = manual_run("m" + std::to_string(r), 1000);
    for (size_t i = 0; i < run.tasks.size(); ++i) run.tasks[i].pool = "p" + std::to_string(i % 100);
    ASSERT_TRUE(store->create_run(run, queue_all(), kNow));
  }
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("sluice_claims_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);

  // when: four processes, each with its own store, claim until nothing is left
  std::vector<pid_t> children;
  for (int c = 0; c < 4; ++c) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int code = 0;
      try {
        auto own = Store::open(url);
        std::ofstream out(dir / ("claims_" + std::to_string(c)));
        ClaimRequest req;
        req.worker_id = "w" + std::to_string(c);
        req.now = kNow;
        req.max_tasks = 4 + c * 4;  // 4, 8, 12, 16 at a time
        for (;;) {
          auto claimed = own->claim_tasks(req);
          if (claimed.empty()) break;
          for (const auto& t : claimed) out << t.task.id << '\n';
        }
        out.close();
        code = out ? 0 : 2;
      } catch (const std::exception& e) {
        fprintf(stderr, "claimer %d: %s\n", c, e.what());
        code = 1;
      }
      _exit(code);  // no destructors or atexit handlers of the parent's objects
    }
    children.push_back(pid);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  for (pid_t pid : children) EXPECT_TRUE(wait_child(pid, deadline));

  // then: every task claimed once, by exactly one process
  std::multiset<int64_t> claimed;
  for (int c = 0; c < 4; ++c) {
    std::ifstream in(dir / ("claims_" + std::to_string(c)));
    int64_t id;
    while (in >> id) claimed.insert(id);
  }
  std::filesystem::remove_all(dir);
  EXPECT_EQ(claimed.size(), 10000u);
  EXPECT_EQ(std::set<int64_t>(claimed.begin(), claimed.end()).size(), 10000u);
  EXPECT_EQ(count_rows(url, "SELECT count(*) FROM task_instances WHERE state = 'running' AND "
                            "try_number = 1"),
            10000);
}

TEST(PostgresStoreTest, ConcurrentClaimsNeverOverfillAPool) {
  // given: a pool of 3 slots and 20 queued tasks in it
  auto store = make_test_postgres_store();
  store->set_pools({{"narrow", 3}});
  ASSERT_TRUE(store->create_run(manual_run("m1", 20, "narrow"), queue_all(), kNow));
  // when: four threads claim up to 5 each at once
  std::vector<std::thread> threads;
  std::atomic<int> total{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      ClaimRequest req;
      req.worker_id = "w" + std::to_string(i);
      req.now = kNow;
      req.max_tasks = 5;
      total += static_cast<int>(store->claim_tasks(req).size());
    });
  }
  for (auto& t : threads) t.join();
  // then: exactly the pool's slots are running
  EXPECT_EQ(total.load(), 3);
}

TEST(PostgresStoreTest, ClaimPassesOverTasksAnotherTransactionHolds) {
  // given: three queued tasks, the first locked by another transaction
  auto store = make_test_postgres_store();
  std::string url = last_test_postgres_url();
  auto run = store->create_run(manual_run("m1", 3), queue_all(), kNow);
  ASSERT_TRUE(run);
  auto tasks = store->list_task_instances(run->id);
  ASSERT_EQ(tasks.size(), 3u);
  pqxx::connection other(url);
  pqxx::work holder(other);
  holder.exec("SELECT 1 FROM task_instances WHERE id = " + std::to_string(tasks[0].id) +
              " FOR UPDATE");
  // when: a worker claims two
  ClaimRequest req;
  req.worker_id = "w1";
  req.now = kNow;
  req.max_tasks = 2;
  auto claimed = store->claim_tasks(req);
  // then: it gets the other two without waiting for the lock
  ASSERT_EQ(claimed.size(), 2u);
  EXPECT_EQ(claimed[0].task.id, tasks[1].id);
  EXPECT_EQ(claimed[1].task.id, tasks[2].id);
  EXPECT_EQ(claimed[0].task.state, TaskState::kRunning);
  EXPECT_EQ(claimed[0].task.try_number, 1);
  EXPECT_EQ(claimed[0].run.id, run->id);
  holder.abort();
  // and once the lock is gone the first one is claimable
  auto rest = store->claim_tasks(req);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].task.id, tasks[0].id);
}

// Installs triggers in the test schema that fail on cue: an alert with event
// "inject_commit_failure" makes the commit fail (a deferred constraint
// trigger), an alert "inject_disconnect" or a log chunk "inject_disconnect"
// kills the store's own backend mid-transaction.
void install_fault_triggers(const std::string& url) {
  exec_sql(url, R"sql(
    CREATE FUNCTION fail_commit() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.event = 'inject_commit_failure' THEN
        RAISE EXCEPTION 'injected commit failure';
      END IF;
      RETURN NULL;
    END $$;
    CREATE CONSTRAINT TRIGGER fail_at_commit AFTER INSERT ON alert_outbox
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_commit();
    CREATE FUNCTION kill_alert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.event = 'inject_disconnect' THEN
        PERFORM pg_terminate_backend(pg_backend_pid());
        PERFORM pg_sleep(10);
      END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER kill_on_alert BEFORE INSERT ON alert_outbox
      FOR EACH ROW EXECUTE FUNCTION kill_alert();
    CREATE FUNCTION kill_log() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.data = convert_to('inject_disconnect', 'UTF8') THEN
        PERFORM pg_terminate_backend(pg_backend_pid());
        PERFORM pg_sleep(10);
      END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER kill_on_log BEFORE INSERT ON task_logs
      FOR EACH ROW EXECUTE FUNCTION kill_log();
  )sql");
}

// Queues all tasks, starts the run, and raises the alert named `event`.
Decider queue_all_with_alert(const std::string& event) {
  Decider d = queue_all();
  auto inner = d.decide;
  d.decide = [inner, event](const RunSnapshot& snap) {
    RunDecisions out = inner(snap);
    AlertEvent a;
    a.event = event;
    a.dag_id = snap.run.dag_id;
    a.run_id = snap.run.run_id;
    a.payload = {{"event", event}};
    out.alerts.push_back(a);
    return out;
  };
  return d;
}

TEST(PostgresStoreTest, FailedCommitOfCreateRunLeavesNothingBehind) {
  // given: a store whose commit fails when the run raises a certain alert
  auto store = make_test_postgres_store();
  std::string url = last_test_postgres_url();
  install_fault_triggers(url);
  // when: creating the run fails at commit
  try {
    store->create_run(manual_run("m1", 5), queue_all_with_alert("inject_commit_failure"), kNow);
    FAIL() << "the commit should have failed";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("injected commit failure"), std::string::npos)
        << e.what();
  }
  // then: no run, no task instance, no alert is visible
  EXPECT_FALSE(store->get_run("pg_dag", "m1"));
  EXPECT_EQ(count_rows(url, "SELECT count(*) FROM dag_runs"), 0);
  EXPECT_EQ(count_rows(url, "SELECT count(*) FROM task_instances"), 0);
  EXPECT_TRUE(store->list_alerts(false, 10).empty());
  // and the same store carries on
  auto run = store->create_run(manual_run("m1", 5), queue_all_with_alert("failure"), kNow);
  ASSERT_TRUE(run);
  EXPECT_EQ(run->state, RunState::kRunning);
  EXPECT_EQ(store->list_alerts(false, 10).size(), 1u);
}

TEST(PostgresStoreTest, LostConnectionInCreateRunIsRetryableAndLeavesNothingBehind) {
  auto store = make_test_postgres_store();
  std::string url = last_test_postgres_url();
  install_fault_triggers(url);
  // when: the backend dies in the middle of the transaction
  try {
    store->create_run(manual_run("m1", 5), queue_all_with_alert("inject_disconnect"), kNow);
    FAIL() << "the connection should have been lost";
  } catch (const StoreError& e) {
    EXPECT_TRUE(e.retryable()) << e.what();
  }
  // then: nothing of the run is visible, and the next call reconnects
  EXPECT_EQ(count_rows(url, "SELECT count(*) FROM dag_runs"), 0);
  EXPECT_EQ(count_rows(url, "SELECT count(*) FROM task_instances"), 0);
  EXPECT_FALSE(store->get_run("pg_dag", "m1"));
  EXPECT_TRUE(store->create_run(manual_run("m1", 5), queue_all(), kNow));
}

TEST(PostgresStoreTest, LostConnectionInFinishTaskKeepsTheTryRunning) {
  // given: a claimed task
  auto store = make_test_postgres_store();
  std::string url = last_test_postgres_url();
  install_fault_triggers(url);
  auto run = store->create_run(manual_run("m1", 1), queue_all(), kNow);
  ASSERT_TRUE(run);
  ClaimRequest req;
  req.worker_id = "w1";
  req.now = kNow;
  auto claimed = store->claim_tasks(req);
  ASSERT_EQ(claimed.size(), 1u);
  TaskResult result;
  result.ti_id = claimed[0].task.id;
  result.try_number = claimed[0].task.try_number;
  result.worker_id = "w1";
  result.state = TaskState::kSuccess;
  result.exit_code = 0;
  result.ended_at = kNow + Millis(5000);
  result.final_log = "inject_disconnect";
  // when: the connection is lost while finishing
  try {
    store->finish_task(result, queue_all());
    FAIL() << "the connection should have been lost";
  } catch (const StoreError& e) {
    EXPECT_TRUE(e.retryable()) << e.what();
  }
  // then: the try is still running, no log stored, the run not ended
  auto ti = store->get_task_instance(result.ti_id);
  ASSERT_TRUE(ti);
  EXPECT_EQ(ti->state, TaskState::kRunning);
  EXPECT_FALSE(ti->exit_code);
  EXPECT_EQ(store->read_log(result.ti_id, result.try_number, 0).data, "");
  EXPECT_EQ(store->get_run_by_pk(run->id)->state, RunState::kRunning);
  // and the worker's retry of the same call succeeds
  result.final_log = "done\n";
  FinishOutcome outcome = store->finish_task(result, queue_all());
  EXPECT_EQ(outcome.run_state, RunState::kSuccess);
  EXPECT_EQ(store->read_log(result.ti_id, result.try_number, 0).data, "done\n");
  EXPECT_EQ(store->get_task_instance(result.ti_id)->state, TaskState::kSuccess);
}

// The success of a claimed task at `ended`, which also claims the worker's
// next task when `claim_next`.
TaskResult success_of(const ClaimedTask& claimed, Timestamp ended, bool claim_next) {
  TaskResult result;
  result.ti_id = claimed.task.id;
  result.task_id = claimed.task.task_id;
  result.try_number = claimed.task.try_number;
  result.worker_id = claimed.task.worker_id;
  result.state = TaskState::kSuccess;
  result.exit_code = 0;
  result.ended_at = ended;
  if (claim_next) result.claim_next = ClaimRequest{claimed.task.worker_id, {"default"}, ended, 1};
  return result;
}

// Finishing t0 of a two-task run, claiming the next task in the same
// transaction, where `decider` decides.
FinishOutcome finish_first_and_claim(Store& store, const ClaimedTask& first,
                                     const Decider& decider) {
  return store.finish_task(success_of(first, kNow + Millis(5000), /*claim_next=*/true), decider);
}

// A run of two queued tasks of which w1 claimed the first.
std::pair<RunRecord, std::vector<ClaimedTask>> two_tasks_first_claimed(Store& store) {
  auto run = store.create_run(manual_run("m1", 2), queue_all(), kNow);
  if (!run) throw std::logic_error("run not created");
  ClaimRequest req;
  req.worker_id = "w1";
  req.now = kNow;
  auto claimed = store.claim_tasks(req);
  if (claimed.size() != 1) throw std::logic_error("expected one claimed task");
  return {*run, claimed};
}

// The tasks of manual_run as a chain t0 -> t1 -> ..., with the scope and
// prediction hooks a worker's decider has (Decider::predictable): a success
// is then finished in one statement when its prediction holds.
Decider predictable_chain() {
  Decider d;
  auto number = [](const std::string& task_id) { return std::stoi(task_id.substr(1)); };
  d.decide = [number](const RunSnapshot& snap) {
    std::map<int, TaskState> states;
    for (const auto& t : snap.tasks) states[number(t.task_id)] = t.state;
    RunDecisions out;
    bool all_done = true;
    for (const auto& t : snap.tasks) {
      const int n = number(t.task_id);
      if (t.state == TaskState::kNone && (n == 0 || states[n - 1] == TaskState::kSuccess)) {
        out.tasks.push_back({t.id, TaskState::kNone, TaskState::kQueued, std::nullopt, ""});
      }
      if (!is_finished(t.state)) all_done = false;
    }
    if (snap.run.state == RunState::kQueued) out.run_state = RunState::kRunning;
    if (all_done && !snap.partial) out.run_state = RunState::kSuccess;
    return out;
  };
  d.scope = [number](const std::string& task_id) {
    return std::vector<std::string>{task_id, "t" + std::to_string(number(task_id) + 1)};
  };
  d.predictable = [](const std::string&) { return true; };
  return d;
}

TEST(PostgresStoreTest, LostConnectionInAPredictedFinishKeepsTheTryRunning) {
  auto store = make_test_postgres_store();
  install_fault_triggers(last_test_postgres_url());
  auto run = store->create_run(manual_run("m1", 3), predictable_chain(), kNow);
  ASSERT_TRUE(run);
  ClaimRequest req;
  req.worker_id = "w1";
  req.now = kNow;
  auto claimed = store->claim_tasks(req);
  ASSERT_EQ(claimed.size(), 1u);
  ASSERT_EQ(claimed[0].task.task_id, "t0");

  // when: the connection is lost inside the one statement of a predicted
  // finish, which commits itself
  TaskResult result = success_of(claimed[0], kNow + Millis(5000), /*claim_next=*/true);
  result.final_log = "inject_disconnect";
  try {
    store->finish_task(result, predictable_chain());
    FAIL() << "the connection should have been lost";
  } catch (const StoreError& e) {
    EXPECT_TRUE(e.retryable()) << e.what();
    EXPECT_NE(std::string(e.what()).find("may or may not have been saved"), std::string::npos)
        << e.what();
  }
  // then: nothing of it was saved
  EXPECT_EQ(store->get_task_instance(result.ti_id)->state, TaskState::kRunning);
  for (const auto& ti : store->list_task_instances(run->id)) {
    if (ti.task_id != "t0") {
      EXPECT_EQ(ti.state, TaskState::kNone) << ti.task_id;
    }
  }
  // and the worker's retry finishes t0 and claims t1
  result.final_log = "done\n";
  FinishOutcome outcome = store->finish_task(result, predictable_chain());
  ASSERT_EQ(outcome.claimed.size(), 1u);
  EXPECT_EQ(outcome.claimed[0].task.task_id, "t1");
  EXPECT_EQ(outcome.queued, 1);
  EXPECT_EQ(store->read_log(result.ti_id, result.try_number, 0).data, "done\n");
}

TEST(PostgresStoreTest, FailedCommitOfAFinishWithClaimKeepsBothTasksAsTheyWere) {
  // given: t0 running, t1 queued
  auto store = make_test_postgres_store();
  std::string url = last_test_postgres_url();
  install_fault_triggers(url);
  auto [run, claimed] = two_tasks_first_claimed(*store);
  // when: the finish (decisions, claim and COMMIT in one round trip) fails at commit
  try {
    finish_first_and_claim(*store, claimed[0], queue_all_with_alert("inject_commit_failure"));
    FAIL() << "the commit should have failed";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("injected commit failure"), std::string::npos)
        << e.what();
  }
  // then: t0 still runs, t1 is still queued and nobody's, no alert is stored
  auto tasks = store->list_task_instances(run.id);
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[0].state, TaskState::kRunning);
  EXPECT_EQ(tasks[1].state, TaskState::kQueued);
  EXPECT_TRUE(tasks[1].worker_id.empty());
  EXPECT_TRUE(store->list_alerts(false, 10).empty());
  // and the same store carries on: the retry finishes t0 and hands over t1
  FinishOutcome outcome = finish_first_and_claim(*store, claimed[0], queue_all());
  ASSERT_EQ(outcome.claimed.size(), 1u);
  EXPECT_EQ(outcome.claimed[0].task.id, tasks[1].id);
  EXPECT_EQ(store->get_task_instance(tasks[0].id)->state, TaskState::kSuccess);
  EXPECT_EQ(store->get_task_instance(tasks[1].id)->state, TaskState::kRunning);
}

TEST(PostgresStoreTest, AFailingDecisionInAFinishWithClaimRollsBackAndClaimsNothing) {
  // given: t0 running, t1 queued, and alerts of one kind refused outright
  auto store = make_test_postgres_store();
  std::string url = last_test_postgres_url();
  exec_sql(url, R"sql(
    CREATE FUNCTION refuse_alert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.event = 'inject_statement_failure' THEN
        RAISE EXCEPTION 'injected statement failure';
      END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER refuse_on_alert BEFORE INSERT ON alert_outbox
      FOR EACH ROW EXECUTE FUNCTION refuse_alert();
  )sql");
  auto [run, claimed] = two_tasks_first_claimed(*store);
  // when: storing the decisions fails (the claim and COMMIT after it in the
  // same round trip never run)
  try {
    finish_first_and_claim(*store, claimed[0], queue_all_with_alert("inject_statement_failure"));
    FAIL() << "the decisions should have failed";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("injected statement failure"), std::string::npos)
        << e.what();
  }
  // then: nothing changed, and the store's connections are fit for use
  auto tasks = store->list_task_instances(run.id);
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[0].state, TaskState::kRunning);
  EXPECT_EQ(tasks[1].state, TaskState::kQueued);
  FinishOutcome outcome = finish_first_and_claim(*store, claimed[0], queue_all());
  ASSERT_EQ(outcome.claimed.size(), 1u);
  EXPECT_EQ(outcome.claimed[0].task.id, tasks[1].id);
}

TEST(PostgresStoreTest, BinaryLogChunksRoundTrip) {
  auto store = make_test_postgres_store();
  auto run = store->create_run(manual_run("m1", 1), queue_all(), kNow);
  ASSERT_TRUE(run);
  int64_t ti = store->list_task_instances(run->id)[0].id;
  std::string bytes("a\0b\\x\xff\"{}", 9);
  store->append_log(ti, 1, 0, bytes);
  store->append_log(ti, 1, 1, "tail");
  EXPECT_EQ(store->read_log(ti, 1, 0).data, bytes + "tail");
  LogSlice middle = store->read_log(ti, 1, 3, 8);
  EXPECT_EQ(middle.data, std::string("\\x\xff\"{}ta", 8));
  EXPECT_EQ(middle.next_offset, 11);
  EXPECT_THROW(store->append_log(ti + 1000, 1, 0, "x"), NotFoundError);
}

// A private Postgres server for the restart test, so that stopping it never
// disturbs tests running against the shared one.
class PrivateServer {
 public:
  PrivateServer() {
    const char* bin = getenv("SLUICE_TEST_PG_BIN");
    if (bin == nullptr || *bin == '\0') {
      ADD_FAILURE() << "SLUICE_TEST_PG_BIN is not set: run the tests through "
                       "scripts/with-postgres.sh";
      return;
    }
    bin_ = bin;
    char pattern[] = "/tmp/sluice_pg_XXXXXX";
    if (mkdtemp(pattern) == nullptr) {
      ADD_FAILURE() << "cannot make a temp folder";
      return;
    }
    dir_ = pattern;
    port_ = free_port();
    std::string as_postgres = geteuid() == 0 ? "runuser -u postgres -- " : "";
    as_postgres_ = as_postgres;
    if (geteuid() == 0 && std::system(("chown postgres " + dir_).c_str()) != 0) {
      ADD_FAILURE() << "cannot hand " << dir_ << " to the postgres user";
      return;
    }
    if (!run(as_postgres_ + bin_ + "/initdb -N -D " + dir_ + "/data -U postgres --auth=trust "
             ">" + dir_ + "/initdb.log 2>&1")) {
      ADD_FAILURE() << "initdb failed; see " << dir_ << "/initdb.log";
      return;
    }
    std::ofstream conf(dir_ + "/data/postgresql.conf", std::ios::app);
    conf << "listen_addresses = '127.0.0.1'\nport = " << port_
         << "\nunix_socket_directories = '" << dir_ << "'\nfsync = off\n";
    conf.close();
    ok_ = start();
    if (!ok_) ADD_FAILURE() << "cannot start the private Postgres server";
  }
  ~PrivateServer() {
    if (!dir_.empty()) {
      run(as_postgres_ + bin_ + "/pg_ctl -D " + dir_ + "/data -m immediate stop >/dev/null 2>&1");
      std::filesystem::remove_all(dir_);
    }
  }
  bool ok() const { return ok_; }
  std::string url() const {
    return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/postgres";
  }
  bool start() {
    return run(as_postgres_ + bin_ + "/pg_ctl -D " + dir_ + "/data -l " + dir_ +
               "/server.log -w -t 60 start >/dev/null");
  }
  bool stop() {
    return run(as_postgres_ + bin_ + "/pg_ctl -D " + dir_ + "/data -m fast -w stop >/dev/null");
  }
  bool restart() {
    return run(as_postgres_ + bin_ + "/pg_ctl -D " + dir_ + "/data -l " + dir_ +
               "/server.log -m fast -w -t 60 restart >/dev/null");
  }

 private:
  static bool run(const std::string& command) { return std::system(command.c_str()) == 0; }
  static int free_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    close(fd);
    return ntohs(addr.sin_port);
  }

  std::string bin_, dir_, as_postgres_;
  int port_ = 0;
  bool ok_ = false;
};

WorkerRecord worker(const std::string& id) {
  WorkerRecord w;
  w.id = id;
  w.host = "h";
  w.pid = 1;
  w.slots = 2;
  w.queues = {"default"};
  w.started_at = kNow;
  w.last_heartbeat = kNow;
  return w;
}

TEST(PostgresStoreTest, ReconnectsAfterTheServerRestarts) {
  PrivateServer server;
  ASSERT_TRUE(server.ok());
  auto store = Store::open(server.url());
  store->migrate();
  store->register_worker(worker("w1"));

  // when: the server goes down, an operation fails, and may be retried
  ASSERT_TRUE(server.stop());
  try {
    store->heartbeat_worker("w1", kNow + Millis(1000));
    FAIL() << "an operation succeeded with the server down";
  } catch (const StoreError& e) {
    EXPECT_TRUE(e.retryable()) << e.what();
  }
  // then: once the server is back, the same store works again
  ASSERT_TRUE(server.start());
  store->heartbeat_worker("w1", kNow + Millis(2000));
  ASSERT_EQ(store->list_workers().size(), 1u);
  EXPECT_EQ(store->list_workers()[0].last_heartbeat, kNow + Millis(2000));

  // and a restart between two calls does not fail the next one: its pooled
  // connection is stale, nothing was sent on it, so it is replaced
  ASSERT_TRUE(server.restart());
  store->heartbeat_worker("w1", kNow + Millis(3000));
  EXPECT_EQ(store->list_workers()[0].last_heartbeat, kNow + Millis(3000));

  // nor one of a predicted finish, a statement that commits itself and so
  // is never sent twice: the stale session is found before it is used
  auto run = store->create_run(manual_run("m1", 2), predictable_chain(), kNow);
  ASSERT_TRUE(run);
  ClaimRequest req;
  req.worker_id = "w1";
  req.now = kNow;
  auto claimed = store->claim_tasks(req);
  ASSERT_EQ(claimed.size(), 1u);
  ASSERT_TRUE(server.restart());
  FinishOutcome outcome = store->finish_task(
      success_of(claimed[0], kNow + Millis(4000), /*claim_next=*/true), predictable_chain());
  ASSERT_EQ(outcome.claimed.size(), 1u);
  EXPECT_EQ(outcome.claimed[0].task.task_id, "t1");
}

}  // namespace
}  // namespace sluice
