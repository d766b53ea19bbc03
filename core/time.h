#pragma once
// Time points, durations and the Clock every component reads time through.

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace date {
class time_zone;
struct local_t;
}

namespace sluice {

using Millis = std::chrono::milliseconds;
/// A UTC instant with millisecond precision. All stored times are these.
using Timestamp = std::chrono::sys_time<Millis>;
/// A wall-clock time in some zone (date::local_time<Millis>).
using LocalTime = std::chrono::time_point<date::local_t, Millis>;

/// "2026-02-03T02:00:00Z", with ".123" when there are milliseconds.
std::string format_iso(Timestamp t);
/// Milliseconds since the epoch, as stored in the database.
int64_t to_epoch_ms(Timestamp t);
Timestamp from_epoch_ms(int64_t ms);

/// Parses an ISO-8601 instant ("2026-02-03T02:00:00Z", "...+01:00",
/// "2026-02-03 02:00:00"). Without an offset the time is read in `zone`
/// (UTC when null). A bare date "2026-02-03" is midnight in `zone`.
std::optional<Timestamp> parse_timestamp(std::string_view text,
                                         const date::time_zone* zone = nullptr);
/// True when `text` is a bare date (YYYY-MM-DD) rather than a timestamp.
bool is_bare_date(std::string_view text);

/// Formats `t` in `zone` with a strftime-like format ("%Y-%m-%d").
std::string format_local(Timestamp t, const date::time_zone* zone, const std::string& fmt);

/// Looks up an IANA zone name; nullptr when unknown.
const date::time_zone* find_zone(std::string_view name);

// Conversions in a zone. Past the last transition its TZif file lists (2037
// in most), they follow the rule in the file's footer; date's own time_zone
// methods would keep the last offset for ever, so use these instead.

/// The offset from UTC in force in `zone` at `t` (zero for a null zone).
std::chrono::seconds utc_offset(const date::time_zone* zone, Timestamp t);
/// The wall-clock time in `zone` at `t`.
LocalTime to_local(const date::time_zone* zone, Timestamp t);
/// The instant wall-clock time `local` names in `zone`: a time in a DST gap
/// is the instant the gap ends, a repeated one its first occurrence.
Timestamp to_utc(const date::time_zone* zone, LocalTime local);

/// Parses "500ms", "30s", "5m", "2h", "1d" (also combined: "1h30m").
std::optional<Millis> parse_duration(std::string_view text);
/// "1h30m", "500ms", "0s".
std::string format_duration(Millis d);

/// Source of the current time. Unit tests use FakeClock and never sleep.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual Timestamp now() const = 0;
};

/// The system clock.
class RealClock : public Clock {
 public:
  Timestamp now() const override;
};

/// A clock that moves only when told, for tests.
class FakeClock : public Clock {
 public:
  explicit FakeClock(Timestamp start) : now_(start) {}
  Timestamp now() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return now_;
  }
  void advance(Millis d) {
    std::lock_guard<std::mutex> lock(mu_);
    now_ += d;
  }
  void set(Timestamp t) {
    std::lock_guard<std::mutex> lock(mu_);
    now_ = t;
  }

 private:
  mutable std::mutex mu_;
  Timestamp now_;  // GUARDED_BY(mu_)
};

}  // namespace sluice
