// Alerts end to end: real `sluice scheduler` and `sluice worker` processes
// and a real HTTP receiver on 127.0.0.1. Also a reschedule-mode sensor that
// frees the only worker slot while it waits.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "core/store.h"
#include "scheduler/alert_delivery.h"
#include "tests/core/store_test_util.h"
#include "tests/test_util.h"

namespace sluice {
namespace {

using testing::Process;
using testing::TempDir;
using Receiver = testing::WebhookReceiver;
using namespace std::chrono_literals;

class AlertsIntegrationTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    store_ = testing::make_test_store(GetParam());
    url_ = testing::last_test_store_url(GetParam());
  }
  void write_config(const std::string& alerts_yaml) {
    dir_.write("sluice.yaml", "db: \"" + url_ +
                                  "\"\n"
                                  "dags: dags\n"
                                  "worker:\n  heartbeat_interval: 200ms\n  heartbeat_timeout: 2s\n"
                                  "scheduler:\n  dag_scan_interval: 200ms\n" +
                                  alerts_yaml);
  }
  std::unique_ptr<Process> start(const std::vector<std::string>& args, const std::string& log,
                                 std::map<std::string, std::string> env = {}) {
    env["TMPDIR"] = dir_.path();
    env["SLUICE_ALERTS_FIRST_BACKOFF"] = "200ms";
    return std::make_unique<Process>(testing::sluice_argv(args), dir_.path(), dir_.file(log), env);
  }
  std::string trigger(const std::string& dag) {
    auto result = testing::run_sluice({"trigger", dag, "--json"}, dir_.path());
    EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
    auto json = nlohmann::json::parse(result.out, nullptr, false);
    return json.is_discarded() ? "" : json.value("run_id", "");
  }
  bool all_delivered(size_t expected) {
    return store_->list_alerts(false, 1000).size() == expected &&
           store_->list_alerts(true, 1000).empty();
  }
  std::string logs() {
    return testing::read_file(dir_.file("scheduler.log")) +
           testing::read_file(dir_.file("scheduler2.log")) +
           testing::read_file(dir_.file("worker.log"));
  }
  /// Every event_id at most once.
  static void expect_no_duplicates(const std::vector<Receiver::Hit>& hits) {
    std::set<std::string> ids;
    for (const auto& h : hits) {
      EXPECT_TRUE(ids.insert(h.body.value("event_id", "")).second) << "delivered twice: " << h.raw;
    }
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
  std::string url_;
};

TEST_P(AlertsIntegrationTest, ATaskFailingAfterItsRetriesYieldsOneSignedFailureAlert) {
  Receiver receiver;
  int port = receiver.start();
  write_config("");
  dir_.write("dags/fails.yaml", R"(dag: fails
schedule: null
start_date: 2026-01-01
alerts:
  webhook: "{{ env.TEST_HOOK }}"
  secret: s3cret
  on: [failure, retry]
tasks:
  - id: ok
    type: shell
    command: "true"
  - id: boom
    type: shell
    command: "echo loading; echo 'fatal: no such table' >&2; exit 3"
    retries: 1
    retry_delay: 100ms
)");
  std::string hook = "http://127.0.0.1:" + std::to_string(port) + "/hook";
  auto scheduler = start({"scheduler"}, "scheduler.log", {{"TEST_HOOK", hook}});
  auto worker = start({"worker", "--slots", "2"}, "worker.log");
  ASSERT_TRUE(testing::wait_until([&] { return store_->get_dag("fails").has_value(); }, 20s))
      << logs();
  std::string run_id = trigger("fails");
  ASSERT_TRUE(testing::wait_until([&] { return !receiver.hits_of("failure").empty(); }, 30s))
      << logs();
  ASSERT_TRUE(testing::wait_until([&] { return all_delivered(2); }, 10s)) << logs();
  std::vector<Receiver::Hit> hits = receiver.hits();
  expect_no_duplicates(hits);
  std::vector<Receiver::Hit> failures = receiver.hits_of("failure");
  ASSERT_EQ(failures.size(), 1u);
  const nlohmann::json& f = failures[0].body;
  EXPECT_EQ(f["dag_id"], "fails");
  EXPECT_EQ(f["run_id"], run_id);
  EXPECT_EQ(f["task_id"], "boom");
  EXPECT_EQ(f["try_number"], 2);
  EXPECT_NE(f["error"].get<std::string>().find("fatal: no such table"), std::string::npos) << f;
  EXPECT_NE(f["text"].get<std::string>().find("boom"), std::string::npos);
  EXPECT_FALSE(f["event_id"].get<std::string>().empty());
  std::vector<Receiver::Hit> retries = receiver.hits_of("retry");
  ASSERT_EQ(retries.size(), 1u);
  EXPECT_EQ(retries[0].body["task_id"], "boom");
  EXPECT_EQ(retries[0].body["try_number"], 1);
  for (const auto& h : hits) {
    EXPECT_EQ(h.signature, "sha256=" + hmac_sha256_hex("s3cret", h.raw));
  }
  auto listed = testing::run_sluice({"alerts", "list", "--json"}, dir_.path());
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  auto rows = nlohmann::json::parse(listed.out);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["status"], "delivered");
}

