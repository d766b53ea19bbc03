#include "worker/sensor_executor.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "core/states.h"
#include "engine/run_factory.h"
#include "tests/core/store_test_util.h"
#include "tests/worker/elt_test_util.h"

namespace sluice {
namespace {

using testing_elt::Harness;
using Status = TaskOutcome::Status;

Timestamp at(const char* iso) { return *parse_timestamp(iso); }

/// A sensor task with a FakeClock; waits between pokes advance the clock.
class SensorTest : public ::testing::Test {
 protected:
  SensorTest() : clock_(at("2026-01-02T00:00:00Z")) {
    h_.run.interval = {at("2026-01-01T00:00:00Z"), at("2026-01-02T00:00:00Z")};
    h_.task.sensor = SensorSettings{};
    h_.task.sensor->poke_interval = Millis(30000);
    h_.task.timeout = Millis(120000);
    h_.task.cwd = dir_.path();
  }
  TaskOutcome run(std::optional<Timestamp> first_started_at = std::nullopt) {
    SensorExecutor executor([this](Millis d, const std::atomic<bool>&) {
      waits_.push_back(d);
      clock_.advance(d);
      if (on_wait_) on_wait_();
    });
    TaskContext ctx{h_.dag,       h_.task,      h_.run, 1,
                    h_.context,   h_.config,    h_.log, h_.cancel,
                    *h_.launcher, std::nullopt, {},     first_started_at.value_or(clock_.now()),
                    &clock_};
    ctx.store = store_;
    return executor.execute(ctx);
  }
  void file_sensor(const std::string& path, int64_t min_size = 0) {
    h_.task.type = "file_sensor";
    h_.task.spec = FileSensorTask{path, min_size};
  }

