#pragma once
// The types of a load's columns: what a column's values fit (integer,
// numeric, boolean, date, timestamp or text), guessed over every value of a
// file, and how such a type compares with a table's existing column.

#include <string>
#include <string_view>

namespace sluice {

/// A column's type as extract reasons about it. kOther is a type outside the
/// six (json, uuid, ...): taken on trust.
enum class ColumnKind { kInteger, kNumeric, kBoolean, kDate, kTimestamp, kText, kOther };

/// "integer", "numeric", "boolean", "date", "timestamp", "text", "other".
const char* column_kind_name(ColumnKind kind);

/// The kind of a SQL type as a database or a DAG spells it: "bigint",
/// "NUMERIC(12,2)", "timestamp with time zone", "character varying(20)".
ColumnKind column_kind_of(std::string_view sql_type);

/// True when every value of kind `value` goes into a column of kind `column`
/// as it is: text takes everything, numeric integers, timestamp dates.
bool column_kind_fits(ColumnKind value, ColumnKind column);

/// Narrows one column's type as its values are seen: the narrowest kind
/// every value so far fits, widening integer -> numeric -> text,
/// date -> timestamp -> text, boolean -> text.
class ColumnTypeGuess {
 public:
  /// One value; an empty value is NULL and fits every kind.
  void add(std::string_view value);
  /// The kind every value fits; text when no value was seen.
  ColumnKind kind() const;
  /// The SQL type to create the column with ("INTEGER", "BIGINT",
  /// "TIMESTAMPTZ", ...).
  std::string sql_type(bool sqlite) const;

 private:
  static constexpr unsigned kInt = 1, kNum = 2, kBool = 4, kDate = 8, kTs = 16;
  unsigned candidates_ = kInt | kNum | kBool | kDate | kTs;
  bool seen_ = false;
  bool big_ = false;          // an integer outside the 32-bit range
  bool with_offset_ = false;  // a timestamp with a UTC offset
  bool without_offset_ = false;
};

}  // namespace sluice
