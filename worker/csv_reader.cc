#include "worker/csv_reader.h"

namespace sluice {
namespace {

constexpr size_t kBlockSize = 1 << 20;
constexpr int kEnd = -1;

}  // namespace

CsvReader::CsvReader(std::istream& in, char delimiter) : in_(in), delimiter_(delimiter) {}

bool CsvReader::fill() {
  if (eof_) return false;
  buf_.resize(kBlockSize);
  in_.read(buf_.data(), static_cast<std::streamsize>(buf_.size()));
  buf_.resize(static_cast<size_t>(in_.gcount()));
  pos_ = 0;
  if (buf_.empty()) {
    eof_ = true;
    return false;
  }
  return true;
}

bool CsvReader::next(CsvRecord& record) {
  // Skip blank lines between records.
  for (;;) {
    if (pos_ == buf_.size() && !fill()) return false;
    char c = buf_[pos_];
    if (c == '\n') {
      ++line_;
      ++pos_;
    } else if (c == '\r') {
      ++pos_;
    } else {
      break;
    }
  }

  record.line = line_;
  record.raw.clear();
  record.error.clear();
  size_t count = 0;
  size_t seg = pos_;  // start of the raw text not yet copied into record.raw

  auto peek = [&]() -> int {
    if (pos_ == buf_.size()) {
      record.raw.append(buf_, seg, pos_ - seg);
      bool more = fill();
      seg = pos_;
      if (!more) return kEnd;
    }
    return static_cast<unsigned char>(buf_[pos_]);
  };
  auto new_field = [&]() -> std::string& {
    if (record.fields.size() <= count) {
      record.fields.emplace_back();
      record.quoted.push_back(false);
    }
    record.fields[count].clear();
    record.quoted[count] = false;
    return record.fields[count++];
  };
  // After an error: the rest of the physical line belongs to the bad record.
  auto skip_line = [&]() {
    for (;;) {
      int c = peek();
      if (c == kEnd || c == '\n' || c == '\r') return;
      ++pos_;
    }
  };

  for (;;) {
    std::string& field = new_field();
    int c = peek();
    if (c == '"') {
      record.quoted[count - 1] = true;
      int64_t open_line = line_;
      ++pos_;
      for (;;) {
        c = peek();
        if (c == kEnd) {
          record.error = "quote opened on line " + std::to_string(open_line) + " is never closed";
          break;
        }
        if (c == '"') {
          ++pos_;
          c = peek();
          if (c == '"') {
            field.push_back('"');
            ++pos_;
            continue;
          }
          break;  // closing quote
        }
        size_t start = pos_;
        while (pos_ < buf_.size() && buf_[pos_] != '"') {
          if (buf_[pos_] == '\n') ++line_;
          ++pos_;
        }
        field.append(buf_, start, pos_ - start);
      }
      if (!record.error.empty()) break;
      if (c == delimiter_) {
        ++pos_;
        continue;
      }
      if (c == kEnd || c == '\n' || c == '\r') break;
      record.error = "unexpected character after the closing quote of field " +
                     std::to_string(count);
      skip_line();
      break;
    }
    // Unquoted field: up to the delimiter or the end of the line.
    for (;;) {
      size_t start = pos_;
      while (pos_ < buf_.size()) {
        char ch = buf_[pos_];
        if (ch == delimiter_ || ch == '\n' || ch == '\r' || ch == '"') break;
        ++pos_;
      }
      field.append(buf_, start, pos_ - start);
      if (pos_ < buf_.size()) break;
      if (peek() == kEnd) break;
    }
    c = peek();
    if (c == '"') {
      record.error = "quote inside unquoted field " + std::to_string(count);
      skip_line();
      break;
    }
    if (c == delimiter_) {
      ++pos_;
      continue;
    }
    break;  // end of line or input
  }

  // Copy the rest of the record's text, then consume the line ending.
  int c = peek();
  record.raw.append(buf_, seg, pos_ - seg);
  if (c == '\r') {
    ++pos_;
    if (pos_ == buf_.size()) fill();
    if (pos_ < buf_.size() && buf_[pos_] == '\n') ++pos_;
    ++line_;
  } else if (c == '\n') {
    ++pos_;
    ++line_;
  }
  record.fields.resize(count);
  record.quoted.resize(count);
  return true;
}

}  // namespace sluice