  testing_elt::TempDir dir_;
  Harness h_;
  FakeClock clock_;
  std::vector<Millis> waits_;
  std::function<void()> on_wait_;
  Store* store_ = nullptr;
};

TEST_F(SensorTest, PokeModeChecksEveryIntervalUntilTheFileAppears) {
  file_sensor("in_{{ ds_nodash }}.csv");
  on_wait_ = [&] {
    if (waits_.size() == 2) dir_.file("in_20260101.csv", "a,b\n");
  };
  TaskOutcome o = run();
  ASSERT_EQ(o.status, Status::kSuccess) << o.error;
  EXPECT_EQ(waits_, (std::vector<Millis>{Millis(30000), Millis(30000)}));
  EXPECT_NE(h_.log.text().find("found " + dir_.path() + "/in_20260101.csv"), std::string::npos);
  EXPECT_EQ(o.rendered["path"], "in_20260101.csv");
}

TEST_F(SensorTest, MinSizeIgnoresSmallerFiles) {
  dir_.file("small.csv", "x");
  file_sensor("*.csv", 10);
  h_.task.sensor->mode = SensorMode::kReschedule;
  TaskOutcome o = run();
  EXPECT_EQ(o.status, Status::kReschedule);
  EXPECT_NE(h_.log.text().find("fewer than min_size 10"), std::string::npos) << h_.log.text();
}

TEST_F(SensorTest, PokeModeTimesOutCountingFromTheFirstCheck) {
  file_sensor("never.csv");
  // The first check was 100 s ago, in an earlier try: 20 s of the 120 s remain.
  TaskOutcome o = run(clock_.now() - Millis(100000));
  EXPECT_EQ(o.status, Status::kFailed);
  EXPECT_TRUE(o.timed_out);
  EXPECT_NE(o.error.find("sensor timed out after 2m"), std::string::npos) << o.error;
  // One wait shortened to the deadline, then the final check.
  EXPECT_EQ(waits_, (std::vector<Millis>{Millis(20000)}));
}

TEST_F(SensorTest, SoftFailSkipsAtTheTimeout) {
  file_sensor("never.csv");
  h_.task.sensor->soft_fail = true;
  TaskOutcome o = run(clock_.now() - Millis(200000));
  EXPECT_EQ(o.status, Status::kSkipped);
  EXPECT_NE(o.error.find("soft_fail"), std::string::npos);
}

TEST_F(SensorTest, RescheduleModeChecksOnceAndAsksForTheNextCheck) {
  file_sensor("later.csv");
  h_.task.sensor->mode = SensorMode::kReschedule;
  TaskOutcome o = run(clock_.now() - Millis(10000));
  ASSERT_EQ(o.status, Status::kReschedule);
  EXPECT_EQ(o.reschedule_at, clock_.now() + Millis(30000));
  EXPECT_TRUE(waits_.empty());
  // The last check falls on the deadline, not after it.
  o = run(clock_.now() - Millis(110000));
  ASSERT_EQ(o.status, Status::kReschedule);
  EXPECT_EQ(o.reschedule_at, clock_.now() + Millis(10000));
  // Past the deadline (across reschedules): failed.
  o = run(clock_.now() - Millis(120000));
  EXPECT_EQ(o.status, Status::kFailed);
  EXPECT_TRUE(o.timed_out);
  dir_.file("later.csv", "x");
  EXPECT_EQ(run(clock_.now() - Millis(10000)).status, Status::kSuccess);
}

TEST_F(SensorTest, TimeSensorWaitsUntilAfterTheIntervalEnd) {
  h_.task.type = "time_sensor";
  h_.task.spec = TimeSensorTask{Millis(60000)};
  h_.task.timeout = Millis(3600000);
  TaskOutcome o = run();
  ASSERT_EQ(o.status, Status::kSuccess) << o.error;
  EXPECT_EQ(clock_.now(), at("2026-01-02T00:01:00Z"));
  EXPECT_EQ(o.rendered["target"], "2026-01-02T00:01:00Z");
}

TEST_F(SensorTest, SqlSensorSucceedsOnATruthyFirstColumn) {
  std::string url = "sqlite://" + dir_.path() + "/wh.db";
  h_.add_connection("wh", url);
  auto wh = Warehouse::open(Connection::parse("wh", url));
  wh->execute("CREATE TABLE ready (day TEXT, ok INTEGER)");
  h_.task.type = "sql_sensor";
  h_.task.spec = SqlSensorTask{"wh", "SELECT ok FROM ready WHERE day = '{{ ds }}'"};
  h_.task.sensor->mode = SensorMode::kReschedule;
  EXPECT_EQ(run().status, Status::kReschedule);  // no row
  wh->execute("INSERT INTO ready VALUES ('2026-01-01', 0)");
  EXPECT_EQ(run().status, Status::kReschedule);  // falsy
  wh->execute("UPDATE ready SET ok = 1");
  TaskOutcome o = run();
  EXPECT_EQ(o.status, Status::kSuccess) << o.error;
  EXPECT_EQ(o.rendered["sql"], "SELECT ok FROM ready WHERE day = '2026-01-01'");
}

TEST_F(SensorTest, SqlSensorWithAnUnknownConnectionFailsAtOnce) {
  h_.task.type = "sql_sensor";
  h_.task.spec = SqlSensorTask{"nope", "SELECT 1"};
  TaskOutcome o = run();
  EXPECT_EQ(o.status, Status::kFailed);
  EXPECT_FALSE(o.timed_out);
  EXPECT_NE(o.error.find("nope"), std::string::npos) << o.error;
}

TEST_F(SensorTest, HttpSensorWaitsForTheStatusAndText) {
  httplib::Server server;
  std::atomic<int> state{0};
  server.Get("/status", [&](const httplib::Request&, httplib::Response& res) {
    if (state == 0) {
      res.status = 503;
    } else {
      res.status = 200;
      res.set_content(state == 1 ? "pending" : "done", "text/plain");
    }
  });
  int port = server.bind_to_any_port("127.0.0.1");
  std::thread thread([&] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::yield();
  h_.task.type = "http_sensor";
  h_.task.spec =
      HttpSensorTask{"http://127.0.0.1:" + std::to_string(port) + "/status", 200, "done"};
  h_.task.sensor->mode = SensorMode::kReschedule;
  EXPECT_EQ(run().status, Status::kReschedule);
  EXPECT_NE(h_.log.text().find("returned 503, waiting for 200"), std::string::npos);
  state = 1;
  EXPECT_EQ(run().status, Status::kReschedule);
  state = 2;
  EXPECT_EQ(run().status, Status::kSuccess);
  server.stop();
  thread.join();
}

/// A TCP socket bound to a free port of 127.0.0.1 that accepts connections
/// only once `listen()` is called (until then a connection is refused).
class LocalPort {
 public:
  LocalPort() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof(address);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&address), size), 0);
    EXPECT_EQ(::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size), 0);
    port_ = ntohs(address.sin_port);
  }
  ~LocalPort() { ::close(fd_); }
  LocalPort(const LocalPort&) = delete;
  LocalPort& operator=(const LocalPort&) = delete;

  void listen() { ASSERT_EQ(::listen(fd_, 8), 0); }
  int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
};

