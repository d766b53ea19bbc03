#pragma once
// Five-field cron expressions: minute hour day-of-month month day-of-week.

#include <bitset>
#include <optional>
#include <string>
#include <string_view>

namespace sluice {

/// A parsed cron expression. Supports lists, ranges, steps (`*/15`, `1-10/2`),
/// month names (JAN-DEC) and weekday names (SUN-SAT, 0 and 7 are Sunday).
/// Day-of-month and day-of-week combine as in Vixie cron: when both are
/// restricted, a day matches if either matches.
class CronExpr {
 public:
  /// Parses `text`; on failure returns nullopt and sets `*error` to a message
  /// that names the bad field and what is allowed there.
  static std::optional<CronExpr> parse(std::string_view text, std::string* error);

  bool matches_minute(int minute) const { return minutes_[minute]; }
  bool matches_hour(int hour) const { return hours_[hour]; }
  /// `month` 1-12; lets a search skip whole months.
  bool matches_month(int month) const { return months_[month]; }
  /// `month` 1-12, `day` 1-31, `weekday` 0-6 (0 = Sunday).
  bool matches_day(int month, int day, int weekday) const;
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1-31
  std::bitset<13> months_;   // 1-12
  std::bitset<7> weekdays_;  // 0-6
  bool days_restricted_ = false;
  bool weekdays_restricted_ = false;
};

}  // namespace sluice
