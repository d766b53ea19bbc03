#include "core/time.h"

#include <date/date.h>
#include <date/tz.h>

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>

#include "core/posix_tz.h"

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

// Where date's OS time zone database reads its TZif files.
constexpr const char* kZoneInfoDir = "/usr/share/zoneinfo";

/// What a zone does after the last transition its TZif file lists: the
/// footer's rule, for zones that still switch to daylight time.
struct ZoneTail {
  date::sys_seconds last_transition;
  PosixTz rule;
};

// The TZ string at the end of a version 2+ TZif file, between its last two
// newlines; empty when there is none.
std::string read_tzif_footer(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string data{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (data.size() < 6 || data.compare(0, 4, "TZif") != 0 || data[4] < '2' || data.back() != '\n') {
    return "";
  }
  size_t start = data.rfind('\n', data.size() - 2);
  if (start == std::string::npos) return "";
  return data.substr(start + 1, data.size() - start - 2);
}

std::optional<ZoneTail> read_zone_tail(const date::time_zone* zone) {
  auto rule =
      PosixTz::parse(read_tzif_footer(std::string(kZoneInfoDir) + "/" + std::string(zone->name())));
  // Without daylight time the footer only repeats the last offset, which is
  // what date keeps using anyway.
  if (!rule || !rule->has_dst()) return std::nullopt;
  // date's last period runs from the last listed transition to the end of time.
  auto far_future = date::sys_days{date::year{2400} / 1 / 1};
  return ZoneTail{zone->get_info(far_future).begin, *rule};
}

// The tail of `zone`, read once per zone; nullptr when date's answers hold
// for all times.
const ZoneTail* zone_tail(const date::time_zone* zone) {
  static std::mutex* mu = new std::mutex;
  static auto* tails =
      new std::map<const date::time_zone*, std::optional<ZoneTail>>;  // GUARDED_BY(mu)
  std::lock_guard<std::mutex> lock(*mu);
  auto [it, inserted] = tails->try_emplace(zone);
  if (inserted) it->second = read_zone_tail(zone);
  return it->second ? &*it->second : nullptr;
}

}  // namespace

std::string format_iso(Timestamp t) {
  // By hand rather than date::format (a stream per call): the grid of the
  // web UI formats thousands of these per request.
  auto day = std::chrono::floor<date::days>(t);
  date::year_month_day ymd{day};
  int64_t ms = (t - day).count();
  char buf[40];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d", static_cast<int>(ymd.year()),
                        static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                        static_cast<int>(ms / 3600000), static_cast<int>(ms / 60000 % 60),
                        static_cast<int>(ms / 1000 % 60));
  if (ms % 1000 != 0) {
    n += std::snprintf(buf + n, sizeof buf - n, ".%03d", static_cast<int>(ms % 1000));
  }
  return std::string(buf, n) + 'Z';
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
  return to_utc(zone, LocalTime{local_ms.time_since_epoch()});
}

std::string format_local(Timestamp t, const date::time_zone* zone, const std::string& fmt) {
  auto secs = std::chrono::floor<seconds>(t);
  if (zone == nullptr) return date::format(fmt, secs);
  const ZoneTail* tail = zone_tail(zone);
  if (tail == nullptr || secs < tail->last_transition) {
    return date::format(fmt, date::zoned_time<seconds>{zone, secs});
  }
  PosixTz::Info info = tail->rule.info_at(secs);
  std::ostringstream out;
  date::to_stream(out, fmt.c_str(), date::local_seconds{(secs + info.offset).time_since_epoch()},
                  &info.abbrev, &info.offset);
  return out.str();
}

const date::time_zone* find_zone(std::string_view name) {
  if (name.empty()) return nullptr;
  try {
    return date::locate_zone(std::string(name));
  } catch (const std::exception&) {
    return nullptr;
  }
}

seconds utc_offset(const date::time_zone* zone, Timestamp t) {
  if (zone == nullptr) return seconds{0};
  auto secs = std::chrono::floor<seconds>(t);
  const ZoneTail* tail = zone_tail(zone);
  if (tail == nullptr || secs < tail->last_transition) return zone->get_info(secs).offset;
  return tail->rule.info_at(secs).offset;
}

LocalTime to_local(const date::time_zone* zone, Timestamp t) {
  return LocalTime{(t + utc_offset(zone, t)).time_since_epoch()};
}

Timestamp to_utc(const date::time_zone* zone, LocalTime local) {
  Timestamp naive{local.time_since_epoch()};
  if (zone == nullptr) return naive;
  const ZoneTail* tail = zone_tail(zone);
  // Offsets are less than a day, so a local time up to a day after the last
  // listed transition names an instant date still answers for: the rule's
  // next switch is months later.
  if (tail == nullptr || naive < tail->last_transition + date::days{1}) {
    // choose::earliest gives the first occurrence of a repeated time and the
    // end of the gap for a skipped one.
    return std::chrono::time_point_cast<Millis>(zone->to_sys(local, date::choose::earliest));
  }
  const PosixTz& rule = tail->rule;
  auto offset_at = [&rule](Timestamp t) {
    return rule.info_at(std::chrono::floor<seconds>(t)).offset;
  };
  // Switches are months apart: the offsets a day either side are the only
  // candidates. Both fit when the time repeats; the first occurrence is then
  // the earlier instant.
  seconds before = offset_at(naive - date::days{1});
  seconds after = offset_at(naive + date::days{1});
  std::optional<Timestamp> first;
  for (seconds offset : {before, after}) {
    Timestamp candidate = naive - offset;
    if (offset_at(candidate) == offset && (!first || candidate < *first)) first = candidate;
  }
  if (first) return *first;
  // In a gap: the switch lies in (naive - after, naive - before]; find the
  // first second on the new offset.
  auto lo = std::chrono::floor<seconds>(naive - after);
  auto hi = std::chrono::ceil<seconds>(naive - before);
  while (hi - lo > seconds{1}) {
    auto mid = lo + (hi - lo) / 2;
    if (rule.info_at(mid).offset == after) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  return Timestamp{hi};
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
