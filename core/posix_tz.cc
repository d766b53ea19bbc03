#include "core/posix_tz.h"

#include <cctype>

namespace sluice {

namespace {

using std::chrono::seconds;

/// Reads the parts of a TZ string left to right.
class TzReader {
 public:
  explicit TzReader(std::string_view text) : text_(text) {}

  bool done() const { return pos_ == text_.size(); }

  bool eat(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  /// A zone abbreviation: three or more letters, or `<...>` around three or
  /// more letters, digits and signs (returned without the brackets).
  std::optional<std::string> name() {
    size_t start = pos_;
    if (eat('<')) {
      while (pos_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[pos_])) ||
                                     text_[pos_] == '+' || text_[pos_] == '-')) {
        ++pos_;
      }
      std::string inner(text_.substr(start + 1, pos_ - start - 1));
      if (inner.size() < 3 || !eat('>')) return std::nullopt;
      return inner;
    }
    while (pos_ < text_.size() && std::isalpha(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    if (pos_ - start < 3) return std::nullopt;
    return std::string(text_.substr(start, pos_ - start));
  }

  /// One to `max_digits` decimal digits.
  std::optional<int> number(int max_digits) {
    int value = 0;
    int digits = 0;
    while (digits < max_digits && pos_ < text_.size() &&
           std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
      value = value * 10 + (text_[pos_] - '0');
      ++pos_;
      ++digits;
    }
    if (digits == 0) return std::nullopt;
    return value;
  }

  /// `[+-]hh[:mm[:ss]]` with hh at most `max_hours`.
  std::optional<seconds> duration(int max_hours) {
    bool negative = false;
    if (eat('-')) {
      negative = true;
    } else {
      eat('+');
    }
    auto h = number(3);
    if (!h || *h > max_hours) return std::nullopt;
    int total = *h * 3600;
    for (int scale : {60, 1}) {
      if (!eat(':')) break;
      auto part = number(2);
      if (!part || *part > 59) return std::nullopt;
      total += *part * scale;
    }
    return seconds{negative ? -total : total};
  }

  /// True when the next character may start an offset.
  bool at_offset() const {
    return pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-' ||
                                   std::isdigit(static_cast<unsigned char>(text_[pos_])));
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

std::optional<PosixTz> PosixTz::parse(std::string_view text) {
  TzReader in(text);
  PosixTz tz;
  auto std_name = in.name();
  if (!std_name) return std::nullopt;
  // POSIX offsets count hours west of UTC; Info counts east.
  auto std_west = in.duration(24);
  if (!std_west) return std::nullopt;
  tz.std_ = Info{-*std_west, *std_name, false};
  if (in.done()) return tz;

  auto dst_name = in.name();
  if (!dst_name) return std::nullopt;
  Dst dst;
  dst.info = Info{tz.std_.offset + std::chrono::hours{1}, *dst_name, true};
  if (in.at_offset()) {
    auto dst_west = in.duration(24);
    if (!dst_west) return std::nullopt;
    dst.info.offset = -*dst_west;
  }

  auto read_rule = [&in](Rule* rule) {
    if (in.eat('J')) {
      auto n = in.number(3);
      if (!n || *n < 1 || *n > 365) return false;
      rule->kind = Rule::Kind::kJulian;
      rule->day = *n;
    } else if (in.eat('M')) {
      auto month = in.number(2);
      if (!month || *month < 1 || *month > 12 || !in.eat('.')) return false;
      auto week = in.number(1);
      if (!week || *week < 1 || *week > 5 || !in.eat('.')) return false;
      auto weekday = in.number(1);
      if (!weekday || *weekday > 6) return false;
      rule->kind = Rule::Kind::kMonthWeekDay;
      rule->month = *month;
      rule->week = *week;
      rule->weekday = *weekday;
    } else {
      auto n = in.number(3);
      if (!n || *n > 365) return false;
      rule->kind = Rule::Kind::kZeroBasedDay;
      rule->day = *n;
    }
    if (in.eat('/')) {
      auto time = in.duration(167);
      if (!time) return false;
      rule->time = *time;
    }
    return true;
  };
  if (in.eat(',')) {
    if (!read_rule(&dst.start) || !in.eat(',') || !read_rule(&dst.end)) return std::nullopt;
  } else {
    dst.start = Rule{Rule::Kind::kMonthWeekDay, 0, 3, 2, 0};
    dst.end = Rule{Rule::Kind::kMonthWeekDay, 0, 11, 1, 0};
  }
  if (!in.done()) return std::nullopt;
  tz.dst_ = dst;
  return tz;
}

std::chrono::sys_seconds PosixTz::switch_instant(const Rule& rule, int year, seconds offset) {
  using namespace std::chrono;
  const std::chrono::year y{year};
  sys_days day;
  switch (rule.kind) {
    case Rule::Kind::kJulian:
      // Day 60 is March 1 in every year: February 29 is not counted.
      day = sys_days{y / January / 1} + days{rule.day - 1 + (y.is_leap() && rule.day >= 60)};
      break;
    case Rule::Kind::kZeroBasedDay:
      day = sys_days{y / January / 1} + days{rule.day};
      break;
    case Rule::Kind::kMonthWeekDay: {
      auto m = month{static_cast<unsigned>(rule.month)};
      auto wd = weekday{static_cast<unsigned>(rule.weekday)};
      // Every month has a fourth of each weekday; week 5 means the last.
      day = rule.week == 5 ? sys_days{y / m / wd[last]}
                           : sys_days{y / m / wd[static_cast<unsigned>(rule.week)]};
      break;
    }
  }
  return sys_seconds{day} + rule.time - offset;
}

PosixTz::Info PosixTz::info_at(std::chrono::sys_seconds t) const {
  if (!dst_) return std_;
  using namespace std::chrono;
  int year = static_cast<int>(year_month_day{floor<days>(t)}.year());
  // The latest switch at or before t decides. Switches of the neighbouring
  // years count too, since a southern zone's year starts on daylight time;
  // at equal instants the later year's wins, so a rule on daylight time all
  // year (`,0/0,J365/25`) never leaves it.
  const Info* in_force = &std_;
  std::optional<sys_seconds> latest;
  for (int y = year - 1; y <= year + 1; ++y) {
    sys_seconds start = switch_instant(dst_->start, y, std_.offset);
    sys_seconds end = switch_instant(dst_->end, y, dst_->info.offset);
    if (start == end) continue;
    for (auto [at, info] : {std::pair{start, &dst_->info}, std::pair{end, &std_}}) {
      if (at <= t && (!latest || at >= *latest)) {
        latest = at;
        in_force = info;
      }
    }
  }
  return *in_force;
}

}  // namespace sluice
