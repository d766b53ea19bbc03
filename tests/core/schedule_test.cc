#include "core/schedule.h"

#include <date/tz.h>
#include <gtest/gtest.h>

#include <map>

namespace sluice {
namespace {

using std::chrono::hours;
using std::chrono::minutes;

Timestamp utc(const char* text) {
  auto t = parse_timestamp(text);
  EXPECT_TRUE(t.has_value()) << text;
  return t.value_or(Timestamp{});
}

Schedule schedule(const char* expression, const char* timezone = "UTC") {
  std::string error;
  auto s = Schedule::parse(expression, timezone, &error);
  EXPECT_TRUE(s.has_value()) << expression << " in " << timezone << ": " << error;
  return s.value_or(*Schedule::parse("", "UTC", nullptr));
}

std::string next_iso(const Schedule& s, const char* after) {
  auto t = s.next_tick_after(utc(after));
  return t ? format_iso(*t) : "none";
}

std::string last_iso(const Schedule& s, const char* at) {
  auto t = s.last_tick_at_or_before(utc(at));
  return t ? format_iso(*t) : "none";
}

std::string local(const Schedule& s, Timestamp t) {
  return format_local(t, s.zone(), "%Y-%m-%d %H:%M %Z");
}

// Intervals starting in the 24 hours from `from`.
size_t intervals_in_day(const Schedule& s, const char* from) {
  Timestamp start = utc(from);
  return intervals_in_range(s, ScheduleBounds{Timestamp{}, std::nullopt}, start,
                            start + hours{24} - Millis{1})
      .size();
}

// ---- parsing ----

TEST(ScheduleTest, PresetsMapToCron) {
  Schedule hourly = schedule("@hourly");
  EXPECT_EQ(hourly.kind(), Schedule::Kind::kCron);
  EXPECT_EQ(hourly.expression(), "@hourly");
  EXPECT_EQ(next_iso(hourly, "2026-02-03T10:30:00Z"), "2026-02-03T11:00:00Z");
  EXPECT_EQ(next_iso(schedule("@daily"), "2026-02-03T10:30:00Z"), "2026-02-04T00:00:00Z");
  EXPECT_EQ(next_iso(schedule("@midnight"), "2026-02-03T10:30:00Z"), "2026-02-04T00:00:00Z");
  // 2026-02-03 is a Tuesday; the next Sunday is the 8th.
  EXPECT_EQ(next_iso(schedule("@weekly"), "2026-02-03T10:30:00Z"), "2026-02-08T00:00:00Z");
  EXPECT_EQ(next_iso(schedule("@monthly"), "2026-02-03T10:30:00Z"), "2026-03-01T00:00:00Z");
  EXPECT_EQ(next_iso(schedule("@yearly"), "2026-02-03T10:30:00Z"), "2027-01-01T00:00:00Z");
  EXPECT_EQ(next_iso(schedule("@annually"), "2026-02-03T10:30:00Z"), "2027-01-01T00:00:00Z");
}

TEST(ScheduleTest, OnceAndNone) {
  Schedule once = schedule("@once");
  EXPECT_EQ(once.kind(), Schedule::Kind::kOnce);
  EXPECT_FALSE(once.next_tick_after(utc("2026-01-01T00:00:00Z")));
  EXPECT_FALSE(once.last_tick_at_or_before(utc("2026-01-01T00:00:00Z")));
  Schedule none = schedule("");
  EXPECT_EQ(none.kind(), Schedule::Kind::kNone);
  EXPECT_EQ(none.expression(), "");
  EXPECT_FALSE(none.next_tick_after(utc("2026-01-01T00:00:00Z")));
}

TEST(ScheduleTest, ParseErrors) {
  std::string error;
  EXPECT_FALSE(Schedule::parse("@daily", "Europe/Berln", &error));
  EXPECT_EQ(error, "unknown time zone 'Europe/Berln'");
  EXPECT_FALSE(Schedule::parse("@fortnightly", "UTC", &error));
  EXPECT_EQ(error,
            "bad schedule '@fortnightly': unknown preset (there are @hourly, @daily, @midnight, "
            "@weekly, @monthly, @yearly, @annually and @once)");
  EXPECT_FALSE(Schedule::parse("61 * * * *", "UTC", &error));
  EXPECT_EQ(error, "bad schedule '61 * * * *': minute field '61' is out of range 0-59");
}

TEST(ScheduleTest, KeepsZoneAndDefaultsToUtc) {
  Schedule berlin = schedule("0 2 * * *", "Europe/Berlin");
  EXPECT_EQ(berlin.timezone(), "Europe/Berlin");
  ASSERT_NE(berlin.zone(), nullptr);
  EXPECT_EQ(berlin.zone()->name(), "Europe/Berlin");
  Schedule unset = schedule("0 2 * * *", "");
  EXPECT_EQ(unset.timezone(), "UTC");
}

// ---- ticks ----

TEST(ScheduleTest, DailyTicks) {
  Schedule s = schedule("0 2 * * *");
  EXPECT_EQ(next_iso(s, "2026-02-03T01:00:00Z"), "2026-02-03T02:00:00Z");
  EXPECT_EQ(next_iso(s, "2026-02-03T02:00:00Z"), "2026-02-04T02:00:00Z");
  EXPECT_EQ(last_iso(s, "2026-02-03T02:00:00Z"), "2026-02-03T02:00:00Z");
  EXPECT_EQ(last_iso(s, "2026-02-03T01:59:59.999Z"), "2026-02-02T02:00:00Z");
  // Year boundary.
  EXPECT_EQ(next_iso(s, "2026-12-31T03:00:00Z"), "2027-01-01T02:00:00Z");
  EXPECT_EQ(last_iso(s, "2027-01-01T01:00:00Z"), "2026-12-31T02:00:00Z");
}

TEST(ScheduleTest, HourlyWeeklyAndEvery15Minutes) {
  Schedule hourly = schedule("30 * * * *");
  EXPECT_EQ(next_iso(hourly, "2026-02-03T23:45:00Z"), "2026-02-04T00:30:00Z");
  EXPECT_EQ(last_iso(hourly, "2026-02-04T00:10:00Z"), "2026-02-03T23:30:00Z");

  Schedule weekly = schedule("0 9 * * MON");
  EXPECT_EQ(next_iso(weekly, "2026-02-03T00:00:00Z"), "2026-02-09T09:00:00Z");
  EXPECT_EQ(last_iso(weekly, "2026-02-03T00:00:00Z"), "2026-02-02T09:00:00Z");

  Schedule quarter = schedule("*/15 * * * *");
  EXPECT_EQ(next_iso(quarter, "2026-02-03T10:00:00Z"), "2026-02-03T10:15:00Z");
  EXPECT_EQ(next_iso(quarter, "2026-02-03T10:59:59Z"), "2026-02-03T11:00:00Z");
  EXPECT_EQ(last_iso(quarter, "2026-02-03T10:14:00Z"), "2026-02-03T10:00:00Z");
  EXPECT_EQ(intervals_in_day(quarter, "2026-02-03T00:00:00Z"), 96u);
}

TEST(ScheduleTest, MonthEnds) {
  // Only months with a 31st.
  Schedule s = schedule("0 0 31 * *");
  EXPECT_EQ(next_iso(s, "2026-01-31T00:00:00Z"), "2026-03-31T00:00:00Z");
  EXPECT_EQ(next_iso(s, "2026-03-31T00:00:00Z"), "2026-05-31T00:00:00Z");
  EXPECT_EQ(last_iso(s, "2026-05-30T00:00:00Z"), "2026-03-31T00:00:00Z");

  // A monthly interval over February is 28 days, 29 in a leap year.
  Schedule monthly = schedule("@monthly");
  auto feb = interval_containing(monthly, utc("2026-02-14T12:00:00Z"));
  ASSERT_TRUE(feb);
  EXPECT_EQ(feb->start, utc("2026-02-01T00:00:00Z"));
  EXPECT_EQ(feb->end - feb->start, hours{24 * 28});
  auto leap_feb = interval_containing(monthly, utc("2028-02-14T12:00:00Z"));
  ASSERT_TRUE(leap_feb);
  EXPECT_EQ(leap_feb->end - leap_feb->start, hours{24 * 29});

  // The leap day itself.
  Schedule leap = schedule("0 0 29 2 *");
  EXPECT_EQ(next_iso(leap, "2026-01-01T00:00:00Z"), "2028-02-29T00:00:00Z");
  EXPECT_EQ(last_iso(leap, "2031-01-01T00:00:00Z"), "2028-02-29T00:00:00Z");
}

TEST(ScheduleTest, TicksAreLocalWallClockTime) {
  // 02:00 Berlin is 01:00Z in winter and 00:00Z in summer.
  Schedule s = schedule("0 2 * * *", "Europe/Berlin");
  EXPECT_EQ(next_iso(s, "2026-02-03T00:00:00Z"), "2026-02-03T01:00:00Z");
  EXPECT_EQ(next_iso(s, "2026-07-01T12:00:00Z"), "2026-07-02T00:00:00Z");
}

// ---- DST, Europe/Berlin: 2026-03-29 02:00 CET -> 03:00 CEST (01:00Z),
//      2026-10-25 03:00 CEST -> 02:00 CET (01:00Z) ----

TEST(ScheduleDstTest, BerlinSpringDaily0230RunsOnceRightAfterGap) {
  Schedule s = schedule("30 2 * * *", "Europe/Berlin");
  auto tick = s.next_tick_after(utc("2026-03-28T12:00:00Z"));
  ASSERT_TRUE(tick);
  // 02:30 does not exist that day: the job runs at 03:00 CEST.
  EXPECT_EQ(format_iso(*tick), "2026-03-29T01:00:00Z");
  EXPECT_EQ(local(s, *tick), "2026-03-29 03:00 CEST");
  EXPECT_EQ(next_iso(s, "2026-03-29T01:00:00Z"), "2026-03-30T00:30:00Z");
  // Exactly one run on the local day (00:00 CET to 24:00 CEST).
  EXPECT_EQ(intervals_in_range(s, ScheduleBounds{Timestamp{}, std::nullopt},
                               utc("2026-03-28T23:00:00Z"), utc("2026-03-29T21:59:59Z"))
                .size(),
            1u);
  EXPECT_EQ(last_iso(s, "2026-03-29T01:30:00Z"), "2026-03-29T01:00:00Z");
}

TEST(ScheduleDstTest, BerlinAutumnDaily0230RunsOnceAtFirstOccurrence) {
  Schedule s = schedule("30 2 * * *", "Europe/Berlin");
  auto tick = s.next_tick_after(utc("2026-10-24T12:00:00Z"));
  ASSERT_TRUE(tick);
  EXPECT_EQ(format_iso(*tick), "2026-10-25T00:30:00Z");
  EXPECT_EQ(local(s, *tick), "2026-10-25 02:30 CEST");
  // The second 02:30 (CET, 01:30Z) does not run again.
  EXPECT_EQ(next_iso(s, "2026-10-25T00:30:00Z"), "2026-10-26T01:30:00Z");
  // The local day runs 00:00 CEST (22:00Z) to 24:00 CET (23:00Z): 25 hours.
  EXPECT_EQ(intervals_in_range(s, ScheduleBounds{Timestamp{}, std::nullopt},
                               utc("2026-10-24T22:00:00Z"), utc("2026-10-25T22:59:59Z"))
                .size(),
            1u);
  // Looking back from inside the repeated hour finds the first occurrence.
  EXPECT_EQ(last_iso(s, "2026-10-25T01:45:00Z"), "2026-10-25T00:30:00Z");
}

TEST(ScheduleDstTest, BerlinHourlyAcrossBothChanges) {
  Schedule s = schedule("@hourly", "Europe/Berlin");
  // Spring: local 02:00 does not exist and fires at 03:00 CEST (01:00Z), the
  // same instant as the 03:00 tick, so the two are one. Berlin's offsets are
  // whole hours, so every UTC hour still has exactly one tick: 24 intervals
  // start in the 24 hours around the change.
  EXPECT_EQ(intervals_in_day(s, "2026-03-28T13:00:00Z"), 24u);
  EXPECT_EQ(next_iso(s, "2026-03-29T00:00:00Z"), "2026-03-29T01:00:00Z");
  EXPECT_EQ(next_iso(s, "2026-03-29T01:00:00Z"), "2026-03-29T02:00:00Z");
  // Autumn: local 02:00 occurs at 00:00Z (CEST) and again at 01:00Z (CET); it
  // fires only the first time, so 01:00Z has no tick: 23 intervals, one of
  // which, [00:00Z, 02:00Z), is two hours long.
  EXPECT_EQ(intervals_in_day(s, "2026-10-24T13:00:00Z"), 23u);
  auto longer = interval_containing(s, utc("2026-10-25T01:30:00Z"));
  ASSERT_TRUE(longer);
  EXPECT_EQ(format_iso(longer->start), "2026-10-25T00:00:00Z");
  EXPECT_EQ(format_iso(longer->end), "2026-10-25T02:00:00Z");
}

TEST(ScheduleDstTest, BerlinEvery15MinutesSkipsRepeatedHour) {
  Schedule s = schedule("*/15 * * * *", "Europe/Berlin");
  // Last tick of the first 02:xx hour is 02:45 CEST (00:45Z); the repeated
  // 02:xx CET hour has none; the next is 03:00 CET (02:00Z).
  EXPECT_EQ(next_iso(s, "2026-10-25T00:45:00Z"), "2026-10-25T02:00:00Z");
  EXPECT_EQ(last_iso(s, "2026-10-25T01:30:00Z"), "2026-10-25T00:45:00Z");
  // Spring: 01:45 CET (00:45Z), then 02:00-02:45 all fall in the gap and
  // collapse onto 03:00 CEST (01:00Z), then 03:15 CEST.
  EXPECT_EQ(next_iso(s, "2026-03-29T00:45:00Z"), "2026-03-29T01:00:00Z");
  EXPECT_EQ(next_iso(s, "2026-03-29T01:00:00Z"), "2026-03-29T01:15:00Z");
}

// ---- DST, America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z),
//      2026-11-01 02:00 EDT -> 01:00 EST (06:00Z) ----

TEST(ScheduleDstTest, NewYorkSpringDaily0230RunsOnceRightAfterGap) {
  Schedule s = schedule("30 2 * * *", "America/New_York");
  EXPECT_EQ(next_iso(s, "2026-03-07T12:00:00Z"), "2026-03-08T07:00:00Z");
  EXPECT_EQ(local(s, utc("2026-03-08T07:00:00Z")), "2026-03-08 03:00 EDT");
  EXPECT_EQ(next_iso(s, "2026-03-08T07:00:00Z"), "2026-03-09T06:30:00Z");
  // Local day 00:00 EST (05:00Z) to 24:00 EDT (04:00Z next day): one run.
  EXPECT_EQ(intervals_in_range(s, ScheduleBounds{Timestamp{}, std::nullopt},
                               utc("2026-03-08T05:00:00Z"), utc("2026-03-09T03:59:59Z"))
                .size(),
            1u);
}

TEST(ScheduleDstTest, NewYorkAutumnDailyRunsOnce) {
  // In New York the repeated hour is 01:00-02:00, so 01:30 is the ambiguous
  // time: it runs at its first occurrence, 01:30 EDT (05:30Z), only.
  Schedule s = schedule("30 1 * * *", "America/New_York");
  EXPECT_EQ(next_iso(s, "2026-10-31T12:00:00Z"), "2026-11-01T05:30:00Z");
  EXPECT_EQ(next_iso(s, "2026-11-01T05:30:00Z"), "2026-11-02T06:30:00Z");
  // 02:30 is unambiguous there (EST) and also runs once.
  Schedule s0230 = schedule("30 2 * * *", "America/New_York");
  EXPECT_EQ(next_iso(s0230, "2026-10-31T12:00:00Z"), "2026-11-01T07:30:00Z");
  EXPECT_EQ(next_iso(s0230, "2026-11-01T07:30:00Z"), "2026-11-02T07:30:00Z");
  // Local day 00:00 EDT (04:00Z) to 24:00 EST (05:00Z next day): one run each.
  for (const Schedule* daily : {&s, &s0230}) {
    EXPECT_EQ(intervals_in_range(*daily, ScheduleBounds{Timestamp{}, std::nullopt},
                                 utc("2026-11-01T04:00:00Z"), utc("2026-11-02T04:59:59Z"))
                  .size(),
              1u);
  }
}

TEST(ScheduleDstTest, NewYorkHourlyAcrossBothChanges) {
  Schedule s = schedule("0 * * * *", "America/New_York");
  // Spring: local 02:00 is in the gap and fires at 03:00 EDT (07:00Z) together
  // with the 03:00 tick; every UTC hour keeps one tick: 24 intervals.
  EXPECT_EQ(intervals_in_day(s, "2026-03-07T19:00:00Z"), 24u);
  // Autumn: local 01:00 occurs at 05:00Z (EDT) and 06:00Z (EST) and fires
  // only at 05:00Z: 23 intervals, [05:00Z, 07:00Z) two hours long.
  EXPECT_EQ(intervals_in_day(s, "2026-10-31T18:00:00Z"), 23u);
  EXPECT_EQ(next_iso(s, "2026-11-01T05:00:00Z"), "2026-11-01T07:00:00Z");
  EXPECT_EQ(last_iso(s, "2026-11-01T06:30:00Z"), "2026-11-01T05:00:00Z");
}

// ---- after 2037: TZif files list no more transitions; their footer's rule
//      (CET-1CEST,M3.5.0,M10.5.0/3 for Berlin) applies ----

TEST(ScheduleDstTest, BerlinNoonAfter2037FollowsSummerTime) {
  Schedule s = schedule("0 12 * * *", "Europe/Berlin");
  // 2040-03-25 is the last Sunday of March: CEST from 01:00Z.
  EXPECT_EQ(next_iso(s, "2040-03-24T00:00:00Z"), "2040-03-24T11:00:00Z");
  EXPECT_EQ(next_iso(s, "2040-03-24T11:00:00Z"), "2040-03-25T10:00:00Z");
  EXPECT_EQ(local(s, utc("2040-03-25T10:00:00Z")), "2040-03-25 12:00 CEST");
  EXPECT_EQ(last_iso(s, "2040-10-28T10:59:59Z"), "2040-10-27T10:00:00Z");
  EXPECT_EQ(last_iso(s, "2040-10-28T11:00:00Z"), "2040-10-28T11:00:00Z");
}

TEST(ScheduleDstTest, GapAndFoldRulesHoldAfter2037) {
  // Berlin 2040: 02:30 is skipped on March 25 and repeated on October 28.
  Schedule berlin = schedule("30 2 * * *", "Europe/Berlin");
  EXPECT_EQ(next_iso(berlin, "2040-03-24T12:00:00Z"), "2040-03-25T01:00:00Z");
  EXPECT_EQ(next_iso(berlin, "2040-03-25T01:00:00Z"), "2040-03-26T00:30:00Z");
  EXPECT_EQ(next_iso(berlin, "2040-10-27T12:00:00Z"), "2040-10-28T00:30:00Z");
  EXPECT_EQ(next_iso(berlin, "2040-10-28T00:30:00Z"), "2040-10-29T01:30:00Z");
  EXPECT_EQ(last_iso(berlin, "2040-10-28T01:45:00Z"), "2040-10-28T00:30:00Z");
  // Sydney 2045: 02:30 is repeated on April 2 and skipped on October 1.
  Schedule sydney = schedule("30 2 * * *", "Australia/Sydney");
  EXPECT_EQ(next_iso(sydney, "2045-04-01T00:00:00Z"), "2045-04-01T15:30:00Z");
  EXPECT_EQ(next_iso(sydney, "2045-04-01T15:30:00Z"), "2045-04-02T16:30:00Z");
  EXPECT_EQ(next_iso(sydney, "2045-09-30T00:00:00Z"), "2045-09-30T16:00:00Z");
  EXPECT_EQ(next_iso(sydney, "2045-09-30T16:00:00Z"), "2045-10-01T15:30:00Z");
  // New York 2050: hourly ticks keep one per UTC hour in spring and lose the
  // repeated 01:00 in autumn, as before 2037.
  Schedule new_york = schedule("0 * * * *", "America/New_York");
  EXPECT_EQ(intervals_in_day(new_york, "2050-03-12T19:00:00Z"), 24u);
  EXPECT_EQ(intervals_in_day(new_york, "2050-11-05T18:00:00Z"), 23u);
  EXPECT_EQ(next_iso(new_york, "2050-11-06T05:00:00Z"), "2050-11-06T07:00:00Z");
}

TEST(ScheduleDstTest, DailyTicksStayOnLocalNoonUntil2100) {
  // Every daily tick from 2030 (listed transitions) through 2100 (the footer's
  // rule) is at local noon, and each year has one 23-hour and one 25-hour
  // interval in zones with daylight time, none in the others.
  for (const char* zone : {"Europe/Berlin", "America/New_York", "Australia/Sydney",
                           "America/Sao_Paulo", "Asia/Kolkata"}) {
    SCOPED_TRACE(zone);
    Schedule s = schedule("0 12 * * *", zone);
    bool dst = std::string(zone) != "America/Sao_Paulo" && std::string(zone) != "Asia/Kolkata";
    auto tick = s.next_tick_after(utc("2030-01-01T00:00:00Z"));
    ASSERT_TRUE(tick);
    std::map<std::string, std::pair<int, int>> short_and_long_days;  // by year
    while (*tick < utc("2101-01-01T00:00:00Z")) {
      std::string at = format_local(*tick, s.zone(), "%Y-%m-%d %H:%M");
      ASSERT_EQ(at.substr(11), "12:00") << at;
      auto next = s.next_tick_after(*tick);
      ASSERT_TRUE(next);
      auto length = *next - *tick;
      auto& [short_days, long_days] = short_and_long_days[at.substr(0, 4)];
      if (length == hours{23}) ++short_days;
      if (length == hours{25}) ++long_days;
      if (length != hours{23} && length != hours{24} && length != hours{25}) {
        ADD_FAILURE() << "interval from " << at;
      }
      tick = next;
    }
    ASSERT_EQ(short_and_long_days.size(), 71u);
    for (const auto& [year, counts] : short_and_long_days) {
      EXPECT_EQ(counts, std::make_pair(dst ? 1 : 0, dst ? 1 : 0)) << year;
    }
  }
}

// ---- intervals ----

TEST(ScheduleIntervalTest, IntervalContaining) {
  Schedule s = schedule("0 2 * * *");
  auto i = interval_containing(s, utc("2026-02-03T10:00:00Z"));
  ASSERT_TRUE(i);
  EXPECT_EQ(*i, (DataInterval{utc("2026-02-03T02:00:00Z"), utc("2026-02-04T02:00:00Z")}));
  // A tick belongs to the interval it starts.
  auto at_tick = interval_containing(s, utc("2026-02-03T02:00:00Z"));
  ASSERT_TRUE(at_tick);
  EXPECT_EQ(at_tick->start, utc("2026-02-03T02:00:00Z"));
  EXPECT_FALSE(interval_containing(schedule("@once"), utc("2026-02-03T02:00:00Z")));
  EXPECT_FALSE(interval_containing(schedule(""), utc("2026-02-03T02:00:00Z")));
}

TEST(ScheduleIntervalTest, NextIntervalAfterRespectsStartDate) {
  Schedule s = schedule("0 0 * * *");
  ScheduleBounds bounds{utc("2026-01-01T12:00:00Z"), std::nullopt};
  // start_date is mid-day: the first interval starts at the next tick.
  auto first = next_interval_after(s, bounds, utc("2025-06-01T00:00:00Z"));
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, (DataInterval{utc("2026-01-02T00:00:00Z"), utc("2026-01-03T00:00:00Z")}));
  // A start_date on a tick starts there.
  bounds.start_date = utc("2026-01-01T00:00:00Z");
  first = next_interval_after(s, bounds, utc("2025-06-01T00:00:00Z"));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->start, utc("2026-01-01T00:00:00Z"));
  // `t` itself counts when it is a tick.
  auto at = next_interval_after(s, bounds, utc("2026-01-05T00:00:00Z"));
  ASSERT_TRUE(at);
  EXPECT_EQ(at->start, utc("2026-01-05T00:00:00Z"));
  auto after = next_interval_after(s, bounds, utc("2026-01-05T00:00:00.001Z"));
  ASSERT_TRUE(after);
  EXPECT_EQ(after->start, utc("2026-01-06T00:00:00Z"));
  // Past end_date there is none.
  bounds.end_date = utc("2026-01-05T00:00:00Z");
  EXPECT_TRUE(next_interval_after(s, bounds, utc("2026-01-05T00:00:00Z")));
  EXPECT_FALSE(next_interval_after(s, bounds, utc("2026-01-05T00:00:01Z")));
  EXPECT_FALSE(next_interval_after(schedule(""), bounds, utc("2026-01-01T00:00:00Z")));
}

