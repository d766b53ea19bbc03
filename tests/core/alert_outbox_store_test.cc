// The alert outbox in the store, on both backends: each DAG's alerts are
// claimed one at a time in outbox order, a claim keeps other deliverers off,
// and an alert is marked delivered once.

#include <map>
#include <mutex>
#include <pqxx/pqxx>

#include "tests/core/store_test_fixture.h"
#include "tests/test_util.h"

namespace sluice::store_test {
namespace {

class AlertOutboxStoreTest : public StoreTest {
 protected:
  /// Writes one alert per event, of `dag_id` ("": about no DAG), in the
  /// transaction that creates a run.
  void enqueue(const std::string& dag_id, const std::vector<std::string>& events,
               Timestamp now = at(1)) {
    Decider alerting{[dag_id, events](const RunSnapshot& snap) {
      RunDecisions d;
      for (const std::string& e : events) {
        d.alerts.push_back({e, dag_id, snap.run.run_id, "", {{"event", e}}});
      }
      return d;
    }};
    int64_t v = add_dag("d");
    create(new_run("d", RunType::kManual, at(100 + runs_++), {"a"}, v), alerting, now);
  }
  /// "dag/event" of the alert claimed now, or "" when none is.
  std::string claim_next(Timestamp now = at(1), Timestamp claim_until = at(30)) {
    std::optional<AlertRecord> a = store_->claim_next_alert(now, claim_until);
    if (!a) return "";
    claimed_[a->dag_id + "/" + a->event] = *a;
    return a->dag_id + "/" + a->event;
  }
  int64_t id_of(const std::string& claimed) { return claimed_.at(claimed).id; }
  AlertRecord stored(int64_t id) {
    for (const AlertRecord& a : store_->list_alerts(false, 1000)) {
      if (a.id == id) return a;
    }
    throw std::logic_error("no alert " + std::to_string(id));
  }

