// Leader election and work notifications against the test Postgres server:
// one elector leads, the standby takes over when the leader's session ends,
// a superseded or cut-off leader stops leading, and the wake listener turns
// NOTIFY into a WorkSignal and reconnects after losing its session.
#include "scheduler/leader.h"

#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "core/pg_listener.h"
#include "core/pg_session.h"
#include "core/store.h"
#include "core/work_signal.h"
#include "tests/core/store_test_util.h"
#include "tests/test_util.h"

namespace sluice {
namespace {

using namespace std::chrono_literals;

class LeaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = testing::make_test_store("postgres");
    url_ = testing::last_test_store_url("postgres");
  }

  // Fast settings so that a standby retries at once.
  static PostgresLeaderOptions fast() {
    PostgresLeaderOptions o;
    o.retry_interval = Millis(0);
    o.check_timeout = Millis(2000);
    return o;
  }

  std::vector<std::string> leaders() {
    pqxx::connection conn(url_);
    pqxx::nontransaction w(conn);
    std::vector<std::string> out;
    for (const auto& row : w.exec("SELECT id FROM schedulers WHERE leader ORDER BY id")) {
      out.push_back(row[0].as<std::string>());
    }
    return out;
  }

  // The test URL with an application_name unique to this test and `who`,
  // so that the test can end exactly those sessions (others run in parallel).
  std::string tagged(const std::string& who) {
    std::string schema = url_.substr(url_.rfind("%3D") + 3);
    tag_prefix_ = "ha_" + schema;
    return url_ + "&application_name=" + tag_prefix_ + "_" + who;
  }

  // Ends the server sessions opened through tagged(who).
  int terminate_sessions(const std::string& who) {
    pqxx::connection conn(url_);
    pqxx::nontransaction w(conn);
    return w
        .exec(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
            "application_name = " +
            w.quote(tag_prefix_ + "_" + who))
        .size();
  }

  std::string tag_prefix_;

  std::unique_ptr<Store> store_;
  std::string url_;
};

TEST_F(LeaderTest, OneOfTwoLeadsAndTheStandbyTakesOverWithAHigherEpoch) {
  // Given two electors on one database
  auto a = std::make_unique<PostgresLeaderElector>(url_, "a", "host-a", fast());
  PostgresLeaderElector b(url_, "b", "host-b", fast());

  // When both check, exactly one leads
  EXPECT_TRUE(a->check());
  EXPECT_FALSE(b.check());
  EXPECT_FALSE(b.check());
  EXPECT_TRUE(a->check());
  EXPECT_EQ(a->epoch(), 1);
  EXPECT_EQ(leaders(), std::vector<std::string>{"a"});

  // When the leader goes away, the standby leads with the next epoch
  int64_t old_epoch = a->epoch();
  a.reset();
  // (the server ends the old session asynchronously)
  EXPECT_TRUE(testing::wait_until([&] { return b.check(); }, 5s));
  EXPECT_GT(b.epoch(), old_epoch);
  EXPECT_EQ(leaders(), std::vector<std::string>{"b"});
}

TEST_F(LeaderTest, ALeaderWhoseEpochWasSupersededStopsLeading) {
  PostgresLeaderElector a(url_, "a", "host-a", fast());
  ASSERT_TRUE(a.check());
  // Given a newer term recorded by someone else (a leader that took over
  // while this one was cut off)
  {
    pqxx::connection conn(url_);
    pqxx::nontransaction w(conn);
    w.exec(
        "INSERT INTO schedulers (id, host, leader, epoch, last_heartbeat) "
        "VALUES ('other', 'h', TRUE, 99, 0)");
  }
  // Then the next check stops leading rather than writing under an old term
  EXPECT_FALSE(a.check());
  EXPECT_FALSE(a.leading());
}

TEST_F(LeaderTest, ALeaderWhoseSessionBrokeStopsLeadingAndIsNotSilentlyReconnected) {
  PostgresLeaderElector a(tagged("a"), "a", "host-a", fast());
  PostgresLeaderElector b(url_, "b", "host-b", fast());
  ASSERT_TRUE(a.check());
  ASSERT_FALSE(b.check());
  // Given the leader's lock session is killed on the server
  ASSERT_EQ(terminate_sessions("a"), 1);

  // Then the leader notices at its next check instead of carrying on in a
  // new session without the lock
  EXPECT_FALSE(a.check());
  // and the standby takes over
  EXPECT_TRUE(testing::wait_until([&] { return b.check(); }, 5s));
  EXPECT_EQ(leaders(), std::vector<std::string>{"b"});
  // and the old leader stands by
  EXPECT_FALSE(a.check());
}

TEST_F(LeaderTest, SchemasElectSeparately) {
  // Given a second installation in another schema of the same database
  auto other_store = testing::make_test_store("postgres");
  std::string other_url = testing::last_test_store_url("postgres");
  PostgresLeaderElector here(url_, "a", "h", fast());
  PostgresLeaderElector there(other_url, "b", "h", fast());
  // Then each has its own leader
  EXPECT_TRUE(here.check());
  EXPECT_TRUE(there.check());
}

TEST(PgSessionTest, KeepalivesAreAddedToURLsAndKeyValueStrings) {
  std::string from_url =
      with_keepalives("postgresql://u@h:5433/db?options=-csearch_path%3Ds", Millis(3000));
  EXPECT_NE(from_url.find("keepalives_idle='5'"), std::string::npos) << from_url;
  EXPECT_NE(from_url.find("options='-csearch_path=s -c tcp_keepalives_idle=5"), std::string::npos)
      << from_url;
  EXPECT_NE(from_url.find("port='5433'"), std::string::npos) << from_url;
  std::string from_kv = with_keepalives("host=h dbname=d", Millis(1000));
  EXPECT_NE(from_kv.find("keepalives='1'"), std::string::npos) << from_kv;
  EXPECT_NE(from_kv.find("connect_timeout='2'"), std::string::npos) << from_kv;
}

TEST_F(LeaderTest, WakeListenerTurnsNotificationsIntoSignalsAndReconnects) {
  WorkSignal work;
  WorkSignal runs;
  PgWakeListener listener(tagged("listener"), {{kWorkChannel, &work}, {kRunsChannel, &runs}},
                          "test");
  // Given the listener connected (it notifies once on every connect)
  ASSERT_TRUE(testing::wait_until([&] { return listener.sessions() == 1; }, 5s));
  uint64_t seen_work = work.generation();
  uint64_t seen_runs = runs.generation();

  // When another session notifies the work channel, only its signal moves
  PgSession sender(url_);
  sender.query("SELECT pg_notify('sluice_work', '')", Millis(2000));
  EXPECT_NE(work.wait(seen_work, Millis(5000)), seen_work);
  seen_work = work.generation();
  // ... and the runs channel moves the other one
  sender.query("SELECT pg_notify('sluice_runs', '')", Millis(2000));
  EXPECT_NE(runs.wait(seen_runs, Millis(5000)), seen_runs);
  EXPECT_EQ(work.generation(), seen_work);

  // When its session is killed, it reconnects and notifies once more, since
  // notifications sent meanwhile are lost
  ASSERT_EQ(terminate_sessions("listener"), 1);
  ASSERT_TRUE(testing::wait_until([&] { return listener.sessions() == 2; }, 10s));
  seen_work = work.generation();
  sender.query("SELECT pg_notify('sluice_work', '')", Millis(2000));
  EXPECT_NE(work.wait(seen_work, Millis(5000)), seen_work);
}

}  // namespace
}  // namespace sluice
