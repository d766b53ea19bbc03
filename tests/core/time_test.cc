#include "core/time.h"

#include <date/tz.h>
#include <gtest/gtest.h>

namespace sluice {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

Timestamp utc(const char* text) {
  auto t = parse_timestamp(text);
  EXPECT_TRUE(t.has_value()) << text;
  return t.value_or(Timestamp{});
}

TEST(TimeTest, FormatIsoOmitsZeroMilliseconds) {
  // Given 2026-02-03T02:00:00Z as epoch milliseconds.
  Timestamp t = from_epoch_ms(1770084000000);
  EXPECT_EQ(format_iso(t), "2026-02-03T02:00:00Z");
  EXPECT_EQ(format_iso(t + Millis{123}), "2026-02-03T02:00:00.123Z");
  EXPECT_EQ(format_iso(t + Millis{7}), "2026-02-03T02:00:00.007Z");
  EXPECT_EQ(format_iso(from_epoch_ms(0)), "1970-01-01T00:00:00Z");
}

TEST(TimeTest, EpochMillisRoundTrip) {
  EXPECT_EQ(to_epoch_ms(from_epoch_ms(1770084000123)), 1770084000123);
  EXPECT_EQ(to_epoch_ms(from_epoch_ms(-1)), -1);
}

TEST(TimeTest, ParseAndFormatRoundTrip) {
  for (const char* text : {"2026-02-03T02:00:00Z", "2026-02-03T02:00:00.123Z",
                           "1999-12-31T23:59:59.999Z", "2028-02-29T00:00:00Z"}) {
    auto t = parse_timestamp(text);
    ASSERT_TRUE(t) << text;
    EXPECT_EQ(format_iso(*t), text);
  }
}

TEST(TimeTest, ParseOffsetsAndSeparators) {
  Timestamp expected = from_epoch_ms(1770084000000);  // 2026-02-03T02:00:00Z
  EXPECT_EQ(parse_timestamp("2026-02-03T03:00:00+01:00"), expected);
  EXPECT_EQ(parse_timestamp("2026-02-03T03:00:00+0100"), expected);
  EXPECT_EQ(parse_timestamp("2026-02-02T21:00:00-05:00"), expected);
  EXPECT_EQ(parse_timestamp("2026-02-03 02:00:00"), expected);
  EXPECT_EQ(parse_timestamp("2026-02-03T02:00"), expected);
  EXPECT_EQ(parse_timestamp("2026-02-03T02:00Z"), expected);
  EXPECT_EQ(parse_timestamp("  2026-02-03T02:00:00Z "), expected);
  EXPECT_EQ(parse_timestamp("2026-02-03T02:00:00.5Z"), expected + Millis{500});
  EXPECT_EQ(parse_timestamp("2026-02-03T02:00:00.123456Z"), expected + Millis{123});
}

TEST(TimeTest, ParseWithoutOffsetUsesZone) {
  const date::time_zone* berlin = find_zone("Europe/Berlin");
  ASSERT_NE(berlin, nullptr);
  // Winter: Berlin is UTC+1.
  EXPECT_EQ(parse_timestamp("2026-02-03T03:00:00", berlin), utc("2026-02-03T02:00:00Z"));
  // Summer: UTC+2.
  EXPECT_EQ(parse_timestamp("2026-07-01 14:00", berlin), utc("2026-07-01T12:00:00Z"));
  // An explicit offset wins over the zone.
  EXPECT_EQ(parse_timestamp("2026-07-01T14:00:00Z", berlin), utc("2026-07-01T14:00:00Z"));
  // A bare date is local midnight.
  EXPECT_EQ(parse_timestamp("2026-02-03", berlin), utc("2026-02-02T23:00:00Z"));
  EXPECT_EQ(parse_timestamp("2026-02-03"), utc("2026-02-03T00:00:00Z"));
}

TEST(TimeTest, ParseLocalTimeAcrossDst) {
  const date::time_zone* berlin = find_zone("Europe/Berlin");
  ASSERT_NE(berlin, nullptr);
  // 02:30 on 2026-03-29 does not exist (02:00 CET jumps to 03:00 CEST): the
  // instant right after the gap, 03:00 CEST.
  EXPECT_EQ(parse_timestamp("2026-03-29T02:30:00", berlin), utc("2026-03-29T01:00:00Z"));
  // 02:30 on 2026-10-25 happens twice: the earlier one, in CEST.
  EXPECT_EQ(parse_timestamp("2026-10-25T02:30:00", berlin), utc("2026-10-25T00:30:00Z"));
}

TEST(TimeTest, ParseRejectsMalformedInput) {
  for (const char* text :
       {"", "garbage", "2026-02-30", "2026-13-01", "2026-2-3", "2026-02-03T25:00:00Z",
        "2026-02-03T02:60:00Z", "2026-02-03T02:00:61Z", "2026-02-03X02:00:00",
        "2026-02-03T02:00:00.Z", "2026-02-03T02:00:00Zjunk", "2026-02-03T02", "20260203"}) {
    EXPECT_FALSE(parse_timestamp(text).has_value()) << text;
  }
}

TEST(TimeTest, IsBareDate) {
  EXPECT_TRUE(is_bare_date("2026-02-03"));
  EXPECT_FALSE(is_bare_date("2026-02-03T00:00:00Z"));
  EXPECT_FALSE(is_bare_date("2026-02-30"));
  EXPECT_FALSE(is_bare_date("yesterday"));
}

TEST(TimeTest, FormatLocal) {
  const date::time_zone* berlin = find_zone("Europe/Berlin");
  ASSERT_NE(berlin, nullptr);
  Timestamp t = utc("2026-07-01T12:00:05.250Z");
  EXPECT_EQ(format_local(t, berlin, "%Y-%m-%d %H:%M:%S %Z %z"), "2026-07-01 14:00:05 CEST +0200");
  EXPECT_EQ(format_local(t, berlin, "day %j, %a %d %b"), "day 182, Wed 01 Jul");
  EXPECT_EQ(format_local(utc("2026-02-02T23:30:00Z"), berlin, "%Y%m%d"), "20260203");
  EXPECT_EQ(format_local(t, nullptr, "%H:%M"), "12:00");
}

// Past 2037, where TZif files stop listing transitions, the footer's rule
// applies. Expected instants are those of Python's zoneinfo.
TEST(TimeTest, ZonesKeepSwitchingAfter2037) {
  struct Switch {
    const char* zone;
    const char* at;      // the first instant on the new offset
    const char* before;  // "%Z %z" just before it
    const char* after;   // and at it
  };
  const Switch switches[] = {
      {"Europe/Berlin", "2038-03-28T01:00:00Z", "CET +0100", "CEST +0200"},
      {"Europe/Berlin", "2040-10-28T01:00:00Z", "CEST +0200", "CET +0100"},
      {"Europe/Berlin", "2100-03-28T01:00:00Z", "CET +0100", "CEST +0200"},
      {"America/New_York", "2038-11-07T06:00:00Z", "EDT -0400", "EST -0500"},
      {"America/New_York", "2075-03-10T07:00:00Z", "EST -0500", "EDT -0400"},
      {"Australia/Sydney", "2040-03-31T16:00:00Z", "AEDT +1100", "AEST +1000"},
      {"Australia/Sydney", "2100-10-02T16:00:00Z", "AEST +1000", "AEDT +1100"},
  };
  for (const Switch& s : switches) {
    SCOPED_TRACE(std::string(s.zone) + " " + s.at);
    const date::time_zone* zone = find_zone(s.zone);
    ASSERT_NE(zone, nullptr);
    Timestamp at = utc(s.at);
    EXPECT_EQ(format_local(at - Millis{1}, zone, "%Z %z"), s.before);
    EXPECT_EQ(format_local(at, zone, "%Z %z"), s.after);
  }
  // Zones without daylight time keep their offset.
  EXPECT_EQ(format_local(utc("2060-01-15T15:00:00Z"), find_zone("America/Sao_Paulo"), "%H:%M %z"),
            "12:00 -0300");
  EXPECT_EQ(format_local(utc("2099-06-01T03:30:00Z"), find_zone("Asia/Kolkata"), "%H:%M %Z"),
            "09:00 IST");
}

TEST(TimeTest, LocalTimesAfter2037FollowTheGapAndFoldRules) {
  struct Case {
    const char* zone;
    const char* local;
    const char* expected;
  };
  const Case cases[] = {
      {"Europe/Berlin", "2040-03-25T12:00:00", "2040-03-25T10:00:00Z"},
      {"Europe/Berlin", "2040-03-24T12:00:00", "2040-03-24T11:00:00Z"},
      // In the gap: the instant it ends (03:00 CEST).
      {"Europe/Berlin", "2040-03-25T02:30:00", "2040-03-25T01:00:00Z"},
      // Repeated: the first occurrence, in CEST.
      {"Europe/Berlin", "2040-10-28T02:30:00", "2040-10-28T00:30:00Z"},
      {"Europe/Berlin", "2040-10-28T03:00:00", "2040-10-28T02:00:00Z"},
      {"America/New_York", "2050-03-13T02:30:00", "2050-03-13T07:00:00Z"},
      {"America/New_York", "2050-11-06T01:30:00", "2050-11-06T05:30:00Z"},
      {"Australia/Sydney", "2045-04-02T02:30:00", "2045-04-01T15:30:00Z"},
      {"Australia/Sydney", "2045-10-01T02:30:00", "2045-09-30T16:00:00Z"},
      {"America/Sao_Paulo", "2060-01-15T12:00:00", "2060-01-15T15:00:00Z"},
      {"Asia/Kolkata", "2099-06-01T09:00:00", "2099-06-01T03:30:00Z"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.zone) + " " + c.local);
    auto t = parse_timestamp(c.local, find_zone(c.zone));
    ASSERT_TRUE(t);
    EXPECT_EQ(format_iso(*t), c.expected);
  }
}

