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

/// A template could not be parsed or rendered.
class TemplateError : public UserError {
 public:
  using UserError::UserError;
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
