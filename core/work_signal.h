#pragma once
// In-process wake-ups between the scheduler and worker slots.

#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "core/time.h"

namespace sluice {

/// A counter with a condition variable: `notify` says "there may be new work",
/// `wait` sleeps until a notify newer than what the caller has seen, or the
/// timeout. Waking spuriously is harmless; missing a wake-up is not, hence the
/// generation counter.
class WorkSignal {
 public:
  uint64_t generation() const {
    std::lock_guard<std::mutex> lock(mu_);
    return generation_;
  }
  void notify() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++generation_;
    }
    cv_.notify_all();
  }
  /// Returns the current generation once it differs from `seen`, or after `timeout`.
  uint64_t wait(uint64_t seen, Millis timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return generation_ != seen; });
    return generation_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t generation_ = 0;  // GUARDED_BY(mu_)
};

}  // namespace sluice
