#pragma once
// One log line per database outage for the whole process.

#include <atomic>
#include <string>

#include "core/log.h"

namespace sluice {

/// Several threads of a process (worker slots, heartbeats, the scheduler
/// loop, the notification listener) notice the same outage; only the first
/// logs it, and only the first to get through again logs the recovery.
class StoreOutage {
 public:
  static void down(const std::string& component, const std::string& what) {
    if (!flag().exchange(true)) {
      log_error(component, "store unavailable (retrying with backoff): " + what);
    }
  }
  static void up(const std::string& component) {
    if (flag().exchange(false)) log_info(component, "store reachable again");
  }
  static bool is_down() { return flag().load(); }

 private:
  static std::atomic<bool>& flag() {
    static std::atomic<bool> down{false};
    return down;
  }
};

}  // namespace sluice