TEST(ScheduleIntervalTest, OnceHasASingleInstantInterval) {
  Schedule once = schedule("@once");
  Timestamp start = utc("2026-01-01T08:00:00Z");
  ScheduleBounds bounds{start, std::nullopt};
  DataInterval expected{start, start};
  EXPECT_EQ(next_interval_after(once, bounds, utc("2025-12-31T00:00:00Z")), expected);
  EXPECT_EQ(next_interval_after(once, bounds, start), expected);
  EXPECT_FALSE(next_interval_after(once, bounds, start + Millis{1}));
  EXPECT_FALSE(latest_complete_interval(once, bounds, start - Millis{1}));
  EXPECT_EQ(latest_complete_interval(once, bounds, utc("2026-06-01T00:00:00Z")), expected);
  auto all =
      intervals_in_range(once, bounds, utc("2025-01-01T00:00:00Z"), utc("2027-01-01T00:00:00Z"));
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0], expected);
  EXPECT_TRUE(
      intervals_in_range(once, bounds, utc("2026-02-01T00:00:00Z"), utc("2027-01-01T00:00:00Z"))
          .empty());
}

TEST(ScheduleIntervalTest, LatestCompleteInterval) {
  Schedule s = schedule("0 2 * * *");
  ScheduleBounds bounds{utc("2026-01-01T00:00:00Z"), std::nullopt};
  DataInterval yesterday{utc("2026-02-02T02:00:00Z"), utc("2026-02-03T02:00:00Z")};
  EXPECT_EQ(latest_complete_interval(s, bounds, utc("2026-02-03T10:00:00Z")), yesterday);
  // An interval is complete the moment its end tick arrives.
  EXPECT_EQ(latest_complete_interval(s, bounds, utc("2026-02-03T02:00:00Z")), yesterday);
  EXPECT_EQ(latest_complete_interval(s, bounds, utc("2026-02-03T01:59:59.999Z"))->start,
            utc("2026-02-01T02:00:00Z"));
  // Nothing complete before the first interval (starting 01-01 02:00) ends.
  EXPECT_FALSE(latest_complete_interval(s, bounds, utc("2026-01-02T01:59:59Z")));
  EXPECT_EQ(latest_complete_interval(s, bounds, utc("2026-01-02T02:00:00Z"))->start,
            utc("2026-01-01T02:00:00Z"));
  // With an end_date in the past, the last interval starting at or before it.
  bounds.end_date = utc("2026-01-15T02:00:00Z");
  EXPECT_EQ(latest_complete_interval(s, bounds, utc("2026-02-03T10:00:00Z")),
            (DataInterval{utc("2026-01-15T02:00:00Z"), utc("2026-01-16T02:00:00Z")}));
  EXPECT_FALSE(latest_complete_interval(schedule(""), bounds, utc("2026-02-03T10:00:00Z")));
}

