#pragma once
// The UI's login sessions and the brake on guessing the API token.

#include <cstddef>
#include <deque>
#include <map>
#include <mutex>
#include <string>

#include "core/time.h"

namespace sluice {

class Clock;

/// Sessions of the UI: random ids (from OpenSSL's CSPRNG) kept in memory
/// until they expire or the user logs out. A restart of the web server ends
/// them all.
class SessionStore {
 public:
  static constexpr Millis kLifetime = std::chrono::hours(12);
  static constexpr size_t kMaxSessions = 10000;

  explicit SessionStore(const Clock& clock) : clock_(clock) {}

  /// A new session's id: 32 random bytes, hex-encoded. Throws Error when the
  /// random generator fails.
  std::string create();
  /// True while `id` names a session that has not expired or ended.
  bool valid(const std::string& id);
  /// Ends the session (logout); unknown ids are ignored.
  void end(const std::string& id);

 private:
  void drop_expired(Timestamp now);  // mutex_ held

  const Clock& clock_;
  std::mutex mutex_;
  // Keyed by the id's SHA-256, so a lookup's timing says nothing about ids.
  std::map<std::string, Timestamp> expiry_;  // guarded by mutex_
};

/// Counts wrong tokens per client address: after kMaxFailures within
/// kWindow an address is refused (429) until its oldest failure leaves the
/// window, even with the right token.
class LoginThrottle {
 public:
  static constexpr int kMaxFailures = 10;
  static constexpr Millis kWindow = std::chrono::minutes(1);

  explicit LoginThrottle(const Clock& clock) : clock_(clock) {}

  /// How long `client` must wait before its next try; zero when it may try.
  Millis wait_for(const std::string& client);
  /// Notes a wrong token from `client`.
  void failed(const std::string& client);

 private:
  const Clock& clock_;
  std::mutex mutex_;
  std::map<std::string, std::deque<Timestamp>> failures_;  // guarded by mutex_
};

}  // namespace sluice
