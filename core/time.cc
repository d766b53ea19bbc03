#include "core/time.h"

#include <date/date.h>
#include <date/tz.h>

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <stdexcept>

namespace sluice {

namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

// Reads exactly `width` digits at `*pos`; advances `*pos` on success.
bool read_digits(std::string_view s, size_t* pos, int width, int* out) {
  if (*pos + width > s.size()) return false;
  int value = 0;
  for (int i = 0; i < width; ++i) {
    char c = s[*pos + i];
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    value = value * 10 + (c - '0');
  }
  *pos += width;
  *out = value;
  return true;
}

bool read_char(std::string_view s, size_t* pos, char c) {
  if (*pos < s.size() && s[*pos] == c) {
    ++*pos;
    return true;
  }
  return false;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Parses "YYYY-MM-DD" at `*pos` into a valid calendar date.
bool read_date(std::string_view s, size_t* pos, date::year_month_day* out) {
  int y = 0, m = 0, d = 0;
  if (!read_digits(s, pos, 4, &y) || !read_char(s, pos, '-') || !read_digits(s, pos, 2, &m) ||
      !read_char(s, pos, '-') || !read_digits(s, pos, 2, &d)) {
    return false;
  }
  date::year_month_day ymd{date::year{y}, date::month{static_cast<unsigned>(m)},
                           date::day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return false;
  *out = ymd;
  return true;
}

}  // namespace

std::string format_iso(Timestamp t) {
  auto secs = std::chrono::floor<seconds>(t);
  auto ms = (t - secs).count();
  std::string out = date::format("%Y-%m-%dT%H:%M:%S", secs);
  if (ms != 0) {
    char buf[8];
    std::snprintf(buf, sizeof buf, ".%03d", static_cast<int>(ms));
    out += buf;
  }
  out += 'Z';
  return out;
}

int64_t to_epoch_ms(Timestamp t) { return t.time_since_epoch().count(); }

Timestamp from_epoch_ms(int64_t ms) { return Timestamp{Millis{ms}}; }

bool is_bare_date(std::string_view text) {
  text = trim(text);
  size_t pos = 0;
  date::year_month_day ymd;
  return read_date(text, &pos, &ymd) && pos == text.size();
}

std::optional<Timestamp> parse_timestamp(std::string_view text, const date::time_zone* zone) {
  text = trim(text);
  size_t pos = 0;
  date::year_month_day ymd;
  if (!read_date(text, &pos, &ymd)) return std::nullopt;

  Millis time_of_day{0};
  std::optional<minutes> offset;
  if (pos < text.size()) {
    if (text[pos] != 'T' && text[pos] != 't' && text[pos] != ' ') return std::nullopt;
    ++pos;
    int h = 0, m = 0, sec = 0;
    if (!read_digits(text, &pos, 2, &h) || !read_char(text, &pos, ':') ||
        !read_digits(text, &pos, 2, &m)) {
      return std::nullopt;
    }
    if (read_char(text, &pos, ':')) {
      if (!read_digits(text, &pos, 2, &sec)) return std::nullopt;
    }
    if (h > 23 || m > 59 || sec > 59) return std::nullopt;
    int ms = 0;
    if (read_char(text, &pos, '.') || read_char(text, &pos, ',')) {
      // Fractional seconds of any length; digits past milliseconds are dropped.
      int digits = 0;
      while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
        if (digits < 3) ms = ms * 10 + (text[pos] - '0');
        ++digits;
        ++pos;
      }
      if (digits == 0) return std::nullopt;
      for (int i = digits; i < 3; ++i) ms *= 10;
    }
    time_of_day = hours{h} + minutes{m} + seconds{sec} + Millis{ms};

    if (pos < text.size()) {
      char c = text[pos];
      if (c == 'Z' || c == 'z') {
        ++pos;
        offset = minutes{0};
      } else if (c == '+' || c == '-') {
        ++pos;
        int oh = 0, om = 0;
        if (!read_digits(text, &pos, 2, &oh)) return std::nullopt;
        read_char(text, &pos, ':');
        if (!read_digits(text, &pos, 2, &om)) return std::nullopt;
        if (oh > 23 || om > 59) return std::nullopt;
        offset = hours{oh} + minutes{om};
        if (c == '-') offset = -*offset;
      }
    }
  }
  if (pos != text.size()) return std::nullopt;

  auto local_ms = date::local_days{ymd} + time_of_day;
  if (offset) {
    return Timestamp{local_ms.time_since_epoch() - *offset};
  }
  if (zone == nullptr) return Timestamp{local_ms.time_since_epoch()};
  // A local time in a DST gap resolves to the instant the gap ends; a repeated
  // one to its first occurrence (date's to_sys does both with choose::earliest).
  return zone->to_sys(date::local_time<Millis>{local_ms.time_since_epoch()},
                      date::choose::earliest);
}

std::string format_local(Timestamp t, const date::time_zone* zone, const std::string& fmt) {
  auto secs = std::chrono::floor<seconds>(t);
  if (zone == nullptr) return date::format(fmt, secs);
  return date::format(fmt, date::zoned_time<seconds>{zone, secs});
}

const date::time_zone* find_zone(std::string_view name) {
  if (name.empty()) return nullptr;
  try {
    return date::locate_zone(std::string(name));
  } catch (const std::exception&) {
    return nullptr;
  }
}

std::optional<Millis> parse_duration(std::string_view text) {
  text = trim(text);
  if (text.empty()) return std::nullopt;
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  int64_t total = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
    if (pos == text.size()) break;
    if (!std::isdigit(static_cast<unsigned char>(text[pos]))) return std::nullopt;
    int64_t number = 0;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
      if (number > (kMax - 9) / 10) return std::nullopt;
      number = number * 10 + (text[pos] - '0');
      ++pos;
    }
    size_t unit_start = pos;
    while (pos < text.size() && std::isalpha(static_cast<unsigned char>(text[pos]))) ++pos;
    std::string_view unit = text.substr(unit_start, pos - unit_start);
    int64_t scale = 0;
    if (unit == "ms") {
      scale = 1;
    } else if (unit == "s") {
      scale = 1000;
    } else if (unit == "m") {
      scale = 60 * 1000;
    } else if (unit == "h") {
      scale = 3600 * 1000;
    } else if (unit == "d") {
      scale = 86400 * 1000;
    } else {
      return std::nullopt;
    }
    if (number > (kMax - total) / scale) return std::nullopt;
    total += number * scale;
  }
  return Millis{total};
}

std::string format_duration(Millis d) {
  if (d == Millis{0}) return "0s";
  std::string out;
  // Unsigned so that negating the most negative duration cannot overflow.
  uint64_t ms = static_cast<uint64_t>(d.count());
  if (d.count() < 0) {
    out += '-';
    ms = 0 - ms;
  }
  struct Unit {
    uint64_t scale;
    const char* suffix;
  };
  static constexpr Unit kUnits[] = {
      {86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}, {1, "ms"}};
  for (const Unit& unit : kUnits) {
    uint64_t n = ms / unit.scale;
    ms %= unit.scale;
    if (n != 0) out += std::to_string(n) + unit.suffix;
  }
  return out;
}

Timestamp RealClock::now() const {
  return std::chrono::floor<Millis>(std::chrono::system_clock::now());
}

}  // namespace sluice
