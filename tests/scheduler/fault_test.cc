// Faults with real processes and a private Postgres server (started by the
// test, so that restarting it disturbs no other test): a worker killed with
// SIGKILL mid-task, the leading scheduler killed mid-run, Postgres restarted
// mid-run, and a worker in its own network namespace cut off from the store.
// Every task appends its try number to a file per try, so the tests count
// real executions: each run must succeed and no task may run more often than
// its tries allow.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "core/store.h"
#include "tests/test_util.h"

namespace sluice {
namespace {

using testing::Process;
using testing::TempDir;
using namespace std::chrono_literals;

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

/// Runs a shell command; returns its exit status.
int shell(const std::string& command) {
  int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/// A Postgres server of its own in a temporary folder, from the binaries of
/// SLUICE_TEST_PG_BIN (exported by scripts/with-postgres.sh); run as the
/// postgres user when the test runs as root.
class PrivatePostgres {
 public:
  explicit PrivatePostgres(const std::string& extra_listen = "") {
    const char* bin = std::getenv("SLUICE_TEST_PG_BIN");
    if (!bin || !*bin) {
      ADD_FAILURE() << "SLUICE_TEST_PG_BIN is not set: run the tests through "
                       "scripts/with-postgres.sh (scripts/test.sh does)";
      return;
    }
    bin_ = bin;
    port_ = free_port();
    data_ = dir_.file("data");
    as_postgres_ = getuid() == 0 ? "runuser -u postgres -- " : "";
    shell("chmod 755 " + dir_.path());
    if (getuid() == 0) shell("chown postgres " + dir_.path());
    if (run(bin_ + "/initdb -D " + data_ + " -U postgres --auth=trust -E UTF8 >" +
            dir_.file("initdb.log") + " 2>&1") != 0) {
      ADD_FAILURE() << "initdb failed: " << testing::read_file(dir_.file("initdb.log"));
      return;
    }
    std::string listen = "127.0.0.1" + (extra_listen.empty() ? "" : "," + extra_listen);
    std::ofstream(data_ + "/postgresql.conf", std::ios::app)
        << "listen_addresses = '" << listen << "'\nport = " << port_
        << "\nunix_socket_directories = '" << dir_.path()
        << "'\nfsync = off\nsynchronous_commit = off\nmax_connections = 100\n";
    std::ofstream(data_ + "/pg_hba.conf", std::ios::app)
        << "host all all " << (extra_listen.empty() ? "127.0.0.1/32" : extra_listen + "/30")
        << " trust\n";
    ok_ = start();
  }
  ~PrivatePostgres() {
    if (!bin_.empty()) run(bin_ + "/pg_ctl -D " + data_ + " -m immediate stop >/dev/null 2>&1");
  }

  bool ok() const { return ok_; }
  std::string url(const std::string& host = "127.0.0.1") const {
    return "postgresql://postgres@" + host + ":" + std::to_string(port_) + "/postgres";
  }
  bool start() {
    return run(bin_ + "/pg_ctl -D " + data_ + " -l " + dir_.file("server.log") +
               " -w -t 30 start >/dev/null") == 0;
  }
  bool stop() { return run(bin_ + "/pg_ctl -D " + data_ + " -m fast -w stop >/dev/null") == 0; }

 private:
  int run(const std::string& command) { return shell(as_postgres_ + command); }

  TempDir dir_;
  std::string bin_;
  std::string data_;
  std::string as_postgres_;
  int port_ = 0;
  bool ok_ = false;
};

/// Processes against a private server, a DAG whose tasks count their tries,
/// and checks on the outcome.
class FaultTest : public ::testing::Test {
 protected:
  void SetUp() override { SetUpServer(""); }

  void SetUpServer(const std::string& extra_listen, const std::string& heartbeat_timeout = "2s") {
    pg_ = std::make_unique<PrivatePostgres>(extra_listen);
    ASSERT_TRUE(pg_->ok());
    dir_.write("sluice.yaml", "db: \"" + pg_->url() +
                                  "\"\ndags: dags\n"
                                  "worker:\n  heartbeat_interval: 200ms\n  heartbeat_timeout: " +
                                  heartbeat_timeout + "\nscheduler:\n  dag_scan_interval: 200ms\n");
    auto migrated = testing::run_sluice({"db", "migrate"}, dir_.path());
    ASSERT_EQ(migrated.exit_code, 0) << migrated.out << migrated.err;
    store_ = Store::open(pg_->url());
    dir_.write("tries/.keep", "");
  }

  /// A chain a -> b -> c; each try appends its number to tries/TASK, then
  /// sleeps `seconds`.
  void write_chain(const std::string& dag, const std::string& seconds, int retries = 2) {
    std::string yaml = "dag: " + dag +
                       "\nschedule: null\ndefaults: {retries: " + std::to_string(retries) +
                       ", retry_delay: 200ms}\ntasks:\n";
    std::string prev;
    for (const std::string id : {"a", "b", "c"}) {
      yaml += "  - id: " + id + "\n    type: shell\n    command: \"echo {{ try_number }} >> " +
              dir_.file("tries/" + dag + "_" + id) + "; sleep " + seconds + "\"\n";
      if (!prev.empty()) yaml += "    depends_on: [" + prev + "]\n";
      prev = id;
    }
    dir_.write("dags/" + dag + ".yaml", yaml);
  }

  std::unique_ptr<Process> start(const std::vector<std::string>& args, const std::string& log,
                                 const std::vector<std::string>& prefix = {}) {
    std::vector<std::string> argv = prefix;
    for (const std::string& a : testing::sluice_argv(args)) argv.push_back(a);
    return std::make_unique<Process>(argv, dir_.path(), dir_.file(log),
                                     std::map<std::string, std::string>{{"TMPDIR", dir_.path()}});
  }

  /// Triggers a manual run (waiting until the scheduler stored the DAG).
  std::string trigger(const std::string& dag) {
    std::string run_id;
    testing::wait_until(
        [&] {
          auto result = testing::run_sluice({"trigger", dag, "--json"}, dir_.path());
          if (result.exit_code != 0) return false;
          run_id = nlohmann::json::parse(result.out, nullptr, false).value("run_id", "");
          return !run_id.empty();
        },
        20s);
    EXPECT_FALSE(run_id.empty()) << "could not trigger " << dag;
    return run_id;
  }

  std::optional<RunRecord> wait_for_run_end(const std::string& dag, const std::string& run_id,
                                            std::chrono::milliseconds timeout) {
    std::optional<RunRecord> run;
    testing::wait_until(
        [&] {
          try {
            run = store_->get_run(dag, run_id);
          } catch (const StoreError&) {
            return false;  // the server is restarting
          }
          return run && is_finished(run->state);
        },
        timeout);
    return run;
  }

  /// Lines in tries/DAG_TASK: how often the task ran.
  int executions(const std::string& dag, const std::string& task) {
    std::istringstream in(testing::read_file(dir_.file("tries/" + dag + "_" + task)));
    int n = 0;
    for (std::string line; std::getline(in, line);) n += !line.empty();
    return n;
  }

  bool started(const std::string& dag, const std::string& task) {
    return executions(dag, task) > 0;
  }

  /// Every task succeeded, ran at least once and at most its tries allow.
  void expect_all_succeeded_within_tries(const RunRecord& run) {
    EXPECT_EQ(run.state, RunState::kSuccess) << logs();
    for (const TaskInstanceRecord& ti : store_->list_task_instances(run.id)) {
      EXPECT_EQ(ti.state, TaskState::kSuccess) << ti.task_id << ": " << ti.error;
      int n = executions(run.dag_id, ti.task_id);
      EXPECT_GE(n, 1) << ti.task_id;
      EXPECT_LE(n, ti.max_tries) << ti.task_id << " ran more often than its tries allow";
      EXPECT_EQ(n, ti.try_number) << ti.task_id << ": executions and recorded tries differ";
    }
  }

  int count(const std::string& log, const std::string& needle) {
    std::string text = testing::read_file(dir_.file(log));
    int n = 0;
    for (size_t pos = text.find(needle); pos != std::string::npos;
         pos = text.find(needle, pos + 1)) {
      ++n;
    }
    return n;
  }

  std::string logs() {
    std::string out;
    for (const char* name : {"scheduler.log", "scheduler2.log", "worker.log", "worker2.log"}) {
      out += std::string("--- ") + name + "\n" + testing::read_file(dir_.file(name));
    }
    return out;
  }

  TempDir dir_;
  std::unique_ptr<PrivatePostgres> pg_;
  std::unique_ptr<Store> store_;
};

TEST_F(FaultTest, WorkerKilledMidTaskIsRetriedElsewhereWithinItsTries) {
  write_chain("chain", "0.5");
  auto scheduler = start({"scheduler"}, "scheduler.log");
  auto w1 = start({"worker", "--slots", "1"}, "worker.log");
  auto w2 = start({"worker", "--slots", "1"}, "worker2.log");
  std::string run_id = trigger("chain");
  ASSERT_TRUE(testing::wait_until([&] { return started("chain", "b"); }, 20s)) << logs();

  // When the worker running b is killed with SIGKILL
  auto run = store_->get_run("chain", run_id);
  ASSERT_TRUE(run);
  std::string owner;
  for (const auto& ti : store_->list_task_instances(run->id)) {
    if (ti.task_id == "b") owner = ti.worker_id;
  }
  int pid = std::stoi(owner.substr(owner.rfind(':') + 1));
  Process* victim = pid == w1->pid() ? w1.get() : w2.get();
  ASSERT_EQ(victim->pid(), pid) << owner;
  victim->kill(SIGKILL);

  // Then the other worker retries b once the heartbeat limit passed, and the run succeeds
  auto finished = wait_for_run_end("chain", run_id, 40s);
  ASSERT_TRUE(finished && is_finished(finished->state)) << logs();
  expect_all_succeeded_within_tries(*finished);
  EXPECT_EQ(executions("chain", "b"), 2);
  EXPECT_EQ(executions("chain", "a"), 1);
}

TEST_F(FaultTest, StandbySchedulerTakesOverWithin10sAndNothingIsCreatedTwice) {
  write_chain("chain", "1");
  write_chain("after", "0.1");
  // A daily DAG whose three past intervals are created by whichever scheduler leads.
  std::string start_date = format_iso(RealClock().now() - 72h).substr(0, 10);
  dir_.write("dags/daily.yaml", "dag: daily\nschedule: \"@daily\"\nstart_date: " + start_date +
                                    "\ncatchup: true\ntasks:\n  - {id: t, type: shell, command: "
                                    "\"echo 1 >> " +
                                    dir_.file("tries/daily_t") + "\"}\n");
  auto s1 = start({"scheduler"}, "scheduler.log");
  auto s2 = start({"scheduler"}, "scheduler2.log");
  auto worker = start({"worker", "--slots", "2"}, "worker.log");
  ASSERT_TRUE(testing::wait_until(
      [&] {
        return count("scheduler.log", "leading as") + count("scheduler2.log", "leading as") == 1;
      },
      20s))
      << logs();
  bool first_leads = count("scheduler.log", "leading as") == 1;
  Process* leader = first_leads ? s1.get() : s2.get();
  std::string standby_log = first_leads ? "scheduler2.log" : "scheduler.log";
  EXPECT_TRUE(testing::wait_until([&] { return count(standby_log, "standing by") == 1; }, 10s))
      << logs();
  std::string run_id = trigger("chain");
  ASSERT_TRUE(testing::wait_until([&] { return started("chain", "b"); }, 20s)) << logs();

  // When the leader is killed with SIGKILL mid-run
  auto killed_at = std::chrono::steady_clock::now();
  leader->kill(SIGKILL);

  // Then the standby leads within 10 s
  ASSERT_TRUE(testing::wait_until([&] { return count(standby_log, "leading as") == 1; }, 10s))
      << logs();
  auto failover = std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - killed_at);
  std::cout << "[ figures ] scheduler failover took " << failover.count() << " ms\n";
  EXPECT_LT(failover, 10s);

  // And a run triggered after the failover is started by the new leader
  std::string second = trigger("after");
  auto finished = wait_for_run_end("chain", run_id, 40s);
  ASSERT_TRUE(finished && is_finished(finished->state)) << logs();
  expect_all_succeeded_within_tries(*finished);
  EXPECT_EQ(executions("chain", "b"), 1);  // the failover cost no retry
  auto finished2 = wait_for_run_end("after", second, 40s);
  ASSERT_TRUE(finished2 && is_finished(finished2->state)) << logs();
  expect_all_succeeded_within_tries(*finished2);

  // No run or task was created twice
  RunFilter filter;
  filter.dag_id = "chain";
  EXPECT_EQ(store_->list_runs(filter).size(), 1u);
  filter.dag_id = "daily";
  ASSERT_TRUE(testing::wait_until(
      [&] {
        auto runs = store_->list_runs(filter);
        return runs.size() == 3 && std::all_of(runs.begin(), runs.end(), [](const RunRecord& r) {
                 return r.state == RunState::kSuccess;
               });
      },
      30s))
      << logs();
  std::set<std::string> ids;
  for (const auto& r : store_->list_runs(filter)) ids.insert(r.run_id);
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_EQ(executions("daily", "t"), 3);
}

TEST_F(FaultTest, PostgresRestartMidRunLosesNothingAndFailsNoTask) {
  write_chain("chain", "1.5");
  auto scheduler = start({"scheduler"}, "scheduler.log");
  auto worker = start({"worker", "--slots", "1"}, "worker.log");
  std::string run_id = trigger("chain");
  ASSERT_TRUE(testing::wait_until([&] { return started("chain", "a"); }, 20s)) << logs();

  // When Postgres stops while a runs, and starts again once the worker noticed
  auto stopped_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(pg_->stop());
  EXPECT_TRUE(testing::wait_until(
      [&] {
        return count("worker.log", "store unavailable") >= 1 &&
               count("scheduler.log", "store unavailable") >= 1;
      },
      10s))
      << logs();
  ASSERT_TRUE(pg_->start());
  auto outage = std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - stopped_at);
  std::cout << "[ figures ] Postgres was down for " << outage.count() << " ms\n";

