#include "core/schedule.h"

#include <date/date.h>
#include <date/tz.h>

#include <algorithm>
#include <cctype>

namespace sluice {

namespace {

using std::chrono::hours;
using std::chrono::minutes;
using LocalMinutes = date::local_time<minutes>;

// How far the search for a matching minute looks before giving up. Parsing
// rejects expressions that can never match; the rarest real ones (Feb 29 on a
// given weekday) recur within 28 years. Skipped months count as one step.
constexpr int kSearchDays = 366 * 30;

/// Walks a cron expression's matching local wall-clock minutes forwards or
/// backwards: day by day, and within a matching day only over its matching
/// hours and minutes, so even rare schedules need no minute-by-minute scan.
class MinuteWalker {
 public:
  explicit MinuteWalker(const CronExpr& cron) : cron_(cron) {}

  /// The first matching local minute at or after `from`.
  std::optional<LocalMinutes> next_at_or_after(LocalMinutes from) const {
    date::local_days day = date::floor<date::days>(from);
    int minute_of_day = static_cast<int>((from - day).count());
    for (int i = 0; i < kSearchDays; ++i, day += date::days{1}, minute_of_day = 0) {
      date::year_month_day ymd{day};
      if (!cron_.matches_month(month_of(ymd))) {
        // Jump to the last day of this month; the loop steps to the next.
        day = date::local_days{ymd.year() / ymd.month() / date::last};
        continue;
      }
      if (!day_matches(day, ymd)) continue;
      for (int h = minute_of_day / 60; h < 24; ++h) {
        if (!cron_.matches_hour(h)) continue;
        int first = h == minute_of_day / 60 ? minute_of_day % 60 : 0;
        for (int mn = first; mn < 60; ++mn) {
          if (cron_.matches_minute(mn)) return day + hours{h} + minutes{mn};
        }
      }
    }
    return std::nullopt;
  }

  /// The last matching local minute at or before `from`.
  std::optional<LocalMinutes> prev_at_or_before(LocalMinutes from) const {
    date::local_days day = date::floor<date::days>(from);
    int minute_of_day = static_cast<int>((from - day).count());
    for (int i = 0; i < kSearchDays; ++i, day -= date::days{1}, minute_of_day = 24 * 60 - 1) {
      date::year_month_day ymd{day};
      if (!cron_.matches_month(month_of(ymd))) {
        // Jump to the first day of this month; the loop steps to the previous.
        day = date::local_days{ymd.year() / ymd.month() / 1};
        continue;
      }
      if (!day_matches(day, ymd)) continue;
      for (int h = minute_of_day / 60; h >= 0; --h) {
        if (!cron_.matches_hour(h)) continue;
        int first = h == minute_of_day / 60 ? minute_of_day % 60 : 59;
        for (int mn = first; mn >= 0; --mn) {
          if (cron_.matches_minute(mn)) return day + hours{h} + minutes{mn};
        }
      }
    }
    return std::nullopt;
  }

 private:
  static int month_of(date::year_month_day ymd) {
    return static_cast<int>(static_cast<unsigned>(ymd.month()));
  }

  bool day_matches(date::local_days day, date::year_month_day ymd) const {
    int weekday = static_cast<int>(date::weekday{day}.c_encoding());
    return cron_.matches_day(month_of(ymd), static_cast<int>(static_cast<unsigned>(ymd.day())),
                             weekday);
  }

