#include "scheduler/alert_delivery.h"

#include <gtest/gtest.h>

#include "core/dag.h"
#include "engine/run_factory.h"
#include "tests/core/store_test_util.h"

namespace sluice {
namespace {

Timestamp at(const char* iso) { return *parse_timestamp(iso); }

/// Acts out a receiver: down (no response) or answering with `status`;
/// records every request.
class FakePoster : public HttpPoster {
 public:
  struct Request {
    std::string url;
    std::string body;
    std::map<std::string, std::string> headers;
  };
  Response post(const std::string& url, const std::string& body,
                const std::map<std::string, std::string>& headers, Millis) override {
    requests.push_back({url, body, headers});
    if (down) return Response{0, "Connection refused"};
    return Response{status, status >= 300 ? "HTTP " + std::to_string(status) : ""};
  }
  bool down = false;
  int status = 200;
  std::vector<Request> requests;
};

class AlertDeliveryTest : public ::testing::Test {
 protected:
  AlertDeliveryTest() : clock_(at("2026-03-01T00:00:00Z")) {
    store_ = sluice::testing::make_test_store("sqlite");
  }
  /// Writes one alert to the outbox the way deciders do.
  void enqueue(const std::string& event) {
    Dag dag;
    dag.id = "orders";
    Task t;
    t.id = "load";
    dag.tasks.push_back(t);
    DataInterval interval{clock_.now() - Millis(3600000), clock_.now()};
    NewRun run = make_new_run(dag, 1, RunType::kManual, interval, nullptr,
                              "manual__" + std::to_string(++runs_));
    Decider decider;
    decider.decide = [event](const RunSnapshot& snap) {
      RunDecisions d;
      AlertEvent a;
      a.event = event;
      a.dag_id = snap.run.dag_id;
      a.run_id = snap.run.run_id;
      a.payload = {{"event", event}, {"dag_id", snap.run.dag_id}, {"text", "hello"}};
      d.alerts.push_back(a);
      return d;
    };
    store_->create_run(run, decider, clock_.now());
  }
  AlertDelivery delivery(std::string secret = "") {
    AlertDeliveryOptions options;
    options.first_backoff = Millis(10000);
    options.max_backoff = Millis(600000);
    return AlertDelivery(
        *store_, clock_, poster_,
        [secret](const AlertRecord&) {
          return std::optional<AlertTarget>(AlertTarget{"http://127.0.0.1:9/hook", secret});
        },
        options);
  }
  FakeClock clock_;
  FakePoster poster_;
  std::unique_ptr<Store> store_;
  int runs_ = 0;
};

TEST_F(AlertDeliveryTest, PostsTheBodyWithItsEventIdAndMarksItDelivered) {
  enqueue("failure");
  AlertDelivery d = delivery();
  EXPECT_EQ(d.deliver_due(), 1);
  ASSERT_EQ(poster_.requests.size(), 1u);
  auto body = nlohmann::json::parse(poster_.requests[0].body);
  EXPECT_EQ(body["event"], "failure");
  EXPECT_EQ(body["text"], "hello");
  std::vector<AlertRecord> all = store_->list_alerts(false, 10);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(body["event_id"], all[0].event_id);
  EXPECT_TRUE(all[0].delivered_at.has_value());
  EXPECT_EQ(poster_.requests[0].headers.count("X-Sluice-Signature"), 0u);
  // Delivered alerts are not posted again.
  clock_.advance(Millis(3600000));
  EXPECT_EQ(d.deliver_due(), 0);
  EXPECT_EQ(poster_.requests.size(), 1u);
}

TEST_F(AlertDeliveryTest, SignsTheBodyWithHmacSha256) {
  enqueue("failure");
  AlertDelivery d = delivery("s3cret");
  d.deliver_due();
  ASSERT_EQ(poster_.requests.size(), 1u);
  const auto& r = poster_.requests[0];
  EXPECT_EQ(r.headers.at("X-Sluice-Signature"), "sha256=" + hmac_sha256_hex("s3cret", r.body));
  // RFC 4231 test case 2.
  EXPECT_EQ(hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_F(AlertDeliveryTest, RetriesWithExponentialBackoffThenDeliversOnce) {
  enqueue("failure");
  AlertDelivery d = delivery();
  poster_.down = true;
  EXPECT_EQ(d.deliver_due(), 0);
  AlertRecord a = store_->list_alerts(true, 10).at(0);
  EXPECT_EQ(a.attempts, 1);
  EXPECT_EQ(a.next_attempt_at, clock_.now() + Millis(10000));
  EXPECT_NE(a.last_error.find("Connection refused"), std::string::npos);
  // Not due yet: nothing is posted.
  clock_.advance(Millis(9999));
  d.deliver_due();
  EXPECT_EQ(poster_.requests.size(), 1u);
  clock_.advance(Millis(1));
  d.deliver_due();
  a = store_->list_alerts(true, 10).at(0);
  EXPECT_EQ(a.next_attempt_at, clock_.now() + Millis(20000));  // doubled
  EXPECT_EQ(d.backoff_after(3), Millis(40000));
  EXPECT_EQ(d.backoff_after(30), Millis(600000));  // capped
  poster_.down = false;
  poster_.status = 500;  // an error answer is a failure too
  clock_.advance(Millis(20000));
  EXPECT_EQ(d.deliver_due(), 0);
  poster_.status = 204;
  clock_.advance(Millis(40000));
  EXPECT_EQ(d.deliver_due(), 1);
  EXPECT_TRUE(store_->list_alerts(true, 10).empty());
  EXPECT_EQ(poster_.requests.size(), 4u);
  // Every attempt carried the same event_id.
  std::string id = nlohmann::json::parse(poster_.requests[0].body)["event_id"];
  for (const auto& r : poster_.requests) EXPECT_EQ(nlohmann::json::parse(r.body)["event_id"], id);
}

TEST_F(AlertDeliveryTest, GivesUpAfter24Hours) {
  enqueue("failure");
  AlertDelivery d = delivery();
  poster_.down = true;
  Timestamp created = clock_.now();
  int attempts = 0;
  while (!store_->list_alerts(true, 10).at(0).last_error.starts_with("gave up")) {
    ASSERT_LT(++attempts, 1000);
    d.deliver_due();
    clock_.advance(Millis(600000));
  }
  AlertRecord a = store_->list_alerts(true, 10).at(0);
  EXPECT_FALSE(a.next_attempt_at.has_value());
  EXPECT_FALSE(a.delivered_at.has_value());
  EXPECT_GE(clock_.now() - created, Millis(23LL * 3600 * 1000));
  EXPECT_LE(clock_.now() - created, Millis(25LL * 3600 * 1000));
  size_t posted = poster_.requests.size();
  clock_.advance(Millis(3600000));
  poster_.down = false;
  d.deliver_due();
  EXPECT_EQ(poster_.requests.size(), posted);  // no further attempt
}

TEST_F(AlertDeliveryTest, AnAlertWithoutWebhookIsRetriedWithTheReason) {
  enqueue("failure");
  AlertDelivery d(*store_, clock_, poster_,
                  [](const AlertRecord&) { return std::optional<AlertTarget>(); });
  d.deliver_due();
  EXPECT_TRUE(poster_.requests.empty());
  EXPECT_NE(store_->list_alerts(true, 10).at(0).last_error.find("alerts.webhook"),
            std::string::npos);
}

}  // namespace
}  // namespace sluice