  // Then every process reconnects, the run finishes, and a's try was not
  // failed: its worker was cut off for less than the heartbeat limit
  auto finished = wait_for_run_end("chain", run_id, 40s);
  ASSERT_TRUE(finished && is_finished(finished->state)) << logs();
  expect_all_succeeded_within_tries(*finished);
  EXPECT_EQ(executions("chain", "a"), 1) << logs();
  // One clear line per outage and process, and one when it is over
  EXPECT_EQ(count("worker.log", "store unavailable"), 1) << logs();
  EXPECT_EQ(count("worker.log", "store reachable again"), 1) << logs();
  EXPECT_EQ(count("scheduler.log", "store unavailable"), 1) << logs();
  EXPECT_EQ(count("scheduler.log", "store reachable again"), 1) << logs();
}

/// A worker on "another host": its own network namespace, linked to this one
/// by a veth pair, with Postgres listening on the host end too. Addresses are
/// a /30 that exists only between the two ends, inside this sandbox.
class NetnsFaultTest : public FaultTest {
 protected:
  void SetUp() override {
    int id = getpid() % 200 + 20;
    ns_ = "sluice-ha-" + std::to_string(getpid());
    host_if_ = "slh" + std::to_string(getpid() % 1000000);
    ns_if_ = "sln" + std::to_string(getpid() % 1000000);
    host_addr_ = "10.231." + std::to_string(id) + ".1";
    ns_addr_ = "10.231." + std::to_string(id) + ".2";
    ASSERT_EQ(shell("ip netns add " + ns_), 0)
        << "cannot create a network namespace (needs root and `ip` from iproute2)";
    made_ = true;
    ASSERT_EQ(
        shell("ip link add " + host_if_ + " type veth peer name " + ns_if_ + " && ip link set " +
              ns_if_ + " netns " + ns_ + " && ip addr add " + host_addr_ + "/30 dev " + host_if_ +
              " && ip link set " + host_if_ + " up && ip netns exec " + ns_ + " ip addr add " +
              ns_addr_ + "/30 dev " + ns_if_ + " && ip netns exec " + ns_ + " ip link set " +
              ns_if_ + " up && ip netns exec " + ns_ + " ip link set lo up"),
        0);
    SetUpServer(host_addr_, "5s");
  }
  void TearDown() override {
    if (made_)
      shell("ip netns del " + ns_ + " 2>/dev/null; ip link del " + host_if_ + " 2>/dev/null");
  }

