#include "core/typed_value.h"

#include <cctype>
#include <cstdio>
#include <cstdlib>

#include "core/text.h"

namespace sluice {
namespace {

bool digit(char c) { return c >= '0' && c <= '9'; }

/// Reads exactly `n` digits at `i`.
bool read_digits(std::string_view s, size_t& i, int n, int& out) {
  if (i + n > s.size()) return false;
  int v = 0;
  for (int k = 0; k < n; ++k) {
    char c = s[i + k];
    if (!digit(c)) return false;
    v = v * 10 + (c - '0');
  }
  i += n;
  out = v;
  return true;
}

bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int y, int m) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : days[m - 1];
}

// Days since 1970-01-01 of a civil date, and back (H. Hinnant's algorithms).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void civil_from_days(int64_t z, int& y, int& m, int& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  y = static_cast<int>(static_cast<int64_t>(yoe) + era * 400 + (m <= 2));
}

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

}  // namespace

bool parse_integer_value(std::string_view s, int64_t* out, bool* big) {
  size_t i = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
  if (i == s.size()) return false;
  if (s[i] == '0' && s.size() > i + 1) return false;  // leading zero: a code
  for (size_t k = i; k < s.size(); ++k) {
    if (!digit(s[k])) return false;
  }
  // Without strtoll: no copy of the text, which inference does per value.
  const bool negative = s[0] == '-';
  const uint64_t limit = negative ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1;
  uint64_t n = 0;
  for (size_t k = i; k < s.size(); ++k) {
    uint64_t d = static_cast<uint64_t>(s[k] - '0');
    if (n > (limit - d) / 10) return false;
    n = n * 10 + d;
  }
  int64_t value = negative ? static_cast<int64_t>(~n + 1) : static_cast<int64_t>(n);
  if (out) *out = value;
  if (big && (value < INT32_MIN || value > INT32_MAX)) *big = true;
  return true;
}

bool is_decimal_value(std::string_view s) {
  size_t i = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
  size_t int_start = i;
  while (i < s.size() && digit(s[i])) ++i;
  size_t int_digits = i - int_start;
  if (int_digits > 1 && s[int_start] == '0') return false;
  size_t frac_digits = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    size_t start = i;
    while (i < s.size() && digit(s[i])) ++i;
    frac_digits = i - start;
  }
  if (int_digits + frac_digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    size_t start = i;
    while (i < s.size() && digit(s[i])) ++i;
    if (i == start) return false;
  }
  return i == s.size();
}

std::optional<bool> parse_boolean_value(std::string_view s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  std::string b = to_lower(s);
  if (b == "true" || b == "t" || b == "yes") return true;
  if (b == "false" || b == "f" || b == "no") return false;
  return std::nullopt;
}

std::optional<ParsedTimestamp> parse_timestamp_value(std::string_view s) {
  ParsedTimestamp t;
  size_t i = 0;
  if (s.size() < 10) return std::nullopt;
  if (!read_digits(s, i, 4, t.year) || s[i++] != '-' || !read_digits(s, i, 2, t.month) ||
      s[i++] != '-' || !read_digits(s, i, 2, t.day)) {
    return std::nullopt;
  }
  if (t.month < 1 || t.month > 12 || t.day < 1 || t.day > days_in_month(t.year, t.month)) {
    return std::nullopt;
  }
  if (i == s.size()) return t;
  if (s[i] != 'T' && s[i] != ' ') return std::nullopt;
  t.separator = s[i++];
  t.has_time = true;
  if (!read_digits(s, i, 2, t.hour) || i >= s.size() || s[i++] != ':' ||
      !read_digits(s, i, 2, t.minute)) {
    return std::nullopt;
  }
  if (i < s.size() && s[i] == ':') {
    ++i;
    if (!read_digits(s, i, 2, t.second)) return std::nullopt;
    t.has_seconds = true;
    if (i < s.size() && s[i] == '.') {
      ++i;
      size_t start = i;
      int micros = 0;
      while (i < s.size() && digit(s[i])) {
        if (i - start < 6) micros = micros * 10 + (s[i] - '0');
        ++i;
      }
      t.fraction_digits = static_cast<int>(i - start);
      if (t.fraction_digits == 0) return std::nullopt;
      for (int k = t.fraction_digits; k < 6; ++k) micros *= 10;
      t.micros = micros;
    }
  }
  if (t.hour > 23 || t.minute > 59 || t.second > 59) return std::nullopt;
  if (i == s.size()) return t;
  size_t offset_start = i;
  if (s[i] == 'Z' || s[i] == 'z') {
    ++i;
  } else if (s[i] == '+' || s[i] == '-') {
    int sign = s[i++] == '-' ? -1 : 1;
    int hours = 0, minutes = 0;
    if (!read_digits(s, i, 2, hours)) return std::nullopt;
    if (i < s.size() && s[i] == ':') ++i;
    if (i < s.size() && !read_digits(s, i, 2, minutes)) return std::nullopt;
    if (hours > 15 || minutes > 59) return std::nullopt;
    t.offset_minutes = sign * (hours * 60 + minutes);
  } else {
    return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  t.has_offset = true;
  t.offset_text = std::string(s.substr(offset_start));
  return t;
}

int64_t ParsedTimestamp::local_micros() const {
  int64_t days = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second;
  return secs * 1'000'000 + micros;
}

std::string ParsedTimestamp::with_local_micros(int64_t value) const {
  int64_t days = floor_div(value, 86'400'000'000);
  int64_t rest = value - days * 86'400'000'000;
  int y = 0, m = 0, d = 0;
  civil_from_days(days, y, m, d);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, d);
  std::string out = buf;
  if (!has_time) return out;  // a date: the day the wall time falls on
  int64_t secs = rest / 1'000'000;
  int us = static_cast<int>(rest % 1'000'000);
  std::snprintf(buf, sizeof buf, "%c%02d:%02d", separator, static_cast<int>(secs / 3600),
                static_cast<int>(secs / 60 % 60));
  out += buf;
  int s = static_cast<int>(secs % 60);
  if (has_seconds || s != 0 || us != 0) {
    std::snprintf(buf, sizeof buf, ":%02d", s);
    out += buf;
  }
  int digits = fraction_digits > 6 ? 6 : fraction_digits;
  if (us != 0 && digits == 0) digits = 6;
  if (digits > 0) {
    std::snprintf(buf, sizeof buf, ".%06d", us);
    out += std::string(buf).substr(0, 1 + digits);
  }
  return out + offset_text;
}

}  // namespace sluice
