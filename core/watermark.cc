#include "core/watermark.h"

#include <cstdio>
#include <cstdlib>

#include "core/error.h"
#include "core/text.h"
#include "core/typed_value.h"

namespace sluice {
namespace {

constexpr int kExponentBias = 50000;

/// A decimal as sign, digits without leading or trailing zeros, and the
/// position of the point: value = 0.DIGITS x 10^point.
std::optional<std::string> number_key(std::string_view s) {
  if (!is_decimal_value(s)) return std::nullopt;
  bool negative = !s.empty() && s[0] == '-';
  size_t i = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
  std::string digits;
  int64_t point = 0;
  bool after_point = false;
  for (; i < s.size() && s[i] != 'e' && s[i] != 'E'; ++i) {
    if (s[i] == '.') {
      after_point = true;
      continue;
    }
    digits += s[i];
    if (!after_point) ++point;
  }
  if (i < s.size()) {
    std::string exp(s.substr(i + 1));
    if (exp.size() > 6) return std::nullopt;
    point += std::strtol(exp.c_str(), nullptr, 10);
  }
  size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) return std::string("1");  // zero
  point -= static_cast<int64_t>(first);
  digits.erase(0, first);
  digits.erase(digits.find_last_not_of('0') + 1);
  if (point <= -kExponentBias + 1 || point >= kExponentBias - 1) return std::nullopt;
  char exp[16];
  if (!negative) {
    std::snprintf(exp, sizeof exp, "%05d", static_cast<int>(point + kExponentBias));
    return "2" + std::string(exp) + digits;
  }
  // Negative: a greater magnitude sorts first, and a digit string that is a
  // prefix of another sorts after it ('~' follows every digit).
  std::snprintf(exp, sizeof exp, "%05d", static_cast<int>(kExponentBias - point));
  for (char& c : digits) c = static_cast<char>('9' - (c - '0'));
  return "0" + std::string(exp) + digits + "~";
}

std::optional<std::string> timestamp_key(std::string_view s) {
  std::optional<ParsedTimestamp> t = parse_timestamp_value(s);
  if (!t) return std::nullopt;
  char buf[32];
  // Years 0..9999 stay well inside +-4e17 microseconds.
  std::snprintf(buf, sizeof buf, "%019lld",
                static_cast<long long>(t->utc_micros() + 1'000'000'000'000'000'000LL));
  return std::string(buf);
}

}  // namespace

std::string watermark_kind_of(std::string_view value) {
  if (number_key(value)) return "number";
  if (parse_timestamp_value(value)) return "timestamp";
  return "text";
}

std::optional<std::string> watermark_sort_key(std::string_view kind, std::string_view value) {
  if (kind == "number") return number_key(value);
  if (kind == "timestamp") return timestamp_key(value);
  if (kind == "text") return std::string(value);
  return std::nullopt;
}

Watermark make_watermark(std::string column, std::string value) {
  Watermark mark;
  mark.column = std::move(column);
  mark.kind = watermark_kind_of(value);
  mark.sort_key = *watermark_sort_key(mark.kind, value);
  mark.value = std::move(value);
  return mark;
}

std::string watermark_less_lookback(const Watermark& mark, std::string_view lookback) {
  lookback = trim(lookback);
  if (lookback.empty()) return mark.value;
  if (mark.kind == "number") {
    if (!is_decimal_value(lookback)) {
      throw UserError("incremental lookback '" + std::string(lookback) + "' is not a number, but " +
                      mark.column + " holds numbers (mark " + mark.value +
                      "): give the lookback as a number, e.g. lookback: 100");
    }
    int64_t a = 0, b = 0;
    if (parse_integer_value(trim(mark.value), &a) && parse_integer_value(lookback, &b) &&
        !__builtin_sub_overflow(a, b, &a)) {
      return std::to_string(a);
    }
    std::string v(trim(mark.value)), l(lookback);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g",
                  std::strtod(v.c_str(), nullptr) - std::strtod(l.c_str(), nullptr));
    return buf;
  }
  if (mark.kind == "timestamp") {
    std::optional<Millis> d = parse_duration(lookback);
    if (!d) {
      throw UserError("incremental lookback '" + std::string(lookback) +
                      "' is not a duration, but " + mark.column + " holds timestamps (mark " +
                      mark.value + "): give the lookback as a duration, e.g. lookback: 1h");
    }
    std::optional<ParsedTimestamp> t = parse_timestamp_value(mark.value);
    if (!t) throw UserError("the mark of " + mark.column + " is not a timestamp: " + mark.value);
    return t->with_local_micros(t->local_micros() - d->count() * 1000);
  }
  throw UserError("incremental lookback needs a column of numbers or timestamps; the mark of " +
                  mark.column + " is text ('" + mark.value + "'): remove lookback");
}

void WatermarkTracker::offer(Max& max, std::string_view key, std::string_view value) {
  if (!max.set || max.key < key) {
    max.key = std::string(key);
    max.value = std::string(value);
    max.set = true;
  }
}

void WatermarkTracker::add(std::string_view value) {
  if (value.empty()) return;
  if (numbers_) {
    if (std::optional<std::string> key = number_key(value)) {
      offer(number_, *key, value);
    } else {
      numbers_ = false;
    }
  }
  if (timestamps_) {
    if (std::optional<std::string> key = timestamp_key(value)) {
      offer(timestamp_, *key, value);
    } else {
      timestamps_ = false;
    }
  }
  offer(text_, value, value);
}

std::optional<Watermark> WatermarkTracker::result(const std::string& column) const {
  const Max* max = numbers_ ? &number_ : timestamps_ ? &timestamp_ : &text_;
  if (!max->set) return std::nullopt;
  Watermark mark;
  mark.column = column;
  mark.kind = numbers_ ? "number" : timestamps_ ? "timestamp" : "text";
  mark.value = max->value;
  mark.sort_key = max->key;
  return mark;
}

}  // namespace sluice
