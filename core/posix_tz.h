#pragma once
// POSIX TZ strings ("CET-1CEST,M3.5.0,M10.5.0/3"), the rule a TZif file's
// footer gives for the times after the last transition the file lists.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace sluice {

/// A time zone rule in POSIX TZ form: a standard offset and, optionally, a
/// daylight saving offset with the yearly dates that switch between them.
class PosixTz {
 public:
  /// The offset from UTC (east positive) and abbreviation in force at an instant.
  struct Info {
    std::chrono::seconds offset{0};
    std::string abbrev;
    bool is_dst = false;
  };

  /// Parses a TZ string as RFC 8536 (section 3.3) extends POSIX: names as
  /// `CET` or `<-03>`, offsets `[+-]hh[:mm[:ss]]` (positive west of UTC), and
  /// switch dates `Jn` (1-365, February 29 never counted), `n` (0-365) or
  /// `Mm.w.d` (weekday d of week w, 5 meaning the last), each with an optional
  /// `/time` of -167 to 167 hours. A daylight name without dates uses the US
  /// dates, M3.2.0,M11.1.0. nullopt when malformed.
  static std::optional<PosixTz> parse(std::string_view text);

  bool has_dst() const { return dst_.has_value(); }
  Info info_at(std::chrono::sys_seconds t) const;

 private:
  /// A yearly switch date and the local time of day the switch happens.
  struct Rule {
    enum class Kind { kJulian, kZeroBasedDay, kMonthWeekDay };
    Kind kind = Kind::kMonthWeekDay;
    int day = 0;  // Jn: 1-365; n: 0-365
    int month = 0, week = 0, weekday = 0;
    std::chrono::seconds time{2 * 3600};
  };
  struct Dst {
    Info info;
    Rule start;  // time read in standard time
    Rule end;    // time read in daylight time
  };

  /// The instant `rule` switches in `year`, its time read at `offset`.
  static std::chrono::sys_seconds switch_instant(const Rule& rule, int year,
                                                 std::chrono::seconds offset);

  Info std_;
  std::optional<Dst> dst_;
};

}  // namespace sluice