TEST_F(SensorTest, TcpSensorPokesUntilThePortAcceptsConnections) {
  LocalPort service;
  h_.context["params"] = {{"db_host", "127.0.0.1"}};
  h_.task.type = "tcp_sensor";
  h_.task.spec = TcpSensorTask{"{{ params.db_host }}", service.port()};
  on_wait_ = [&] {
    if (waits_.size() == 2) service.listen();
  };
  TaskOutcome o = run();
  ASSERT_EQ(o.status, Status::kSuccess) << o.error << h_.log.text();
  EXPECT_EQ(waits_, (std::vector<Millis>{Millis(30000), Millis(30000)}));
  const std::string where = "127.0.0.1:" + std::to_string(service.port());
  EXPECT_NE(h_.log.text().find("connecting to " + where + ": Connection refused"),
            std::string::npos)
      << h_.log.text();
  EXPECT_NE(h_.log.text().find(where + " accepted a connection"), std::string::npos);
  EXPECT_EQ(o.rendered["host"], "127.0.0.1");
  EXPECT_EQ(o.rendered["port"], service.port());
}

TEST_F(SensorTest, TcpSensorTimesOutWhileNothingListens) {
  LocalPort closed;  // bound, never listening: every connection is refused
  h_.task.type = "tcp_sensor";
  h_.task.spec = TcpSensorTask{"127.0.0.1", closed.port()};
  TaskOutcome o = run();
  EXPECT_EQ(o.status, Status::kFailed);
  EXPECT_TRUE(o.timed_out);
  EXPECT_NE(o.error.find("sensor timed out after 2m"), std::string::npos) << o.error;
  // Checks at 0, 30, 60, 90 and 120 s, all refused.
  EXPECT_EQ(waits_.size(), 4u);
}

/// external_task_sensor against a real store: the other DAG's run for the
/// same interval, shifted by the offset.
class ExternalSensorTest : public SensorTest {
 protected:
  void SetUp() override {
    owned_ = sluice::testing::make_test_store("sqlite");
    store_ = owned_.get();
    h_.task.type = "external_task_sensor";
    h_.task.sensor->mode = SensorMode::kReschedule;
  }
  int64_t make_run(const char* start, const char* end) {
    Dag other;
    other.id = "upstream";
    Task t;
    t.id = "load";
    other.tasks.push_back(t);
    DataInterval interval{at(start), at(end)};
    NewRun run = make_new_run(other, 1, RunType::kScheduled, interval, nullptr,
                              make_run_id(RunType::kScheduled, interval.start));
    Decider none;
    none.decide = [](const RunSnapshot&) { return RunDecisions{}; };
    return store_->create_run(run, none, clock_.now())->id;
  }
  void set_task(int64_t run_pk, TaskState state) {
    Decider none;
    none.decide = [](const RunSnapshot&) { return RunDecisions{}; };
    int64_t ti = store_->list_task_instances(run_pk).at(0).id;
    store_->mark_task_instance(ti, state, "test", none, clock_.now());
  }
  std::unique_ptr<Store> owned_;
};

TEST_F(ExternalSensorTest, WaitsForTheTaskOfTheShiftedIntervalAndFailsEarly) {
  h_.task.spec = ExternalTaskSensorTask{"upstream", "load", Millis(-86400000), true};
  // The previous day's run of `upstream`.
  EXPECT_EQ(run().status, Status::kReschedule);
  EXPECT_NE(h_.log.text().find("no run yet of DAG 'upstream' task 'load' for the interval "
                               "starting 2025-12-31T00:00:00Z"),
            std::string::npos)
      << h_.log.text();
  int64_t same_day = make_run("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z");
  set_task(same_day, TaskState::kSuccess);  // not the interval it waits for
  EXPECT_EQ(run().status, Status::kReschedule);
  int64_t previous = make_run("2025-12-31T00:00:00Z", "2026-01-01T00:00:00Z");
  EXPECT_EQ(run().status, Status::kReschedule);
  set_task(previous, TaskState::kFailed);
  TaskOutcome o = run();
  EXPECT_EQ(o.status, Status::kFailed);
  EXPECT_NE(o.error.find("task 'load' of scheduled__2025-12-31T00:00:00Z is failed"),
            std::string::npos)
      << o.error;
  set_task(previous, TaskState::kSuccess);
  EXPECT_EQ(run().status, Status::kSuccess);
}

TEST_F(ExternalSensorTest, KeepsWaitingOnAFailedRunWhenTold) {
  h_.task.spec = ExternalTaskSensorTask{"upstream", "load", Millis(0), false};
  int64_t run_pk = make_run("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z");
  set_task(run_pk, TaskState::kFailed);
  EXPECT_EQ(run().status, Status::kReschedule);
}

}  // namespace
}  // namespace sluice
