#include "web/sessions.h"

#include <gtest/gtest.h>

#include <set>

namespace sluice {
namespace {

Timestamp at(const std::string& iso) { return *parse_timestamp(iso); }

TEST(SessionStoreTest, IdsAreRandomAndValidUntilEndedOrExpired) {
  FakeClock clock(at("2026-02-10T12:00:00Z"));
  SessionStore sessions(clock);
  std::set<std::string> ids;
  for (int i = 0; i < 100; ++i) ids.insert(sessions.create());
  EXPECT_EQ(ids.size(), 100u);
  std::string id = *ids.begin();
  EXPECT_EQ(id.size(), 64u);
  EXPECT_TRUE(sessions.valid(id));
  EXPECT_FALSE(sessions.valid(""));
  EXPECT_FALSE(sessions.valid(std::string(64, '0')));

  sessions.end(id);
  EXPECT_FALSE(sessions.valid(id));
  std::string other = *ids.rbegin();
  EXPECT_TRUE(sessions.valid(other));
  clock.advance(SessionStore::kLifetime);
  EXPECT_FALSE(sessions.valid(other));
}

TEST(LoginThrottleTest, TenFailuresInAMinuteBlockUntilTheFirstAgesOut) {
  FakeClock clock(at("2026-02-10T12:00:00Z"));
  LoginThrottle throttle(clock);
  for (int i = 0; i < 9; ++i) {
    throttle.failed("10.0.0.1");
    clock.advance(Millis(1000));
  }
  EXPECT_EQ(throttle.wait_for("10.0.0.1"), Millis(0));
  throttle.failed("10.0.0.1");
  // The first failure was 9 s ago: 51 s to go.
  EXPECT_EQ(throttle.wait_for("10.0.0.1"), std::chrono::seconds(51));
  EXPECT_EQ(throttle.wait_for("10.0.0.2"), Millis(0));
  clock.advance(std::chrono::seconds(51));
  EXPECT_EQ(throttle.wait_for("10.0.0.1"), Millis(0));
}

}  // namespace
}  // namespace sluice
