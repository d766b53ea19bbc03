#pragma once
// A streaming RFC 4180 CSV reader: quoted fields, doubled quotes, newlines
// inside quotes, a configurable delimiter. Memory use is bounded by the
// longest record, not by the file.

#include <cstdint>
#include <istream>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

/// One record of a CSV file, reused between calls to CsvReader::next.
struct CsvRecord {
  std::vector<std::string> fields;
  /// quoted[i] is true when field i was written in quotes: an unquoted empty
  /// field means NULL, a quoted one ("") the empty string (as in Postgres COPY).
  std::vector<bool> quoted;
  int64_t line = 0;   // physical line (1-based) where the record starts
  std::string raw;    // the record's text as read, without the line ending
  std::string error;  // non-empty when the record is malformed

  bool is_null(size_t i) const { return fields[i].empty() && !quoted[i]; }
};

/// Reads records from a stream. A malformed record (text after a closing
/// quote, a quote inside an unquoted field, a quote left open at the end of
/// the input) is returned with `error` set, and reading continues after it.
class CsvReader {
 public:
  CsvReader(std::istream& in, char delimiter = ',');
  CsvReader(const CsvReader&) = delete;
  CsvReader& operator=(const CsvReader&) = delete;

  /// Fills `record` with the next record; false at the end of the input.
  /// Blank lines are skipped. Lines may end in LF or CRLF.
  bool next(CsvRecord& record);

 private:
  bool fill();  // reads more input into buf_; false at the end
  std::istream& in_;
  char delimiter_;
  std::string buf_;
  size_t pos_ = 0;
  bool eof_ = false;
  int64_t line_ = 1;  // line number at pos_
};

}  // namespace sluice
