#pragma once
// A single dedicated Postgres session for the few jobs that must not share the
// store's pool: holding the leader lock and listening for notifications.

#include <optional>
#include <string>
#include <vector>

#include "core/time.h"

struct pg_conn;

namespace sluice {

/// One libpq session with TCP keepalives on both ends and queries bounded by a
/// client-side deadline. It is never re-established behind the caller's back
/// (raw libpq has no reactivation, unlike libpqxx 6): once `broken()`, the
/// owner must notice, since a session-level lock or LISTEN died with it.
class PgSession {
 public:
  /// Connects to `conninfo` (URL or key=value) with keepalives added; throws
  /// StoreError (retryable) when the server cannot be reached.
  explicit PgSession(const std::string& conninfo, Millis connect_timeout = Millis(5000));
  ~PgSession();
  PgSession(const PgSession&) = delete;
  PgSession& operator=(const PgSession&) = delete;

  /// Runs `sql` (one or more statements) and returns the first column of each
  /// row of the last result. Throws StoreError when the server fails the
  /// statement, and marks the session broken when the connection is lost or
  /// the answer takes longer than `timeout`.
  std::vector<std::optional<std::string>> query(const std::string& sql, Millis timeout);

  /// Waits up to `timeout` for notifications on the socket; returns the
  /// channels that were notified (empty on timeout). Marks the session broken
  /// when the connection is lost.
  std::vector<std::string> wait_for_notifications(Millis timeout);

  bool broken() const { return broken_; }

 private:
  void fail(const std::string& what);

  pg_conn* conn_ = nullptr;
  bool broken_ = false;
};

/// `conninfo` with keepalive settings for the client socket and, through
/// `options`, for the server's side, so that a session cut off by the network
/// ends on both sides within about 10 s (and its advisory lock with it).
std::string with_keepalives(const std::string& conninfo, Millis connect_timeout);

}  // namespace sluice