  const CronExpr& cron_;
};

// The instant a local wall-clock tick fires: a time in a DST gap fires when
// the gap ends, a repeated time at its first occurrence.
Timestamp tick_instant(const date::time_zone* zone, LocalMinutes local) {
  return to_utc(zone, local);
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::optional<Schedule> Schedule::parse(std::string_view expression, std::string_view timezone,
                                        std::string* error) {
  std::string scratch;
  if (error == nullptr) error = &scratch;
  Schedule schedule;
  schedule.expression_ = trim(expression);
  schedule.timezone_ = trim(timezone);
  if (schedule.timezone_.empty()) schedule.timezone_ = "UTC";
  schedule.zone_ = find_zone(schedule.timezone_);
  if (schedule.zone_ == nullptr) {
    *error = "unknown time zone '" + schedule.timezone_ + "'";
    return std::nullopt;
  }

  std::string cron_text = schedule.expression_;
  if (schedule.expression_.empty()) {
    schedule.kind_ = Kind::kNone;
    return schedule;
  }
  if (schedule.expression_.front() == '@') {
    std::string preset = lower(schedule.expression_);
    if (preset == "@once") {
      schedule.kind_ = Kind::kOnce;
      return schedule;
    }
    if (preset == "@hourly") {
      cron_text = "0 * * * *";
    } else if (preset == "@daily" || preset == "@midnight") {
      cron_text = "0 0 * * *";
    } else if (preset == "@weekly") {
      cron_text = "0 0 * * 0";
    } else if (preset == "@monthly") {
      cron_text = "0 0 1 * *";
    } else if (preset == "@yearly" || preset == "@annually") {
      cron_text = "0 0 1 1 *";
    } else {
      *error = "bad schedule '" + schedule.expression_ +
               "': unknown preset (there are @hourly, @daily, @midnight, @weekly, @monthly, "
               "@yearly, @annually and @once)";
      return std::nullopt;
    }
  }
  std::string cron_error;
  schedule.cron_ = CronExpr::parse(cron_text, &cron_error);
  if (!schedule.cron_) {
    *error = "bad schedule '" + schedule.expression_ + "': " + cron_error;
    return std::nullopt;
  }
  schedule.kind_ = Kind::kCron;
  return schedule;
}

std::optional<Timestamp> Schedule::next_tick_after(Timestamp t) const {
  if (kind_ != Kind::kCron) return std::nullopt;
  // Tick instants never decrease as local time increases, and no local minute
  // at or before t's own local minute fires after t, so the search can start
  // there and stop at the first tick past t. Ticks that land on the same
  // instant (all of a DST gap) collapse because only a later one qualifies.
  auto local = date::floor<minutes>(to_local(zone_, t));
  MinuteWalker walker(*cron_);
  for (;;) {
    auto match = walker.next_at_or_after(local);
    if (!match) return std::nullopt;
    Timestamp tick = tick_instant(zone_, *match);
    if (tick > t) return tick;
    local = *match + minutes{1};
  }
}

std::optional<Timestamp> Schedule::last_tick_at_or_before(Timestamp t) const {
  if (kind_ != Kind::kCron) return std::nullopt;
  // Just after a fall-back the wall clock repeats an hour whose ticks already
  // fired at their first occurrence, which lies before t; start from the
  // larger offset in force around t so those are found.
  auto offset = std::max(utc_offset(zone_, t), utc_offset(zone_, t - hours{3}));
  auto local = date::floor<minutes>(date::local_time<Millis>{(t + offset).time_since_epoch()});
  MinuteWalker walker(*cron_);
  for (;;) {
    auto match = walker.prev_at_or_before(local);
    if (!match) return std::nullopt;
    Timestamp tick = tick_instant(zone_, *match);
    if (tick <= t) return tick;
    local = *match - minutes{1};
  }
}

std::optional<DataInterval> next_interval_after(const Schedule& schedule,
                                                const ScheduleBounds& bounds, Timestamp t) {
  Timestamp from = std::max(t, bounds.start_date);
  switch (schedule.kind()) {
    case Schedule::Kind::kNone:
      return std::nullopt;
    case Schedule::Kind::kOnce:
      if (bounds.start_date < t) return std::nullopt;
      if (bounds.end_date && bounds.start_date > *bounds.end_date) return std::nullopt;
      return DataInterval{bounds.start_date, bounds.start_date};
    case Schedule::Kind::kCron:
      break;
  }
  auto start = schedule.next_tick_after(from - Millis{1});
  if (!start) return std::nullopt;
  if (bounds.end_date && *start > *bounds.end_date) return std::nullopt;
  auto end = schedule.next_tick_after(*start);
  if (!end) return std::nullopt;
  return DataInterval{*start, *end};
}

std::optional<DataInterval> latest_complete_interval(const Schedule& schedule,
                                                     const ScheduleBounds& bounds, Timestamp now) {
  switch (schedule.kind()) {
    case Schedule::Kind::kNone:
      return std::nullopt;
    case Schedule::Kind::kOnce:
      if (bounds.start_date > now) return std::nullopt;
      if (bounds.end_date && bounds.start_date > *bounds.end_date) return std::nullopt;
      return DataInterval{bounds.start_date, bounds.start_date};
    case Schedule::Kind::kCron:
      break;
  }
  auto end = schedule.last_tick_at_or_before(now);
  if (!end) return std::nullopt;
  auto start = schedule.last_tick_at_or_before(*end - Millis{1});
  if (!start) return std::nullopt;
  if (bounds.end_date && *start > *bounds.end_date) {
    // The last interval allowed starts at or before end_date; it ended before
    // the one found above started, so it is complete too.
    start = schedule.last_tick_at_or_before(*bounds.end_date);
    if (!start) return std::nullopt;
    end = schedule.next_tick_after(*start);
    if (!end) return std::nullopt;
  }
  if (*start < bounds.start_date) return std::nullopt;
  return DataInterval{*start, *end};
}

size_t count_complete_intervals(const Schedule& schedule, const ScheduleBounds& bounds,
                                Timestamp now, size_t limit) {
  size_t count = 0;
  Timestamp from = bounds.start_date;
  while (count <= limit) {
    auto interval = next_interval_after(schedule, bounds, from);
    if (!interval || interval->end > now) break;
    ++count;
    from = interval->start + Millis(1);
  }
  return count;
}

std::vector<DataInterval> intervals_in_range(const Schedule& schedule, const ScheduleBounds& bounds,
                                             Timestamp from, Timestamp to, size_t limit) {
  std::vector<DataInterval> out;
  Timestamp lo = std::max(from, bounds.start_date);
  Timestamp hi = bounds.end_date ? std::min(to, *bounds.end_date) : to;
  if (lo > hi) return out;
  switch (schedule.kind()) {
    case Schedule::Kind::kNone:
      return out;
    case Schedule::Kind::kOnce:
      if (limit > 0 && bounds.start_date >= lo && bounds.start_date <= hi) {
        out.push_back(DataInterval{bounds.start_date, bounds.start_date});
      }
      return out;
    case Schedule::Kind::kCron:
      break;
  }
  auto start = schedule.next_tick_after(lo - Millis{1});
  while (start && *start <= hi && out.size() < limit) {
    auto end = schedule.next_tick_after(*start);
    if (!end) break;
    out.push_back(DataInterval{*start, *end});
    start = end;
  }
  return out;
}

std::optional<DataInterval> interval_containing(const Schedule& schedule, Timestamp t) {
  if (schedule.kind() != Schedule::Kind::kCron) return std::nullopt;
  auto start = schedule.last_tick_at_or_before(t);
  if (!start) return std::nullopt;
  auto end = schedule.next_tick_after(t);
  if (!end) return std::nullopt;
  return DataInterval{*start, *end};
}

}  // namespace sluice