TEST(ScheduleIntervalTest, IntervalsInRangeCountsAndBounds) {
  Schedule s = schedule("0 0 * * *");
  ScheduleBounds open{utc("2020-01-01T00:00:00Z"), std::nullopt};
  // A 31-day range of a daily job: 31 intervals, in order and contiguous.
  auto all = intervals_in_range(s, open, utc("2026-01-01T00:00:00Z"), utc("2026-01-31T23:59:59Z"));
  ASSERT_EQ(all.size(), 31u);
  EXPECT_EQ(all.front().start, utc("2026-01-01T00:00:00Z"));
  EXPECT_EQ(all.back().end, utc("2026-02-01T00:00:00Z"));
  for (size_t i = 1; i < all.size(); ++i) EXPECT_EQ(all[i].start, all[i - 1].end);
  // `to` is inclusive.
  EXPECT_EQ(
      intervals_in_range(s, open, utc("2026-01-01T00:00:00Z"), utc("2026-01-31T00:00:00Z")).size(),
      31u);
  // start_date cuts the front, end_date (inclusive) the back.
  ScheduleBounds bounded{utc("2026-01-10T00:00:00Z"), utc("2026-01-20T00:00:00Z")};
  auto some =
      intervals_in_range(s, bounded, utc("2026-01-01T00:00:00Z"), utc("2026-01-31T23:59:59Z"));
  ASSERT_EQ(some.size(), 11u);
  EXPECT_EQ(some.front().start, utc("2026-01-10T00:00:00Z"));
  EXPECT_EQ(some.back().start, utc("2026-01-20T00:00:00Z"));
  ScheduleBounds from_tenth{utc("2026-01-10T00:00:00Z"), std::nullopt};
  EXPECT_EQ(
      intervals_in_range(s, from_tenth, utc("2026-01-01T00:00:00Z"), utc("2026-01-31T23:59:59Z"))
          .size(),
      22u);
  EXPECT_TRUE(intervals_in_range(schedule(""), open, utc("2026-01-01T00:00:00Z"),
                                 utc("2026-01-31T23:59:59Z"))
                  .empty());
  EXPECT_TRUE(intervals_in_range(s, open, utc("2026-02-01T00:00:01Z"), utc("2026-01-01T00:00:00Z"))
                  .empty());
}