// Every local half hour of a year round-trips through UTC, except in a gap,
// which resolves to its end; the year before the last listed transition
// (date's answers) and years after it (the footer's) behave alike.
TEST(TimeTest, LocalTimesRoundTripBeforeAndAfter2037) {
  for (const char* name : {"Europe/Berlin", "America/New_York", "Australia/Sydney",
                           "America/Sao_Paulo", "Asia/Kolkata"}) {
    const date::time_zone* zone = find_zone(name);
    ASSERT_NE(zone, nullptr);
    for (int year : {2030, 2040, 2077}) {
      SCOPED_TRACE(std::string(name) + " " + std::to_string(year));
      date::local_days first{date::year{year} / 1 / 1};
      int gaps = 0;
      int folds = 0;
      for (LocalTime l{first}; l < first + date::days{366}; l += minutes{30}) {
        Timestamp t = to_utc(zone, l);
        if (to_local(zone, t) != l) {
          ++gaps;
          // The end of the gap: the offset changes there.
          EXPECT_NE(utc_offset(zone, t - Millis{1}), utc_offset(zone, t));
          EXPECT_GT(to_local(zone, t), l);
        }
        // Once per fold, the next half hour is 90 minutes later: it is read
        // after the repeated hour, l at its first occurrence.
        if (to_utc(zone, l + minutes{30}) - t > minutes{30}) ++folds;
      }
      bool dst = std::string(name) != "America/Sao_Paulo" && std::string(name) != "Asia/Kolkata";
      EXPECT_EQ(gaps, dst ? 2 : 0);  // :00 and :30 of the skipped hour
      EXPECT_EQ(folds, dst ? 1 : 0);
    }
  }
}

