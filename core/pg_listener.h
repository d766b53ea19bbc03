#pragma once
// Wakes this process's scheduler loop or worker slots when another process
// reports new work through Postgres LISTEN/NOTIFY.

#include <atomic>
#include <string>
#include <thread>

#include "core/time.h"

namespace sluice {

class WorkSignal;

/// The channel PostgresStore notifies, in the transaction that queues tasks or
/// changes a run's state (delivered on commit).
inline constexpr const char* kWorkChannel = "sluice_work";

/// A thread holding a dedicated session that LISTENs on kWorkChannel and turns
/// each notification into `signal.notify()`. Notifications sent while the
/// session was down are lost, so after every (re)connect it notifies once,
/// which makes its owner look at the store afresh (reconcile). Reconnects back
/// off from 200 ms to 5 s and log one line per outage.
class PgWakeListener {
 public:
  PgWakeListener(std::string conninfo, WorkSignal& signal, std::string component);
  ~PgWakeListener();  // stops the thread
  PgWakeListener(const PgWakeListener&) = delete;
  PgWakeListener& operator=(const PgWakeListener&) = delete;

  /// How many sessions were opened (1 + reconnects); for tests and logs.
  int sessions() const { return sessions_.load(); }

 private:
  void loop();

  std::string conninfo_;
  WorkSignal& signal_;
  std::string component_;
  std::atomic<bool> stop_{false};
  std::atomic<int> sessions_{0};
  std::thread thread_;
};

}  // namespace sluice