TEST(ScheduleIntervalTest, IntervalsInRangeStopAtTheLimit) {
  // Two thousand years of a minutely job would be a billion intervals.
  Schedule s = schedule("* * * * *");
  ScheduleBounds open{utc("2020-01-01T00:00:00Z"), std::nullopt};
  auto first = intervals_in_range(s, open, utc("2026-01-01T00:00:00Z"),
                                  utc("4052-01-05T00:00:00Z"), 3);
  ASSERT_EQ(first.size(), 3u);
  EXPECT_EQ(first.back().start, utc("2026-01-01T00:02:00Z"));
  EXPECT_TRUE(intervals_in_range(schedule("@once"), open, utc("2019-01-01T00:00:00Z"),
                                 utc("2027-01-01T00:00:00Z"), 0)
                  .empty());
}

TEST(ScheduleIntervalTest, IntervalsInRangeInLocalZone) {
  // Berlin daily at midnight over January: 31 intervals, each starting at
  // 23:00Z the day before.
  Schedule s = schedule("@daily", "Europe/Berlin");
  const date::time_zone* berlin = s.zone();
  auto all = intervals_in_range(s, ScheduleBounds{Timestamp{}, std::nullopt},
                                *parse_timestamp("2026-01-01", berlin),
                                *parse_timestamp("2026-01-31T23:59:59", berlin));
  ASSERT_EQ(all.size(), 31u);
  EXPECT_EQ(format_iso(all.front().start), "2025-12-31T23:00:00Z");
}