  std::string ns_, host_if_, ns_if_, host_addr_, ns_addr_;
  bool made_ = false;
};

TEST_F(NetnsFaultTest, WorkerCutOffFromTheStoreBrieflyFinishesItsTaskAndReportsIt) {
  write_chain("net", "3");
  auto scheduler = start({"scheduler"}, "scheduler.log");
  // The worker reaches Postgres only through the veth link.
  auto worker = start({"--db", pg_->url(host_addr_), "worker", "--slots", "1"}, "worker.log",
                      {"ip", "netns", "exec", ns_});
  ASSERT_TRUE(testing::wait_until(
      [&] {
        auto list = testing::run_sluice({"workers", "list", "--json"}, dir_.path());
        auto json = nlohmann::json::parse(list.out, nullptr, false);
        return json.is_array() && json.size() == 1 && json[0].value("status", "") == "alive";
      },
      20s))
      << logs();
  std::string run_id = trigger("net");
  ASSERT_TRUE(testing::wait_until([&] { return started("net", "a"); }, 20s)) << logs();

  // When the link goes down for 2 s (less than the 5 s heartbeat limit) while
  // a runs; the fault's length is the point of the test, hence the fixed wait
  ASSERT_EQ(shell("ip link set " + host_if_ + " down"), 0);
  std::this_thread::sleep_for(2s);
  ASSERT_EQ(shell("ip link set " + host_if_ + " up"), 0);

  // Then a was not failed, ran once, and the run succeeds
  auto finished = wait_for_run_end("net", run_id, 45s);
  ASSERT_TRUE(finished && is_finished(finished->state)) << logs();
  expect_all_succeeded_within_tries(*finished);
  EXPECT_EQ(executions("net", "a"), 1) << logs();
}

}  // namespace
}  // namespace sluice
