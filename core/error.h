#pragma once
// Typed errors. Exceptions are for errors that end an operation; libraries that
// throw (libpqxx, yaml-cpp, nlohmann/json) are caught at the edge and rethrown
// as one of these, with a message a user can act on.

#include <stdexcept>
#include <string>

namespace sluice {

/// Base of every error Sluice raises on purpose.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Bad input from the user: a flag, a DAG file, a config value (exit code 1).
class UserError : public Error {
 public:
  using Error::Error;
};

/// A named thing (DAG, run, task) does not exist (exit code 1).
class NotFoundError : public UserError {
 public:
  using UserError::UserError;
};

/// A template could not be parsed or rendered. A positioned one knows the
/// line and column (1-based, in characters) of the problem in the template's
/// text, and that line's text, so a caller that knows the file can say
/// FILE:LINE:COL.
class TemplateError : public UserError {
 public:
  explicit TemplateError(const std::string& message) : UserError(message), problem_(message) {}
  TemplateError(const std::string& problem, int line, int column, std::string source_line,
                bool multi_line)
      : UserError("template error at line " + std::to_string(line) + ", column " +
                  std::to_string(column) + ": " + problem +
                  (multi_line ? "; line " + std::to_string(line) + " reads: " + source_line : "")),
        problem_(problem),
        line_(line),
        column_(column),
        source_line_(std::move(source_line)),
        multi_line_(multi_line) {}

  /// What is wrong, without the position.
  const std::string& problem() const { return problem_; }
  int line() const { return line_; }      // 0 when not known
  int column() const { return column_; }  // 0 when not known
  /// The text of line `line()`, trimmed and cut around the column when long.
  const std::string& source_line() const { return source_line_; }
  /// "FILE:LINE:COL: problem; the line reads: ..." (the line's text only
  /// when the template has more than one line: a one-line value is in view).
  std::string located(const std::string& file) const {
    if (line_ == 0) return file + ": " + what();
    std::string out =
        file + ":" + std::to_string(line_) + ":" + std::to_string(column_) + ": " + problem_;
    if (multi_line_) out += "; the line reads: " + source_line_;
    return out;
  }

 private:
  std::string problem_;
  int line_ = 0;
  int column_ = 0;
  std::string source_line_;
  bool multi_line_ = false;
};

/// The metadata store failed. `retryable()` is true when the same call may
/// succeed later (lost connection, serialization failure, busy database).
class StoreError : public Error {
 public:
  StoreError(const std::string& message, bool retryable = false)
      : Error(message), retryable_(retryable) {}
  bool retryable() const { return retryable_; }

 private:
  bool retryable_;
};

/// The schema is missing or newer than this binary understands.
class SchemaError : public StoreError {
 public:
  using StoreError::StoreError;
};

/// A compare-and-set state transition found another state than expected:
/// somebody else changed the row first.
class ConflictError : public StoreError {
 public:
  using StoreError::StoreError;
};

}  // namespace sluice