TEST_P(AlertsIntegrationTest, AlertsSurviveAReceiverOutageAndASchedulerKill) {
  // The receiver is up but failing (503) while a run writes twelve alerts:
  // ten retries, the task's failure and the run's.
  Receiver receiver;
  receiver.answer_with(503, "busy\nback soon");
  int port = receiver.start();
  std::string place = "127.0.0.1:" + std::to_string(port);
  write_config("alerts:\n  webhook: http://" + place + "/hook?token=t0ken\n  secret: topsecret\n");
  dir_.write("dags/nightly.yaml", R"(dag: nightly
schedule: null
start_date: 2026-01-01
alerts:
  on: [retry, task_failure, failure]
tasks:
  - id: step
    type: shell
    command: "exit 1"
    retries: 10
    retry_delay: 50ms
)");
  auto scheduler = start({"scheduler"}, "scheduler.log");
  auto worker = start({"worker"}, "worker.log");
  ASSERT_TRUE(testing::wait_until([&] { return store_->get_dag("nightly").has_value(); }, 20s))
      << logs();
  std::string run_id = trigger("nightly");
  // All twelve are in the outbox; the first failed at least once and the
  // others wait behind it, never tried. The kill comes between two attempts
  // (a claim left by a scheduler killed while posting would hold the alert
  // for the claim's 40 s).
  std::vector<AlertRecord> pending;  // newest first
  ASSERT_TRUE(testing::wait_until(
      [&] {
        pending = store_->list_alerts(true, 100);
        return pending.size() == 12 && pending.back().attempts >= 1 &&
               pending.back().next_attempt_at > RealClock().now() + 100ms;
      },
      30s))
      << logs();
  scheduler->kill(SIGKILL);
  scheduler->wait(5s);
  pending = store_->list_alerts(true, 100);
  ASSERT_EQ(pending.size(), 12u);
  const AlertRecord& head = pending.back();
  EXPECT_EQ(head.last_status, 503);
  EXPECT_EQ(head.last_error, "HTTP 503 from " + place + ": busy back soon");
  for (size_t i = 0; i + 1 < pending.size(); ++i) {
    EXPECT_EQ(pending[i].attempts, 0) << pending[i].event << " was tried before earlier alerts";
  }
  // The status and error are shown, the webhook's token is not.
  auto listed = testing::run_sluice({"alerts", "list", "--undelivered"}, dir_.path());
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.out.find("HTTP"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find(" 503 "), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("HTTP 503 from " + place + ": busy back soon"), std::string::npos)
      << listed.out;
  auto json = testing::run_sluice({"alerts", "list", "--undelivered", "--json"}, dir_.path());
  ASSERT_EQ(json.exit_code, 0) << json.err;
  nlohmann::json rows = nlohmann::json::parse(json.out);
  ASSERT_EQ(rows.size(), 12u);
  EXPECT_EQ(rows.back()["last_status"], 503);
  EXPECT_EQ(rows.back()["last_error"], "HTTP 503 from " + place + ": busy back soon");
  EXPECT_TRUE(rows.front()["last_status"].is_null());
  EXPECT_EQ((listed.out + json.out + logs()).find("t0ken"), std::string::npos);

  // The receiver recovers and a new scheduler takes over.
  receiver.answer_with(200);
  auto restarted = start({"scheduler"}, "scheduler2.log");
  ASSERT_TRUE(testing::wait_until([&] { return all_delivered(12); }, 30s)) << logs();

  // Every alert arrived once, in event order.
  std::vector<std::string> outbox;  // event ids in outbox order
  std::vector<AlertRecord> all = store_->list_alerts(false, 100);
  for (auto a = all.rbegin(); a != all.rend(); ++a) outbox.push_back(a->event_id);
  std::vector<std::string> accepted;
  std::vector<std::string> events;
  for (const auto& h : receiver.hits()) {
    EXPECT_EQ(h.signature, "sha256=" + hmac_sha256_hex("topsecret", h.raw));
    if (h.status != 200) {
      EXPECT_EQ(h.body["event_id"], outbox.front()) << "a later alert was tried first";
      continue;
    }
    accepted.push_back(h.body["event_id"]);
    EXPECT_EQ(h.body["run_id"], run_id);
    events.push_back(h.body["event"].get<std::string>() +
                     (h.body["event"] == "retry" ? std::to_string(h.body["try_number"].get<int>())
                                                 : ""));
  }
  EXPECT_EQ(accepted, outbox);
  // The outbox order is the event order: the tries in turn, then the task's
  // and the run's failure (written together when the last try ended).
  ASSERT_EQ(events.size(), 12u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(events[i], "retry" + std::to_string(i + 1));
  EXPECT_EQ(std::set<std::string>(events.begin() + 10, events.end()),
            (std::set<std::string>{"task_failure", "failure"}));
  auto undelivered = testing::run_sluice({"alerts", "list", "--undelivered"}, dir_.path());
  EXPECT_EQ(undelivered.exit_code, 0);
  EXPECT_NE(undelivered.out.find("Every alert has been delivered"), std::string::npos)
      << undelivered.out;
}

TEST_P(AlertsIntegrationTest, ARescheduleSensorFreesTheOnlyWorkerSlot) {
  write_config("");
  dir_.write("dags/waits.yaml", R"(dag: waits
schedule: null
start_date: 2026-01-01
tasks:
  - id: wait_for_flag
    type: file_sensor
    path: flag.txt
    mode: reschedule
    poke_interval: 200ms
    timeout: 60s
  - id: other_work
    type: shell
    command: "echo working"
  - id: after
    type: shell
    command: "echo after"
    depends_on: [wait_for_flag]
)");
  auto scheduler = start({"scheduler"}, "scheduler.log");
  auto worker = start({"worker", "--slots", "1"}, "worker.log");
  ASSERT_TRUE(testing::wait_until([&] { return store_->get_dag("waits").has_value(); }, 20s))
      << logs();
  std::string run_id = trigger("waits");
  std::optional<RunRecord> run;
  auto state_of = [&](const std::string& task_id) {
    run = store_->get_run("waits", run_id);
    for (const auto& ti : store_->list_task_instances(run->id)) {
      if (ti.task_id == task_id) return ti;
    }
    return TaskInstanceRecord{};
  };
  // The one slot ran other_work while the sensor waited between checks.
  bool saw_reschedule = false;
  ASSERT_TRUE(testing::wait_until(
      [&] {
        TaskInstanceRecord sensor = state_of("wait_for_flag");
        if (sensor.state == TaskState::kUpForReschedule && sensor.next_try_at) {
          saw_reschedule = true;
        }
        return state_of("other_work").state == TaskState::kSuccess && saw_reschedule &&
               sensor.try_number >= 2;
      },
      30s))
      << logs();
  EXPECT_FALSE(is_finished(state_of("wait_for_flag").state));
  dir_.write("dags/flag.txt", "go");
  ASSERT_TRUE(testing::wait_until(
      [&] {
        run = store_->get_run("waits", run_id);
        return run && is_finished(run->state);
      },
      30s))
      << logs();
  EXPECT_EQ(run->state, RunState::kSuccess) << logs();
  TaskInstanceRecord sensor = state_of("wait_for_flag");
  ASSERT_TRUE(sensor.first_started_at.has_value());
  EXPECT_LT(*sensor.first_started_at, *sensor.started_at);  // first check kept across reschedules
}

INSTANTIATE_TEST_SUITE_P(Backends, AlertsIntegrationTest, ::testing::Values("sqlite", "postgres"));

}  // namespace
}  // namespace sluice