  int runs_ = 0;
  std::map<std::string, AlertRecord> claimed_;
};

TEST_P(AlertOutboxStoreTest, EachDagsAlertsAreClaimedInOrderOneAtATime) {
  enqueue("orders", {"retry", "task_failure"});
  enqueue("", {"sla_miss"});  // about no DAG: a sequence of its own
  enqueue("orders", {"failure"});
  enqueue("billing", {"failure"});
  EXPECT_EQ(claim_next(at(0)), "");  // not due before its creation

  // The first open alert of each sequence, in id order; the rest wait.
  EXPECT_EQ(claim_next(), "orders/retry");
  EXPECT_EQ(claim_next(), "/sla_miss");
  EXPECT_EQ(claim_next(), "billing/failure");
  EXPECT_EQ(claim_next(), "");
  EXPECT_TRUE(store_->mark_alert_delivered(id_of("/sla_miss"), 200, at(1)));
  EXPECT_TRUE(store_->mark_alert_delivered(id_of("billing/failure"), 200, at(1)));

  // Delivered: the next of its DAG goes.
  EXPECT_TRUE(store_->mark_alert_delivered(id_of("orders/retry"), 204, at(2)));
  AlertRecord delivered = stored(id_of("orders/retry"));
  EXPECT_EQ(delivered.delivered_at, at(2));
  EXPECT_EQ(delivered.last_status, 204);
  EXPECT_EQ(delivered.attempts, 1);
  EXPECT_EQ(claim_next(at(2)), "orders/task_failure");

  // Failed with an answer: retried at its time, and the next one waits.
  EXPECT_TRUE(store_->mark_alert_failed(id_of("orders/task_failure"), 503,
                                        "HTTP 503 from 127.0.0.1:9: busy", at(5)));
  EXPECT_EQ(claim_next(at(4)), "");
  EXPECT_EQ(claim_next(at(5)), "orders/task_failure");
  AlertRecord failed = claimed_.at("orders/task_failure");
  EXPECT_EQ(failed.attempts, 1);
  EXPECT_EQ(failed.last_status, 503);
  EXPECT_EQ(failed.last_error, "HTTP 503 from 127.0.0.1:9: busy");

  // Failed without an answer: no status.
  EXPECT_TRUE(store_->mark_alert_failed(id_of("orders/task_failure"), std::nullopt,
                                        "cannot connect to 127.0.0.1:9: Connection refused",
                                        at(6)));
  EXPECT_EQ(stored(id_of("orders/task_failure")).last_status, std::nullopt);

  // Given up: it no longer holds the DAG's next alert back.
  EXPECT_EQ(claim_next(at(6)), "orders/task_failure");
  EXPECT_TRUE(store_->mark_alert_failed(id_of("orders/task_failure"), std::nullopt,
                                        "gave up: cannot connect", std::nullopt));
  EXPECT_EQ(claim_next(at(6)), "orders/failure");
  EXPECT_TRUE(store_->mark_alert_delivered(id_of("orders/failure"), 200, at(7)));
  EXPECT_EQ(claim_next(at(100)), "");  // a given-up alert is not claimed again
  AlertRecord gave_up = stored(id_of("orders/task_failure"));
  EXPECT_FALSE(gave_up.next_attempt_at.has_value());
  EXPECT_FALSE(gave_up.delivered_at.has_value());
  EXPECT_EQ(gave_up.attempts, 3);
  std::vector<AlertRecord> undelivered = store_->list_alerts(true, 100);
  ASSERT_EQ(undelivered.size(), 1u);  // the given-up one is listed as undelivered
  EXPECT_EQ(undelivered[0].id, gave_up.id);
}

TEST_P(AlertOutboxStoreTest, AClaimKeepsOthersOffUntilItLapsesAndADeliveryIsMarkedOnce) {
  enqueue("orders", {"retry", "failure"});
  EXPECT_EQ(claim_next(at(1), at(3)), "orders/retry");
  // Another deliverer finds nothing while the claim holds: neither this
  // alert nor the one after it.
  EXPECT_EQ(claim_next(at(2)), "");
  // The deliverer died: the claim lapses and the alert is claimed again.
  EXPECT_EQ(claim_next(at(3), at(40)), "orders/retry");
  int64_t id = id_of("orders/retry");
  EXPECT_TRUE(store_->mark_alert_delivered(id, 200, at(4)));
  // The first deliverer comes back: its outcome does not count twice.
  EXPECT_FALSE(store_->mark_alert_delivered(id, 200, at(5)));
  EXPECT_FALSE(store_->mark_alert_failed(id, 500, "late", at(9)));
  AlertRecord a = stored(id);
  EXPECT_EQ(a.delivered_at, at(4));
  EXPECT_EQ(a.attempts, 1);
  EXPECT_EQ(a.last_error, "");
  EXPECT_EQ(claim_next(at(4)), "orders/failure");
}

TEST_P(AlertOutboxStoreTest, ConcurrentDeliverersKeepEachDagsOrderAndDeliverEachOnce) {
  const std::vector<std::string> dags = {"a", "b", "c"};
  for (int i = 0; i < 8; ++i) {
    for (const std::string& dag : dags) enqueue(dag, {"e" + std::to_string(i)});
  }
  std::mutex mu;
  std::vector<AlertRecord> posted;  // GUARDED_BY(mu), in posting order
  std::string url = testing::last_test_store_url(GetParam());
  auto deliverer = [&] {
    std::unique_ptr<Store> store = Store::open(url);
    int idle = 0;
    while (idle < 20) {
      std::optional<AlertRecord> a = store->claim_next_alert(at(1), at(30));
      if (!a) {
        ++idle;
        std::this_thread::yield();
        continue;
      }
      idle = 0;
      {
        std::lock_guard<std::mutex> lock(mu);
        posted.push_back(*a);
      }
      EXPECT_TRUE(store->mark_alert_delivered(a->id, 200, at(2)));
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) threads.emplace_back(deliverer);
  for (std::thread& t : threads) t.join();

  ASSERT_EQ(posted.size(), 24u);
  std::map<std::string, int64_t> last_id;
  std::set<int64_t> ids;
  for (const AlertRecord& a : posted) {
    EXPECT_TRUE(ids.insert(a.id).second) << "claimed twice: " << a.id;
    EXPECT_GT(a.id, last_id[a.dag_id]) << "out of order in " << a.dag_id;
    last_id[a.dag_id] = a.id;
  }
  EXPECT_TRUE(store_->list_alerts(true, 100).empty());
}

INSTANTIATE_TEST_SUITE_P(Backends, AlertOutboxStoreTest, ::testing::Values("sqlite", "postgres"));

// Postgres draws an alert's id when the row is inserted, not when its
// transaction commits; the outbox makes a later id of a DAG commit later, so
// that a deliverer never posts an alert before an earlier one still being
// written.
TEST(AlertOutboxPostgresTest, ALaterAlertOfADagCommitsAfterAnEarlierOne) {
  std::unique_ptr<Store> store = testing::make_test_store("postgres");
  std::string url = testing::last_test_store_url("postgres");
  auto insert = [](pqxx::work& w, const std::string& event_id, const std::string& dag_id) {
    w.exec_params(
        "INSERT INTO alert_outbox (event_id, event, dag_id, payload, created_at, "
        "next_attempt_at) VALUES ($1, 'failure', $2, '{}', $3, $3)",
        event_id, dag_id, to_epoch_ms(kT0));
  };
  pqxx::connection first_conn(url);
  pqxx::work first(first_conn);
  insert(first, "first", "orders");
  // A second transaction writes an alert of the same DAG and commits while
  // the first is still open: it waits for the first to commit.
  std::atomic<bool> second_done = false;
  std::thread second_writer([&] {
    pqxx::connection conn(url);
    pqxx::work second(conn);
    insert(second, "second", "orders");
    second.commit();
    second_done = true;
  });
  pqxx::connection probe(url);
  ASSERT_TRUE(testing::wait_until(
      [&] {
        pqxx::nontransaction n(probe);
        return n.exec("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
                   .at(0)
                   .at(0)
                   .as<int>() > 0;
      },
      std::chrono::seconds(10)));
  // An alert of another DAG does not wait.
  {
    pqxx::connection conn(url);
    pqxx::work other(conn);
    insert(other, "other", "billing");
    other.commit();
  }
  EXPECT_FALSE(second_done.load());
  std::optional<AlertRecord> claimed = store->claim_next_alert(kT0, at(1));
  ASSERT_TRUE(claimed.has_value());
  EXPECT_EQ(claimed->event_id, "other");
  EXPECT_FALSE(store->claim_next_alert(kT0, at(1)).has_value());  // "second" is not visible

  first.commit();
  second_writer.join();
  claimed = store->claim_next_alert(kT0, at(1));
  ASSERT_TRUE(claimed.has_value());
  EXPECT_EQ(claimed->event_id, "first");
  EXPECT_FALSE(store->claim_next_alert(kT0, at(1)).has_value());  // "second" waits for it
  EXPECT_TRUE(store->mark_alert_delivered(claimed->id, 200, kT0));
  claimed = store->claim_next_alert(kT0, at(1));
  ASSERT_TRUE(claimed.has_value());
  EXPECT_EQ(claimed->event_id, "second");
}

}  // namespace
}  // namespace sluice::store_test
