#pragma once
// High-water marks of incremental extracts: the greatest value of a column
// a task has loaded, how marks compare (as numbers, timestamps or text,
// whatever the column holds), and the mark less a lookback.

#include <optional>
#include <string>
#include <string_view>

#include "core/time.h"

namespace sluice {

/// One task's mark, as the store keeps it.
struct Watermark {
  std::string dag_id;
  std::string task_id;
  std::string column;
  std::string kind;      // number | timestamp | text
  std::string value;     // as the source wrote it, so that it binds back as is
  std::string sort_key;  // orders the marks of one kind as their values
  std::string run_id;    // the run whose try reached it; "" when set by hand
  Timestamp updated_at{};
  bool operator==(const Watermark&) const = default;
};

/// "number" when `value` reads as a number, "timestamp" as a date or a
/// timestamp, else "text".
std::string watermark_kind_of(std::string_view value);

/// A key whose byte order is the order of the values of `kind` ("-2" <
/// "10"; "2026-01-01T01:00+01:00" equals "2026-01-01 00:00Z"); nullopt when
/// `value` is not of that kind.
std::optional<std::string> watermark_sort_key(std::string_view kind, std::string_view value);

/// A mark of `value`, its kind read from the value (tasks watermark --set).
Watermark make_watermark(std::string column, std::string value);

/// The value to read above: the mark less `lookback` (a duration for a
/// timestamp, a number for a number), written in the mark's own shape.
/// Throws UserError when the lookback does not suit the mark's kind.
std::string watermark_less_lookback(const Watermark& mark, std::string_view lookback);

/// Finds the greatest of a column's values as rows go by, compared as
/// numbers when all are numbers, as timestamps when all are timestamps,
/// else as text. NULLs (nullopt, "") are not values.
class WatermarkTracker {
 public:
  void add(std::string_view value);
  /// The greatest value seen (dag, task and run left empty); nullopt when none was.
  std::optional<Watermark> result(const std::string& column) const;

 private:
  struct Max {
    std::string key;
    std::string value;
    bool set = false;
  };
  static void offer(Max& max, std::string_view key, std::string_view value);
  bool numbers_ = true;
  bool timestamps_ = true;
  Max number_, timestamp_, text_;
};

}  // namespace sluice