TEST(TimeTest, FindZone) {
  EXPECT_NE(find_zone("Europe/Berlin"), nullptr);
  EXPECT_NE(find_zone("UTC"), nullptr);
  EXPECT_EQ(find_zone("Europe/Berln"), nullptr);
  EXPECT_EQ(find_zone(""), nullptr);
}

TEST(TimeTest, ParseDuration) {
  EXPECT_EQ(parse_duration("500ms"), Millis{500});
  EXPECT_EQ(parse_duration("30s"), seconds{30});
  EXPECT_EQ(parse_duration("5m"), minutes{5});
  EXPECT_EQ(parse_duration("2h"), hours{2});
  EXPECT_EQ(parse_duration("1d"), hours{24});
  EXPECT_EQ(parse_duration("1h30m"), minutes{90});
  EXPECT_EQ(parse_duration("1h 30m"), minutes{90});
  EXPECT_EQ(parse_duration("1m500ms"), Millis{60500});
  EXPECT_EQ(parse_duration("0s"), Millis{0});
}

TEST(TimeTest, ParseDurationRejectsBadInput) {
  for (const char* text : {"", "  ", "-5s", "5", "5x", "h", "1.5h", "5 m", "1h-30m", "30sec",
                           "99999999999999999999s", "9999999999999d"}) {
    EXPECT_FALSE(parse_duration(text).has_value()) << text;
  }
}

TEST(TimeTest, FormatDuration) {
  EXPECT_EQ(format_duration(minutes{90}), "1h30m");
  EXPECT_EQ(format_duration(Millis{500}), "500ms");
  EXPECT_EQ(format_duration(Millis{0}), "0s");
  EXPECT_EQ(format_duration(hours{48}), "2d");
  EXPECT_EQ(format_duration(Millis{90061001}), "1d1h1m1s1ms");
  EXPECT_EQ(format_duration(-seconds{30}), "-30s");
  for (const char* text : {"1h30m", "500ms", "2d3h", "45s"}) {
    auto d = parse_duration(text);
    ASSERT_TRUE(d) << text;
    EXPECT_EQ(format_duration(*d), text);
  }
}

TEST(TimeTest, FakeClockMovesOnlyWhenTold) {
  FakeClock clock(from_epoch_ms(1000));
  EXPECT_EQ(clock.now(), from_epoch_ms(1000));
  clock.advance(seconds{2});
  EXPECT_EQ(clock.now(), from_epoch_ms(3000));
  clock.set(from_epoch_ms(0));
  EXPECT_EQ(clock.now(), from_epoch_ms(0));
}

TEST(TimeTest, RealClockIsNearSystemTime) {
  RealClock clock;
  auto before = std::chrono::floor<Millis>(std::chrono::system_clock::now());
  Timestamp now = clock.now();
  auto after = std::chrono::floor<Millis>(std::chrono::system_clock::now());
  EXPECT_GE(now, before);
  EXPECT_LE(now, after);
}

}  // namespace
}  // namespace sluice
