#include "core/cron.h"

#include <array>
#include <cctype>
#include <vector>

namespace sluice {

namespace {

/// How one of the five fields is read: its name, range and optional names.
struct FieldSpec {
  const char* name;
  int lo;
  int hi;                    // highest value `*` and open steps expand to
  int hi_input;              // highest value accepted when written (7 for Sunday)
  const char* const* names;  // names[i] is value names_base + i
  int names_count;
  int names_base;
  const char* names_hint;  // "JAN-DEC"
};

constexpr const char* kMonthNames[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                       "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr const char* kWeekdayNames[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

constexpr FieldSpec kFields[5] = {
    {"minute", 0, 59, 59, nullptr, 0, 0, nullptr},
    {"hour", 0, 23, 23, nullptr, 0, 0, nullptr},
    {"day-of-month", 1, 31, 31, nullptr, 0, 0, nullptr},
    {"month", 1, 12, 12, kMonthNames, 12, 1, "JAN-DEC"},
    {"day-of-week", 0, 6, 7, kWeekdayNames, 7, 0, "SUN-SAT"},
};

std::string allowed(const FieldSpec& spec) {
  std::string out = std::to_string(spec.lo) + "-" + std::to_string(spec.hi_input);
  if (spec.names_hint != nullptr) out += " or " + std::string(spec.names_hint);
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// Quartz-style extensions ("L", "?", "15W", "5#2", "5L") that we reject by name
// so the user learns they are unsupported rather than mistyped.
bool is_quartz_syntax(const std::string& name) {
  if (name == "?" || name == "L" || name == "LW") return true;
  if (name.find('#') != std::string::npos) return true;
  if (name.size() >= 2 && (name.back() == 'L' || name.back() == 'W')) {
    for (size_t i = 0; i + 1 < name.size(); ++i) {
      if (!std::isdigit(static_cast<unsigned char>(name[i]))) return false;
    }
    return true;
  }
  return false;
}

// Reads a number or (where the field has them) a name. Returns false with
// `*error` set when `token` is neither.
bool parse_value(const FieldSpec& spec, std::string_view item, std::string_view token, int* out,
                 std::string* error) {
  std::string prefix = std::string(spec.name) + " field '" + std::string(item) + "'";
  if (token.empty()) {
    *error = prefix + " is missing a value (allowed " + allowed(spec) + ")";
    return false;
  }
  bool all_digits = true;
  for (char c : token) all_digits = all_digits && std::isdigit(static_cast<unsigned char>(c));
  if (all_digits) {
    if (token.size() > 4) {
      *error = prefix + " is out of range " + std::to_string(spec.lo) + "-" +
               std::to_string(spec.hi_input);
      return false;
    }
    int value = 0;
    for (char c : token) value = value * 10 + (c - '0');
    if (value < spec.lo || value > spec.hi_input) {
      *error = prefix + " is out of range " + std::to_string(spec.lo) + "-" +
               std::to_string(spec.hi_input);
      return false;
    }
    *out = value;
    return true;
  }
  std::string name = upper(token);
  for (int i = 0; i < spec.names_count; ++i) {
    if (name == spec.names[i]) {
      *out = spec.names_base + i;
      return true;
    }
  }
  if (is_quartz_syntax(name)) {
    *error = prefix + " uses '" + std::string(token) + "', which is not supported (allowed " +
             allowed(spec) + ", with lists, ranges and steps)";
    return false;
  }
  *error = prefix + " has '" + std::string(token) + "', which is not " +
           (spec.names_hint != nullptr ? "a number or name" : "a number") + " (allowed " +
           allowed(spec) + ")";
  return false;
}

// Parses one comma-separated field into `bits` (indexed by value).
bool parse_field(const FieldSpec& spec, std::string_view field, std::vector<bool>* bits,
                 std::string* error) {
  size_t start = 0;
  while (true) {
    size_t comma = field.find(',', start);
    std::string_view item = field.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (item.empty()) {
      *error =
          std::string(spec.name) + " field '" + std::string(field) + "' has an empty list item";
      return false;
    }
    std::string_view range = item;
    int step = 1;
    bool has_step = false;
    size_t slash = item.find('/');
    if (slash != std::string_view::npos) {
      range = item.substr(0, slash);
      std::string_view step_text = item.substr(slash + 1);
      bool digits = !step_text.empty() && step_text.size() <= 4;
      for (char c : step_text) digits = digits && std::isdigit(static_cast<unsigned char>(c));
      if (!digits) {
        *error = std::string(spec.name) + " field '" + std::string(item) +
                 "' has a step that is not a positive number";
        return false;
      }
      step = 0;
      for (char c : step_text) step = step * 10 + (c - '0');
      if (step == 0) {
        *error = std::string(spec.name) + " field '" + std::string(item) +
                 "' has step 0; the step must be at least 1";
        return false;
      }
      has_step = true;
    }
    int lo = 0;
    int hi = 0;
    if (range == "*") {
      lo = spec.lo;
      hi = spec.hi;
    } else {
      size_t dash = range.find('-');
      if (dash == std::string_view::npos) {
        if (!parse_value(spec, item, range, &lo, error)) return false;
        // "5/10" means every 10 starting at 5, up to the end of the range.
        hi = has_step ? spec.hi : lo;
      } else {
        if (!parse_value(spec, item, range.substr(0, dash), &lo, error) ||
            !parse_value(spec, item, range.substr(dash + 1), &hi, error)) {
          return false;
        }
        if (lo > hi) {
          *error = std::string(spec.name) + " field '" + std::string(item) +
                   "' has a range whose start is after its end (allowed " + allowed(spec) + ")";
          return false;
        }
      }
    }
    for (int v = lo; v <= hi; v += step) (*bits)[v] = true;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return true;
}

constexpr int kMaxDaysInMonth[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

}  // namespace

std::optional<CronExpr> CronExpr::parse(std::string_view text, std::string* error) {
  std::string scratch;
  if (error == nullptr) error = &scratch;
  std::vector<std::string_view> fields;
  size_t pos = 0;
  while (pos < text.size()) {
    while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
    if (pos == text.size()) break;
    size_t end = pos;
    while (end < text.size() && !std::isspace(static_cast<unsigned char>(text[end]))) ++end;
    fields.push_back(text.substr(pos, end - pos));
    pos = end;
  }
  if (fields.size() != 5) {
    *error = "cron expression '" + std::string(text) + "' has " + std::to_string(fields.size()) +
             " fields; expected 5 (minute hour day-of-month month day-of-week)";
    return std::nullopt;
  }

  CronExpr expr;
  expr.text_ = std::string(text);
  std::array<std::vector<bool>, 5> bits;
  for (int i = 0; i < 5; ++i) {
    bits[i].assign(kFields[i].hi_input + 1, false);
    if (!parse_field(kFields[i], fields[i], &bits[i], error)) return std::nullopt;
  }
  for (int v = 0; v < 60; ++v) expr.minutes_[v] = bits[0][v];
  for (int v = 0; v < 24; ++v) expr.hours_[v] = bits[1][v];
  for (int v = 1; v <= 31; ++v) expr.days_[v] = bits[2][v];
  for (int v = 1; v <= 12; ++v) expr.months_[v] = bits[3][v];
  for (int v = 0; v <= 7; ++v) {
    if (bits[4][v]) expr.weekdays_[v % 7] = true;
  }
  // Vixie cron: a field starting with '*' is unrestricted, even with a step.
  expr.days_restricted_ = fields[2].front() != '*';
  expr.weekdays_restricted_ = fields[4].front() != '*';

  // Catch expressions such as "0 0 30 2 *" that would never fire. When both
  // day fields are restricted they OR, and every weekday occurs every month.
  if (!(expr.days_restricted_ && expr.weekdays_restricted_)) {
    bool possible = false;
    for (int m = 1; m <= 12 && !possible; ++m) {
      if (!expr.months_[m]) continue;
      for (int d = 1; d <= kMaxDaysInMonth[m] && !possible; ++d) possible = expr.days_[d];
    }
    if (!possible) {
      *error = "day-of-month field '" + std::string(fields[2]) +
               "' never matches in month field '" + std::string(fields[3]) +
               "'; the cron expression would never run";
      return std::nullopt;
    }
  }
  return expr;
}

bool CronExpr::matches_day(int month, int day, int weekday) const {
  if (!months_[month]) return false;
  bool day_ok = days_[day];
  bool weekday_ok = weekdays_[weekday];
  if (days_restricted_ && weekdays_restricted_) return day_ok || weekday_ok;
  return day_ok && weekday_ok;
}

}  // namespace sluice
