#pragma once
// Reading typed values out of text as sources write them: integers, decimal
// numbers, booleans, dates and timestamps. Shared by the extract loader's
// type inference (worker/column_types) and watermarks (core/watermark).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice {

/// An integer as written: an optional sign and digits, without leading zeros
/// ("007" is a code, not a number). `big` is set when it is outside the
/// 32-bit range. False for anything else, and outside the 64-bit range.
bool parse_integer_value(std::string_view text, int64_t* out = nullptr, bool* big = nullptr);

/// A decimal number: sign, digits, a point, digits, an exponent ("-1.5e3",
/// ".5"); no leading zeros ("0.5" but not "00.5"), no NaN or infinity.
bool is_decimal_value(std::string_view text);

/// true/false, t/f, yes/no in any case.
std::optional<bool> parse_boolean_value(std::string_view text);

/// A date or a timestamp as ISO 8601 writes it: "2026-02-03",
/// "2026-02-03 04:05", "2026-02-03T04:05:06.123456+01:00", "...Z", "...+0100",
/// "...+01" (as Postgres prints timestamptz). Fields are range-checked.
struct ParsedTimestamp {
  int year = 0, month = 0, day = 0;
  bool has_time = false;
  char separator = ' ';  // between date and time: ' ' or 'T'
  int hour = 0, minute = 0, second = 0;
  bool has_seconds = false;
  int micros = 0;
  int fraction_digits = 0;  // as written (up to 6 are kept)
  bool has_offset = false;
  int offset_minutes = 0;   // east of UTC
  std::string offset_text;  // as written: "Z", "+01:00", "+00"

  /// Microseconds since 1970-01-01 of the wall time (offset not applied).
  int64_t local_micros() const;
  /// Microseconds since 1970-01-01 UTC (a value without offset counts as UTC).
  int64_t utc_micros() const { return local_micros() - int64_t{offset_minutes} * 60'000'000; }
  /// This value moved to the wall time `local_micros`, written in the same shape.
  std::string with_local_micros(int64_t local_micros) const;
};
std::optional<ParsedTimestamp> parse_timestamp_value(std::string_view text);

}  // namespace sluice
