#pragma once
// Schedules and the data intervals they cut time into.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/cron.h"
#include "core/time.h"

namespace sluice {

/// The half-open span of time [start, end) a run processes.
struct DataInterval {
  Timestamp start;
  Timestamp end;
  bool operator==(const DataInterval&) const = default;
};

/// When a DAG runs: a cron expression or preset evaluated in the DAG's time
/// zone, `@once`, or none (`schedule: null`, manual runs only).
///
/// A cron schedule's intervals run from one tick to the next: for
/// `0 2 * * *` the interval [02:00 day D, 02:00 day D+1). Ticks are local
/// wall-clock times in the zone. A local time that does not exist (spring
/// forward) ticks at the first instant after the gap; a local time that occurs
/// twice (fall back) ticks once, at its first occurrence.
/// `@once` has one interval, [start_date, start_date].
class Schedule {
 public:
  enum class Kind { kCron, kOnce, kNone };

  /// `expression` is a 5-field cron, a preset (@hourly @daily @weekly
  /// @monthly @yearly @once) or empty for none. `timezone` is an IANA name.
  /// On failure returns nullopt and sets `*error`.
  static std::optional<Schedule> parse(std::string_view expression, std::string_view timezone,
                                       std::string* error);

  Kind kind() const { return kind_; }
  /// The expression as written ("@daily", "0 2 * * *", "" for none).
  const std::string& expression() const { return expression_; }
  const std::string& timezone() const { return timezone_; }
  const date::time_zone* zone() const { return zone_; }

  /// The first tick strictly after `t`; nullopt for kOnce/kNone.
  std::optional<Timestamp> next_tick_after(Timestamp t) const;
  /// The last tick at or before `t`; nullopt for kOnce/kNone.
  std::optional<Timestamp> last_tick_at_or_before(Timestamp t) const;

 private:
  Kind kind_ = Kind::kNone;
  std::string expression_;
  std::string timezone_;
  const date::time_zone* zone_ = nullptr;
  std::optional<CronExpr> cron_;
};

/// The span in which a DAG's intervals may start: start_date inclusive,
/// end_date inclusive when set.
struct ScheduleBounds {
  Timestamp start_date;
  std::optional<Timestamp> end_date;
};

/// The first interval whose start is at or after `t` and within bounds
/// (an interval never starts before start_date). For kOnce: the single
/// interval if its start is at or after `t`. nullopt for kNone or when past
/// end_date.
std::optional<DataInterval> next_interval_after(const Schedule& schedule,
                                                const ScheduleBounds& bounds, Timestamp t);

/// The latest interval whose end is at or before `now` and within bounds.
std::optional<DataInterval> latest_complete_interval(const Schedule& schedule,
                                                     const ScheduleBounds& bounds,
                                                     Timestamp now);

/// Every interval whose start lies in [from, to] and within bounds, in order
/// (for backfills), but at most `limit`: a range of centuries of a minutely
/// schedule would not fit in memory. Empty for kNone.
std::vector<DataInterval> intervals_in_range(const Schedule& schedule,
                                             const ScheduleBounds& bounds, Timestamp from,
                                             Timestamp to, size_t limit = SIZE_MAX);

/// How many intervals within bounds have ended by `now` (what catch-up
/// would run), counted up to `limit` + 1: enough to tell "more than limit".
size_t count_complete_intervals(const Schedule& schedule, const ScheduleBounds& bounds,
                                Timestamp now, size_t limit);

/// The interval that contains `t` (start <= t < end), regardless of bounds;
/// nullopt for kOnce/kNone.
std::optional<DataInterval> interval_containing(const Schedule& schedule, Timestamp t);

}  // namespace sluice
