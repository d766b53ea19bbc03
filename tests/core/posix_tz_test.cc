#include "core/posix_tz.h"

#include <date/tz.h>
#include <gtest/gtest.h>

#include "core/time.h"

namespace sluice {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using std::chrono::sys_seconds;

sys_seconds utc(const char* text) {
  auto t = parse_timestamp(text);
  EXPECT_TRUE(t.has_value()) << text;
  return std::chrono::floor<seconds>(t.value_or(Timestamp{}));
}

PosixTz tz(const char* text) {
  auto rule = PosixTz::parse(text);
  EXPECT_TRUE(rule.has_value()) << text;
  return rule.value_or(*PosixTz::parse("UTC0"));
}

// "CEST +02:00:00" for the rule in force at `at`.
std::string info(const PosixTz& rule, const char* at) {
  PosixTz::Info i = rule.info_at(utc(at));
  return i.abbrev + " " + date::format("%T", i.offset) + (i.is_dst ? " dst" : "");
}

TEST(PosixTzTest, FixedOffsets) {
  // Given footers of zones without daylight time: offsets count west of UTC.
  EXPECT_EQ(info(tz("UTC0"), "2050-01-01T00:00:00Z"), "UTC 00:00:00");
  EXPECT_EQ(info(tz("IST-5:30"), "2050-01-01T00:00:00Z"), "IST 05:30:00");
  EXPECT_EQ(info(tz("<-03>3"), "2050-01-01T00:00:00Z"), "-03 -03:00:00");
  EXPECT_EQ(info(tz("<+0545>-5:45"), "2050-01-01T00:00:00Z"), "+0545 05:45:00");
  EXPECT_FALSE(tz("IST-5:30").has_dst());
}

TEST(PosixTzTest, MonthWeekDayRules) {
  // Europe/Berlin: last Sunday of March 02:00 CET to last Sunday of October
  // 03:00 CEST, both 01:00Z.
  PosixTz berlin = tz("CET-1CEST,M3.5.0,M10.5.0/3");
  EXPECT_TRUE(berlin.has_dst());
  EXPECT_EQ(info(berlin, "2040-03-25T00:59:59Z"), "CET 01:00:00");
  EXPECT_EQ(info(berlin, "2040-03-25T01:00:00Z"), "CEST 02:00:00 dst");
  EXPECT_EQ(info(berlin, "2040-10-28T00:59:59Z"), "CEST 02:00:00 dst");
  EXPECT_EQ(info(berlin, "2040-10-28T01:00:00Z"), "CET 01:00:00");
  // America/New_York: second Sunday of March to first Sunday of November,
  // the daylight offset one hour more by default.
  PosixTz new_york = tz("EST5EDT,M3.2.0,M11.1.0");
  EXPECT_EQ(info(new_york, "2050-03-13T06:59:59Z"), "EST -05:00:00");
  EXPECT_EQ(info(new_york, "2050-03-13T07:00:00Z"), "EDT -04:00:00 dst");
  EXPECT_EQ(info(new_york, "2050-11-06T05:59:59Z"), "EDT -04:00:00 dst");
  EXPECT_EQ(info(new_york, "2050-11-06T06:00:00Z"), "EST -05:00:00");
}

TEST(PosixTzTest, SouthernHemisphereStartsTheYearOnDaylightTime) {
  PosixTz sydney = tz("AEST-10AEDT,M10.1.0,M4.1.0/3");
  EXPECT_EQ(info(sydney, "2045-01-01T00:00:00Z"), "AEDT 11:00:00 dst");
  EXPECT_EQ(info(sydney, "2045-04-01T15:59:59Z"), "AEDT 11:00:00 dst");
  EXPECT_EQ(info(sydney, "2045-04-01T16:00:00Z"), "AEST 10:00:00");
  EXPECT_EQ(info(sydney, "2045-09-30T15:59:59Z"), "AEST 10:00:00");
  EXPECT_EQ(info(sydney, "2045-09-30T16:00:00Z"), "AEDT 11:00:00 dst");
  EXPECT_EQ(info(sydney, "2045-12-31T23:59:59Z"), "AEDT 11:00:00 dst");
}

TEST(PosixTzTest, JulianAndZeroBasedDays) {
  // Jn never counts February 29: J60 is March 1 in every year. n counts it:
  // day 59 is February 29 in a leap year and March 1 otherwise.
  PosixTz julian = tz("AAA0BBB,J60/0,J300/1");
  EXPECT_EQ(info(julian, "2040-02-29T23:59:59Z"), "AAA 00:00:00");
  EXPECT_EQ(info(julian, "2040-03-01T00:00:00Z"), "BBB 01:00:00 dst");
  EXPECT_EQ(info(julian, "2041-02-28T23:59:59Z"), "AAA 00:00:00");
  EXPECT_EQ(info(julian, "2041-03-01T00:00:00Z"), "BBB 01:00:00 dst");
  PosixTz zero_based = tz("AAA0BBB,59/0,300/1");
  EXPECT_EQ(info(zero_based, "2040-02-28T23:59:59Z"), "AAA 00:00:00");
  EXPECT_EQ(info(zero_based, "2040-02-29T00:00:00Z"), "BBB 01:00:00 dst");
  EXPECT_EQ(info(zero_based, "2041-02-28T23:59:59Z"), "AAA 00:00:00");
  EXPECT_EQ(info(zero_based, "2041-03-01T00:00:00Z"), "BBB 01:00:00 dst");
  // J300/1 and 300/1 (01:00 daylight time, 00:00Z): October 27
  // and, counting from 0 with Feb 29, Oct 27 in 2040 and Oct 28 in 2041.
  EXPECT_EQ(info(julian, "2040-10-26T23:59:59Z"), "BBB 01:00:00 dst");
  EXPECT_EQ(info(julian, "2040-10-27T00:00:00Z"), "AAA 00:00:00");
  EXPECT_EQ(info(zero_based, "2040-10-26T23:59:59Z"), "BBB 01:00:00 dst");
  EXPECT_EQ(info(zero_based, "2040-10-27T00:00:00Z"), "AAA 00:00:00");
  EXPECT_EQ(info(zero_based, "2041-10-27T23:59:59Z"), "BBB 01:00:00 dst");
  EXPECT_EQ(info(zero_based, "2041-10-28T00:00:00Z"), "AAA 00:00:00");
}

TEST(PosixTzTest, NegativeAndLongSwitchTimes) {
  // America/Nuuk: -1:00 on the last Sunday of March is 23:00 on Saturday
  // (01:00Z on Sunday).
  PosixTz nuuk = tz("<-02>2<-01>,M3.5.0/-1,M10.5.0/0");
  EXPECT_EQ(info(nuuk, "2040-03-25T00:59:59Z"), "-02 -02:00:00");
  EXPECT_EQ(info(nuuk, "2040-03-25T01:00:00Z"), "-01 -01:00:00 dst");
  EXPECT_EQ(info(nuuk, "2040-10-28T00:59:59Z"), "-01 -01:00:00 dst");
  EXPECT_EQ(info(nuuk, "2040-10-28T01:00:00Z"), "-02 -02:00:00");
  // Asia/Jerusalem: 26:00 on the fourth Thursday of March is Friday 02:00
  // (2040-03-23, 00:00Z).
  PosixTz jerusalem = tz("IST-2IDT,M3.4.4/26,M10.5.0");
  EXPECT_EQ(info(jerusalem, "2040-03-22T23:59:59Z"), "IST 02:00:00");
  EXPECT_EQ(info(jerusalem, "2040-03-23T00:00:00Z"), "IDT 03:00:00 dst");
  // Minutes and seconds in switch times.
  PosixTz odd = tz("AAA0BBB-1,M3.5.0/1:30:15,M10.5.0/-0:30");
  EXPECT_EQ(info(odd, "2040-03-25T01:30:14Z"), "AAA 00:00:00");
  EXPECT_EQ(info(odd, "2040-03-25T01:30:15Z"), "BBB 01:00:00 dst");
  EXPECT_EQ(info(odd, "2040-10-27T22:29:59Z"), "BBB 01:00:00 dst");
  EXPECT_EQ(info(odd, "2040-10-27T22:30:00Z"), "AAA 00:00:00");
}

TEST(PosixTzTest, DaylightTimeAllYear) {
  // RFC 8536's example of a zone on daylight time all year.
  PosixTz always = tz("EST5EDT4,0/0,J365/25");
  for (const char* at : {"2040-01-01T00:00:00Z", "2040-01-01T05:00:00Z", "2040-06-30T12:00:00Z",
                         "2040-12-31T23:59:59Z", "2041-01-01T04:59:59Z"}) {
    EXPECT_EQ(info(always, at), "EDT -04:00:00 dst") << at;
  }
}

TEST(PosixTzTest, DaylightNameWithoutDatesUsesUsDates) {
  PosixTz us = tz("EST5EDT");
  EXPECT_EQ(info(us, "2050-03-13T07:00:00Z"), "EDT -04:00:00 dst");
  EXPECT_EQ(info(us, "2050-11-06T06:00:00Z"), "EST -05:00:00");
}

TEST(PosixTzTest, RejectsMalformedStrings) {
  for (const char* text :
       {"", "C0", "CET", "CET-1CEST,M3.5.0", "CET-1CEST,M13.5.0,M10.5.0",
        "CET-1CEST,M3.6.0,M10.5.0", "CET-1CEST,M3.5.7,M10.5.0", "CET-1CEST,J0,J365",
        "CET-1CEST,J366,J1", "CET-1CEST,366,1", "CET-1CEST,M3.5.0/168,M10.5.0",
        "CET-1CEST,M3.5.0,M10.5.0/3x", "CET25", "CET-1:60", "<AB>1", "<-03", "CET-1CE"}) {
    EXPECT_FALSE(PosixTz::parse(text).has_value()) << text;
  }
}

// The footers of zones with daylight time agree with the transitions their
// TZif files list, every hour from 2025 to the last listed one (2037).
TEST(PosixTzTest, FootersAgreeWithListedTransitions) {
  struct Zone {
    const char* name;
    const char* footer;
  };
  const Zone zones[] = {{"Europe/Berlin", "CET-1CEST,M3.5.0,M10.5.0/3"},
                        {"America/New_York", "EST5EDT,M3.2.0,M11.1.0"},
                        {"Australia/Sydney", "AEST-10AEDT,M10.1.0,M4.1.0/3"},
                        {"America/Sao_Paulo", "<-03>3"},
                        {"Asia/Kolkata", "IST-5:30"}};
  for (const Zone& zone : zones) {
    SCOPED_TRACE(zone.name);
    const date::time_zone* z = find_zone(zone.name);
    ASSERT_NE(z, nullptr);
    PosixTz rule = tz(zone.footer);
    int mismatches = 0;
    for (sys_seconds t = utc("2025-01-01T00:00:00Z"); t < utc("2037-12-31T00:00:00Z");
         t += hours{1}) {
      date::sys_info listed = z->get_info(t);
      PosixTz::Info footer = rule.info_at(t);
      if (listed.offset != footer.offset || listed.abbrev != footer.abbrev) {
        if (++mismatches < 5) {
          ADD_FAILURE() << date::format("%FT%TZ", t) << ": listed " << listed.abbrev << ", footer "
                        << footer.abbrev;
        }
      }
    }
    EXPECT_EQ(mismatches, 0);
  }
}

}  // namespace
}  // namespace sluice
