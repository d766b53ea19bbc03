#include "core/cron.h"

#include <gtest/gtest.h>

#include <vector>

namespace sluice {
namespace {

CronExpr parse_ok(const char* text) {
  std::string error;
  auto expr = CronExpr::parse(text, &error);
  EXPECT_TRUE(expr.has_value()) << text << ": " << error;
  return expr.value_or(*CronExpr::parse("* * * * *", nullptr));
}

std::string parse_error(const char* text) {
  std::string error;
  auto expr = CronExpr::parse(text, &error);
  EXPECT_FALSE(expr.has_value()) << text;
  return error;
}

std::vector<int> minutes_of(const CronExpr& expr) {
  std::vector<int> out;
  for (int m = 0; m < 60; ++m) {
    if (expr.matches_minute(m)) out.push_back(m);
  }
  return out;
}

std::vector<int> hours_of(const CronExpr& expr) {
  std::vector<int> out;
  for (int h = 0; h < 24; ++h) {
    if (expr.matches_hour(h)) out.push_back(h);
  }
  return out;
}

TEST(CronTest, StarsMatchEverything) {
  CronExpr expr = parse_ok("* * * * *");
  EXPECT_EQ(minutes_of(expr).size(), 60u);
  EXPECT_EQ(hours_of(expr).size(), 24u);
  EXPECT_TRUE(expr.matches_day(2, 29, 3));
  EXPECT_EQ(expr.text(), "* * * * *");
}

TEST(CronTest, ListsRangesAndSteps) {
  EXPECT_EQ(minutes_of(parse_ok("*/15 * * * *")), (std::vector<int>{0, 15, 30, 45}));
  EXPECT_EQ(minutes_of(parse_ok("1-10/2 * * * *")), (std::vector<int>{1, 3, 5, 7, 9}));
  EXPECT_EQ(minutes_of(parse_ok("5/10 * * * *")), (std::vector<int>{5, 15, 25, 35, 45, 55}));
  EXPECT_EQ(minutes_of(parse_ok("0,30,59 * * * *")), (std::vector<int>{0, 30, 59}));
  EXPECT_EQ(hours_of(parse_ok("0 1-3,20-23/2 * * *")), (std::vector<int>{1, 2, 3, 20, 22}));
  EXPECT_EQ(hours_of(parse_ok("0 7 * * *")), (std::vector<int>{7}));
}

TEST(CronTest, MonthNamesCaseInsensitive) {
  CronExpr expr = parse_ok("0 0 1 jan,Mar-MAY *");
  EXPECT_TRUE(expr.matches_day(1, 1, 4));
  EXPECT_FALSE(expr.matches_day(2, 1, 0));
  EXPECT_TRUE(expr.matches_day(3, 1, 0));
  EXPECT_TRUE(expr.matches_day(5, 1, 5));
  EXPECT_FALSE(expr.matches_day(6, 1, 1));
  EXPECT_FALSE(expr.matches_day(3, 2, 1));
}

TEST(CronTest, WeekdayNamesAndSevenIsSunday) {
  CronExpr weekdays = parse_ok("0 9 * * mon-FRI");
  EXPECT_FALSE(weekdays.matches_day(1, 4, 0));
  for (int wd = 1; wd <= 5; ++wd) EXPECT_TRUE(weekdays.matches_day(1, 5, wd));
  EXPECT_FALSE(weekdays.matches_day(1, 10, 6));

  CronExpr sunday = parse_ok("0 0 * * 7");
  EXPECT_TRUE(sunday.matches_day(1, 4, 0));
  EXPECT_FALSE(sunday.matches_day(1, 5, 1));

  CronExpr weekend = parse_ok("0 0 * * 6-7");
  EXPECT_TRUE(weekend.matches_day(1, 3, 6));
  EXPECT_TRUE(weekend.matches_day(1, 4, 0));
  EXPECT_FALSE(weekend.matches_day(1, 5, 1));
}

TEST(CronTest, DayOfMonthOrDayOfWeekWhenBothRestricted) {
  // Vixie cron: "on the 13th, and on every Friday".
  CronExpr expr = parse_ok("0 0 13 * 5");
  EXPECT_TRUE(expr.matches_day(1, 13, 2));   // 13th, a Tuesday
  EXPECT_TRUE(expr.matches_day(1, 16, 5));   // a Friday, not the 13th
  EXPECT_FALSE(expr.matches_day(1, 14, 3));  // neither
}

TEST(CronTest, DayFieldsAndWhenOneStartsWithStar) {
  // Only the weekday is restricted: every Monday, whatever the date.
  CronExpr mondays = parse_ok("0 0 * * 1");
  EXPECT_TRUE(mondays.matches_day(1, 5, 1));
  EXPECT_FALSE(mondays.matches_day(1, 6, 2));
  // A starred field with a step still counts as unrestricted (Vixie), so the
  // two fields must both match: odd days that are Mondays.
  CronExpr odd_mondays = parse_ok("0 0 */2 * 1");
  EXPECT_TRUE(odd_mondays.matches_day(1, 5, 1));
  EXPECT_FALSE(odd_mondays.matches_day(1, 12, 1));
  EXPECT_FALSE(odd_mondays.matches_day(1, 7, 3));
}

TEST(CronTest, WrongFieldCount) {
  EXPECT_EQ(parse_error("* * * *"),
            "cron expression '* * * *' has 4 fields; expected 5 "
            "(minute hour day-of-month month day-of-week)");
  EXPECT_NE(parse_error("0 0 * * * *").find("has 6 fields"), std::string::npos);
  EXPECT_NE(parse_error("").find("has 0 fields"), std::string::npos);
}

TEST(CronTest, OutOfRangeNamesFieldAndRange) {
  EXPECT_EQ(parse_error("61 * * * *"), "minute field '61' is out of range 0-59");
  EXPECT_EQ(parse_error("0 24 * * *"), "hour field '24' is out of range 0-23");
  EXPECT_EQ(parse_error("0 0 0 * *"), "day-of-month field '0' is out of range 1-31");
  EXPECT_EQ(parse_error("0 0 32 * *"), "day-of-month field '32' is out of range 1-31");
  EXPECT_EQ(parse_error("0 0 * 13 *"), "month field '13' is out of range 1-12");
  EXPECT_EQ(parse_error("0 0 * * 8"), "day-of-week field '8' is out of range 0-7");
  EXPECT_EQ(parse_error("0,75 * * * *"), "minute field '75' is out of range 0-59");
  EXPECT_EQ(parse_error("50-61 * * * *"), "minute field '50-61' is out of range 0-59");
  EXPECT_EQ(parse_error("123456 * * * *"), "minute field '123456' is out of range 0-59");
}

TEST(CronTest, UnknownNames) {
  EXPECT_EQ(parse_error("0 0 * FOO *"),
            "month field 'FOO' has 'FOO', which is not a number or name "
            "(allowed 1-12 or JAN-DEC)");
  EXPECT_EQ(parse_error("0 0 * * funday"),
            "day-of-week field 'funday' has 'funday', which is not a number or name "
            "(allowed 0-7 or SUN-SAT)");
  // Names belong to their own field only.
  EXPECT_EQ(parse_error("MON * * * *"),
            "minute field 'MON' has 'MON', which is not a number (allowed 0-59)");
  EXPECT_EQ(parse_error("0 0 * MON *"),
            "month field 'MON' has 'MON', which is not a number or name "
            "(allowed 1-12 or JAN-DEC)");
}

TEST(CronTest, BadSteps) {
  EXPECT_EQ(parse_error("*/0 * * * *"),
            "minute field '*/0' has step 0; the step must be at least 1");
  EXPECT_EQ(parse_error("*/x * * * *"),
            "minute field '*/x' has a step that is not a positive number");
  EXPECT_EQ(parse_error("*/ * * * *"),
            "minute field '*/' has a step that is not a positive number");
}

TEST(CronTest, BadListsAndRanges) {
  EXPECT_EQ(parse_error("1,,2 * * * *"), "minute field '1,,2' has an empty list item");
  EXPECT_EQ(parse_error("0 1, * * *"), "hour field '1,' has an empty list item");
  EXPECT_EQ(parse_error("0 10-5 * * *"),
            "hour field '10-5' has a range whose start is after its end (allowed 0-23)");
  EXPECT_EQ(parse_error("-5 * * * *"), "minute field '-5' is missing a value (allowed 0-59)");
  EXPECT_EQ(parse_error("0 0 1- * *"), "day-of-month field '1-' is missing a value (allowed 1-31)");
}

TEST(CronTest, QuartzExtensionsAreRejectedByName) {
  EXPECT_EQ(parse_error("0 0 L * *"),
            "day-of-month field 'L' uses 'L', which is not supported "
            "(allowed 1-31, with lists, ranges and steps)");
  EXPECT_EQ(parse_error("0 0 ? * 1"),
            "day-of-month field '?' uses '?', which is not supported "
            "(allowed 1-31, with lists, ranges and steps)");
  EXPECT_NE(parse_error("0 0 15W * *").find("uses '15W', which is not supported"),
            std::string::npos);
  EXPECT_NE(parse_error("0 0 * * 5#2").find("uses '5#2', which is not supported"),
            std::string::npos);
  EXPECT_NE(parse_error("0 0 * * 5L").find("uses '5L', which is not supported"), std::string::npos);
}

TEST(CronTest, ExpressionThatNeverRunsIsRejected) {
  EXPECT_EQ(parse_error("0 0 30 2 *"),
            "day-of-month field '30' never matches in month field '2'; "
            "the cron expression would never run");
  EXPECT_FALSE(CronExpr::parse("0 0 31 APR,JUN,SEP,NOV *", nullptr).has_value());
  // Leap days and months that have the day are fine.
  EXPECT_TRUE(CronExpr::parse("0 0 29 2 *", nullptr).has_value());
  EXPECT_TRUE(CronExpr::parse("0 0 31 * *", nullptr).has_value());
  // With both day fields restricted the weekday alone can match.
  EXPECT_TRUE(CronExpr::parse("0 0 30 2 1", nullptr).has_value());
}

}  // namespace
}  // namespace sluice
