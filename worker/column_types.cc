#include "worker/column_types.h"

#include "core/text.h"
#include "core/typed_value.h"

namespace sluice {

const char* column_kind_name(ColumnKind kind) {
  switch (kind) {
    case ColumnKind::kInteger:
      return "integer";
    case ColumnKind::kNumeric:
      return "numeric";
    case ColumnKind::kBoolean:
      return "boolean";
    case ColumnKind::kDate:
      return "date";
    case ColumnKind::kTimestamp:
      return "timestamp";
    case ColumnKind::kText:
      return "text";
    case ColumnKind::kOther:
      break;
  }
  return "other";
}

ColumnKind column_kind_of(std::string_view sql_type) {
  std::string t = to_lower(trim(sql_type));
  auto has = [&](const char* word) { return t.find(word) != std::string::npos; };
  if (t.empty()) return ColumnKind::kText;  // created as TEXT
  if (has("[]") || has("interval") || has("point")) return ColumnKind::kOther;
  if (has("timestamp") || has("datetime")) return ColumnKind::kTimestamp;
  if (t == "date") return ColumnKind::kDate;
  if (has("int") || has("serial")) return ColumnKind::kInteger;
  if (starts_with(t, "numeric") || starts_with(t, "decimal") || starts_with(t, "real") ||
      starts_with(t, "double") || starts_with(t, "float") || starts_with(t, "number")) {
    return ColumnKind::kNumeric;
  }
  if (t == "boolean" || t == "bool") return ColumnKind::kBoolean;
  if (has("char") || has("text") || has("clob") || t == "string") return ColumnKind::kText;
  return ColumnKind::kOther;
}

bool column_kind_fits(ColumnKind value, ColumnKind column) {
  if (value == column || column == ColumnKind::kText || column == ColumnKind::kOther ||
      value == ColumnKind::kOther) {
    return true;
  }
  return (value == ColumnKind::kInteger && column == ColumnKind::kNumeric) ||
         (value == ColumnKind::kDate && column == ColumnKind::kTimestamp);
}

void ColumnTypeGuess::add(std::string_view raw) {
  std::string_view v = trim(raw);
  if (v.empty()) return;  // NULL
  seen_ = true;
  if (!candidates_) return;  // text already
  if (candidates_ & kInt) {
    if (!parse_integer_value(v, nullptr, &big_)) candidates_ &= ~kInt;
  }
  if ((candidates_ & kNum) && !is_decimal_value(v)) candidates_ &= ~kNum;
  if ((candidates_ & kBool) && !parse_boolean_value(v)) candidates_ &= ~kBool;
  if (candidates_ & (kDate | kTs)) {
    std::optional<ParsedTimestamp> t = parse_timestamp_value(v);
    if (!t) {
      candidates_ &= ~(kDate | kTs);
    } else {
      if (t->has_time) candidates_ &= ~kDate;
      (t->has_offset ? with_offset_ : without_offset_) = true;
      // Values with and without a UTC offset do not name instants alike.
      if (with_offset_ && without_offset_) candidates_ &= ~(kDate | kTs);
    }
  }
}

ColumnKind ColumnTypeGuess::kind() const {
  if (!seen_) return ColumnKind::kText;
  if (candidates_ & kInt) return ColumnKind::kInteger;
  if (candidates_ & kNum) return ColumnKind::kNumeric;
  if (candidates_ & kBool) return ColumnKind::kBoolean;
  if (candidates_ & kDate) return ColumnKind::kDate;
  if (candidates_ & kTs) return ColumnKind::kTimestamp;
  return ColumnKind::kText;
}

std::string ColumnTypeGuess::sql_type(bool sqlite) const {
  switch (kind()) {
    case ColumnKind::kInteger:
      return sqlite || !big_ ? "INTEGER" : "BIGINT";
    case ColumnKind::kNumeric:
      return "NUMERIC";
    case ColumnKind::kBoolean:
      return "BOOLEAN";
    case ColumnKind::kDate:
      return "DATE";
    case ColumnKind::kTimestamp:
      return !sqlite && with_offset_ ? "TIMESTAMPTZ" : "TIMESTAMP";
    case ColumnKind::kText:
    case ColumnKind::kOther:
      break;
  }
  return "TEXT";
}

}  // namespace sluice