// Every tick the walk finds, and only those, by enumerating every local minute
// of a window around each DST change and mapping the matching ones with the
// documented rule (gap: end of the gap; repeat: first occurrence; dedupe).
TEST(ScheduleDstTest, WalkAgreesWithMinuteByMinuteEnumeration) {
  struct Window {
    const char* zone;
    date::year_month_day first_local_day;
  };
  using date::year;
  // Lord Howe shifts by 30 minutes, so half-hour ticks land in its gap.
  const Window windows[] = {{"Europe/Berlin", year{2026} / 3 / 25},
                            {"Europe/Berlin", year{2026} / 10 / 21},
                            {"America/New_York", year{2026} / 3 / 4},
                            {"America/New_York", year{2026} / 10 / 28},
                            {"Australia/Lord_Howe", year{2026} / 4 / 1},
                            {"Australia/Lord_Howe", year{2026} / 9 / 30},
                            // After 2037, from the TZif footers' rules.
                            {"Europe/Berlin", year{2040} / 3 / 21},
                            {"Europe/Berlin", year{2040} / 10 / 24},
                            {"Australia/Sydney", year{2045} / 3 / 29},
                            {"Australia/Sydney", year{2045} / 9 / 27},
                            {"Australia/Lord_Howe", year{2050} / 3 / 30},
                            {"Australia/Lord_Howe", year{2050} / 9 / 28}};
  const char* expressions[] = {"*/15 * * * *",  "0 * * * *",    "30 2 * * *",
                               "*/7 1,2 * * *", "45 1 * * SUN", "0,30 0-3 * * *"};
  for (const Window& window : windows) {
    for (const char* expression : expressions) {
      SCOPED_TRACE(std::string(expression) + " in " + window.zone);
      Schedule s = schedule(expression, window.zone);
      CronExpr cron = *CronExpr::parse(expression, nullptr);
      date::local_days begin{window.first_local_day};
      std::vector<Timestamp> expected;
      for (auto l = date::local_time<minutes>{begin}; l < begin + date::days{14}; l += minutes{1}) {
        date::local_days day = date::floor<date::days>(l);
        date::year_month_day ymd{day};
        auto minute_of_day = (l - day).count();
        if (!cron.matches_day(static_cast<int>(static_cast<unsigned>(ymd.month())),
                              static_cast<int>(static_cast<unsigned>(ymd.day())),
                              static_cast<int>(date::weekday{day}.c_encoding())) ||
            !cron.matches_hour(static_cast<int>(minute_of_day / 60)) ||
            !cron.matches_minute(static_cast<int>(minute_of_day % 60))) {
          continue;
        }
        Timestamp tick = to_utc(s.zone(), l);
        if (expected.empty() || expected.back() != tick) expected.push_back(tick);
      }
      ASSERT_GE(expected.size(), 2u);
      std::vector<Timestamp> walked{expected.front()};
      while (walked.size() < expected.size()) {
        auto next = s.next_tick_after(walked.back());
        ASSERT_TRUE(next);
        walked.push_back(*next);
      }
      EXPECT_EQ(walked, expected);
      // Looking back from just before each tick finds the previous one.
      for (size_t i = 1; i < expected.size(); ++i) {
        EXPECT_EQ(s.last_tick_at_or_before(expected[i] - Millis{1}), expected[i - 1]);
      }
    }
  }
}

TEST(ScheduleIntervalTest, ManyLookupsStayCheap) {
  // Rare ticks must not force a minute-by-minute walk: a leap-day schedule
  // looked up from every day of four years still finds each answer. (The
  // walk skips whole months; with a minute walk this would take minutes.)
  Schedule leap = schedule("0 0 29 2 *", "Europe/Berlin");
  Timestamp t = utc("2025-01-01T00:00:00Z");
  for (int day = 0; day < 4 * 365; ++day, t += hours{24}) {
    auto tick = leap.next_tick_after(t);
    ASSERT_TRUE(tick);
    EXPECT_EQ(format_local(*tick, leap.zone(), "%m-%d %H:%M"), "02-29 00:00");
  }
}

}  // namespace
}  // namespace sluice
