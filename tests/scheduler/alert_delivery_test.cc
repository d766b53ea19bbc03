#include "scheduler/alert_delivery.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "core/dag.h"
#include "engine/alerts.h"
#include "engine/run_factory.h"
#include "tests/core/store_test_util.h"
#include "tests/test_util.h"

namespace sluice {
namespace {

Timestamp at(const char* iso) { return *parse_timestamp(iso); }

/// Acts out receivers: down (no response) or answering with `status`, all
/// of them or those in `down_urls`; records every request.
class FakePoster : public HttpPoster {
 public:
  struct Request {
    std::string url;
    std::string body;
    std::map<std::string, std::string> headers;
    int status = 0;
    std::string event_id() const { return nlohmann::json::parse(body)["event_id"]; }
    std::string event() const { return nlohmann::json::parse(body)["event"]; }
  };
  Response post(const std::string& url, const std::string& body,
                const std::map<std::string, std::string>& headers, Millis) override {
    bool refused = down || down_urls.count(url);
    requests.push_back({url, body, headers, refused ? 0 : status});
    if (refused) return Response{0, "cannot connect to 127.0.0.1:9: Connection refused"};
    return Response{status, status >= 300 ? "HTTP " + std::to_string(status) + ": busy" : ""};
  }
  /// The event ids the receiver at `url` accepted, in arrival order.
  std::vector<std::string> accepted(const std::string& url) const {
    std::vector<std::string> out;
    for (const Request& r : requests) {
      if (r.url == url && r.status >= 200 && r.status < 300) out.push_back(r.event_id());
    }
    return out;
  }
  size_t posts_to(const std::string& url) const {
    return std::count_if(requests.begin(), requests.end(),
                         [&](const Request& r) { return r.url == url; });
  }
  bool down = false;
  std::set<std::string> down_urls;
  int status = 200;
  std::vector<Request> requests;
};

/// Each DAG's webhook in these tests.
std::string hook_of(const std::string& dag_id) { return "http://127.0.0.1:9/" + dag_id; }

class AlertDeliveryTest : public ::testing::Test {
 protected:
  AlertDeliveryTest() : clock_(at("2026-03-01T00:00:00Z")) {
    store_ = sluice::testing::make_test_store("sqlite");
  }
  /// Writes one alert to the outbox the way deciders do.
  void enqueue(const std::string& event, const std::string& dag_id = "orders") {
    Dag dag;
    dag.id = dag_id;
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
        [secret](const AlertRecord& a) {
          return std::optional<AlertTarget>(AlertTarget{hook_of(a.dag_id), secret});
        },
        options);
  }
  /// The event ids of `dag_id`'s alerts in outbox order (their event order).
  std::vector<std::string> outbox_order(const std::string& dag_id) {
    std::vector<AlertRecord> all = store_->list_alerts(false, 1000);  // newest first
    std::vector<std::string> out;
    for (auto a = all.rbegin(); a != all.rend(); ++a) {
      if (a->dag_id == dag_id) out.push_back(a->event_id);
    }
    return out;
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
  EXPECT_EQ(a.last_status, std::nullopt);  // no answer
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
  a = store_->list_alerts(true, 10).at(0);
  EXPECT_EQ(a.last_status, 500);
  EXPECT_EQ(a.last_error, "HTTP 500: busy");
  poster_.status = 204;
  clock_.advance(Millis(40000));
  EXPECT_EQ(d.deliver_due(), 1);
  EXPECT_TRUE(store_->list_alerts(true, 10).empty());
  EXPECT_EQ(poster_.requests.size(), 4u);
  // Every attempt carried the same event_id.
  std::string id = nlohmann::json::parse(poster_.requests[0].body)["event_id"];
  for (const auto& r : poster_.requests) EXPECT_EQ(nlohmann::json::parse(r.body)["event_id"], id);
}

TEST_F(AlertDeliveryTest, GivesUpAfter24HoursAndTheNextAlertOfItsDagGoesOn) {
  enqueue("failure");
  AlertDelivery d = delivery();
  poster_.down = true;
  Timestamp created = clock_.now();
  clock_.advance(Millis(12LL * 3600 * 1000));
  enqueue("recovery");  // waits behind the failure alert
  int attempts = 0;
  auto first = [&] { return store_->list_alerts(false, 10).at(1); };  // newest first
  while (!first().last_error.starts_with("gave up")) {
    ASSERT_LT(++attempts, 1000);
    d.deliver_due();
    clock_.advance(Millis(600000));
  }
  AlertRecord a = first();
  EXPECT_FALSE(a.next_attempt_at.has_value());
  EXPECT_FALSE(a.delivered_at.has_value());
  EXPECT_EQ(alert_status(a), "gave up");
  EXPECT_GE(clock_.now() - created, Millis(23LL * 3600 * 1000));
  EXPECT_LE(clock_.now() - created, Millis(25LL * 3600 * 1000));
  // The second alert was first tried in the pass that gave up the first.
  std::vector<std::string> order = outbox_order("orders");
  size_t first_attempts = 0;
  for (const auto& r : poster_.requests) first_attempts += r.event_id() == order[0];
  ASSERT_GE(first_attempts, 2u);
  for (size_t i = 0; i < first_attempts; ++i) EXPECT_EQ(poster_.requests[i].event_id(), order[0]);
  for (size_t i = first_attempts; i < poster_.requests.size(); ++i) {
    EXPECT_EQ(poster_.requests[i].event_id(), order[1]);
  }
  // Now the second is tried, and delivered once the receiver is back.
  size_t posted = poster_.requests.size();
  poster_.down = false;
  clock_.advance(Millis(3600000));
  EXPECT_EQ(d.deliver_due(), 1);
  ASSERT_EQ(poster_.requests.size(), posted + 1);  // the given-up alert is not posted again
  EXPECT_EQ(poster_.requests.back().event(), "recovery");
  EXPECT_TRUE(store_->list_alerts(false, 10).at(0).delivered_at.has_value());
}

TEST_F(AlertDeliveryTest, AfterAnOutageADagsAlertsArriveOnceInEventOrder) {
  AlertDelivery d = delivery();
  poster_.down = true;
  // Eleven alerts, one every 3 s, while the receiver is down and the
  // scheduler keeps trying every second.
  for (int i = 0; i < 11; ++i) {
    enqueue(i % 2 ? "retry" : "failure");
    for (int s = 0; s < 3; ++s) {
      d.deliver_due();
      clock_.advance(Millis(1000));
    }
  }
  // Only the first alert was tried: the later ones wait behind it.
  for (const auto& r : poster_.requests) {
    EXPECT_EQ(r.event_id(), outbox_order("orders").front());
  }
  poster_.down = false;
  for (int s = 0; s < 120 && !store_->list_alerts(true, 100).empty(); ++s) {
    d.deliver_due();
    clock_.advance(Millis(1000));
  }
  EXPECT_EQ(poster_.accepted(hook_of("orders")), outbox_order("orders"));
  EXPECT_TRUE(store_->list_alerts(true, 100).empty());
}

TEST_F(AlertDeliveryTest, ADagWhoseReceiverIsDownDoesNotHoldBackAnotherDag) {
  AlertDelivery d = delivery();
  poster_.down_urls = {hook_of("orders")};
  enqueue("failure", "orders");
  enqueue("failure", "billing");
  enqueue("recovery", "orders");
  enqueue("recovery", "billing");
  EXPECT_EQ(d.deliver_due(), 2);
  EXPECT_EQ(poster_.accepted(hook_of("billing")), outbox_order("billing"));
  EXPECT_EQ(poster_.posts_to(hook_of("orders")), 1u);  // its head only; the next waits
  // More billing alerts go while orders' head still fails.
  enqueue("failure", "billing");
  clock_.advance(Millis(10000));
  EXPECT_EQ(d.deliver_due(), 1);
  EXPECT_EQ(poster_.posts_to(hook_of("orders")), 2u);
  EXPECT_EQ(poster_.accepted(hook_of("billing")), outbox_order("billing"));
  // The orders receiver is back: its two alerts arrive in order.
  poster_.down_urls.clear();
  clock_.advance(Millis(20000));
  EXPECT_EQ(d.deliver_due(), 2);
  EXPECT_EQ(poster_.accepted(hook_of("orders")), outbox_order("orders"));
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

TEST(HttplibPosterTest, SaysWhatFailedAndWhereButNeverTheUrlsSecrets) {
  HttplibPoster poster;
  std::string down = "127.0.0.1:" + std::to_string(testing::free_port());
  HttpPoster::Response refused =
      poster.post("http://" + down + "/hook/T0K3N?token=S3CRET", "{}", {}, Millis(2000));
  EXPECT_EQ(refused.status, 0);
  EXPECT_EQ(refused.error, "cannot connect to " + down + ": Connection refused");

  testing::WebhookReceiver busy;
  busy.answer_with(503, "busy\nback soon");
  std::string place = "127.0.0.1:" + std::to_string(busy.start());
  HttpPoster::Response answered =
      poster.post("http://" + place + "/hook?token=S3CRET", "{}", {}, Millis(2000));
  EXPECT_EQ(answered.status, 503);
  EXPECT_EQ(answered.error, "HTTP 503 from " + place + ": busy back soon");
  ASSERT_EQ(busy.hits().size(), 1u);

  HttpPoster::Response not_http = poster.post("ftp://me:S3CRET@example.com/T0K3N", "{}", {},
                                              Millis(2000));
  EXPECT_EQ(not_http.status, 0);
  HttpPoster::Response user_info =
      poster.post("http://me:S3CRET@" + down + "/hook", "{}", {}, Millis(2000));
  EXPECT_EQ(user_info.status, 0);
  EXPECT_NE(user_info.error.find(down), std::string::npos) << user_info.error;
  for (const HttpPoster::Response& r : {refused, answered, not_http, user_info}) {
    EXPECT_EQ(r.error.find("S3CRET"), std::string::npos) << r.error;
    EXPECT_EQ(r.error.find("T0K3N"), std::string::npos) << r.error;
  }
}

}  // namespace
}  // namespace sluice
