#include "web/sessions.h"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include "core/error.h"

namespace sluice {

namespace {

constexpr size_t kMaxClients = 10000;

std::string hex(const unsigned char* data, size_t size) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < size; ++i) {
    out += digits[data[i] >> 4];
    out += digits[data[i] & 15];
  }
  return out;
}

std::string digest_of(const std::string& id) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(id.data()), id.size(), digest);
  return hex(digest, sizeof(digest));
}

}  // namespace

std::string SessionStore::create() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    throw Error("cannot start a session: the random number generator failed");
  }
  std::string id = hex(bytes, sizeof(bytes));
  Timestamp now = clock_.now();
  std::lock_guard<std::mutex> lock(mutex_);
  drop_expired(now);
  if (expiry_.size() >= kMaxSessions) {
    // Logins without logouts (scripts): the session closest to its end goes.
    auto oldest = expiry_.begin();
    for (auto it = expiry_.begin(); it != expiry_.end(); ++it) {
      if (it->second < oldest->second) oldest = it;
    }
    expiry_.erase(oldest);
  }
  expiry_[digest_of(id)] = now + kLifetime;
  return id;
}

bool SessionStore::valid(const std::string& id) {
  if (id.empty()) return false;
  std::string key = digest_of(id);
  Timestamp now = clock_.now();
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = expiry_.find(key);
  if (it == expiry_.end()) return false;
  if (it->second <= now) {
    expiry_.erase(it);
    return false;
  }
  return true;
}

void SessionStore::end(const std::string& id) {
  std::string key = digest_of(id);
  std::lock_guard<std::mutex> lock(mutex_);
  expiry_.erase(key);
}

void SessionStore::drop_expired(Timestamp now) {
  for (auto it = expiry_.begin(); it != expiry_.end();) {
    it = it->second <= now ? expiry_.erase(it) : std::next(it);
  }
}

Millis LoginThrottle::wait_for(const std::string& client) {
  Timestamp now = clock_.now();
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = failures_.find(client);
  if (it == failures_.end()) return Millis(0);
  std::deque<Timestamp>& times = it->second;
  while (!times.empty() && times.front() + kWindow <= now) times.pop_front();
  if (times.empty()) {
    failures_.erase(it);
    return Millis(0);
  }
  if (static_cast<int>(times.size()) < kMaxFailures) return Millis(0);
  return times.front() + kWindow - now;
}

void LoginThrottle::failed(const std::string& client) {
  Timestamp now = clock_.now();
  std::lock_guard<std::mutex> lock(mutex_);
  if (failures_.size() >= kMaxClients && !failures_.count(client)) {
    // Many addresses at once: forget those whose failures have aged out.
    for (auto it = failures_.begin(); it != failures_.end();) {
      bool stale = it->second.empty() || it->second.back() + kWindow <= now;
      it = stale ? failures_.erase(it) : std::next(it);
    }
    if (failures_.size() >= kMaxClients) failures_.clear();
  }
  std::deque<Timestamp>& times = failures_[client];
  times.push_back(now);
  while (static_cast<int>(times.size()) > kMaxFailures) times.pop_front();
}

}  // namespace sluice
