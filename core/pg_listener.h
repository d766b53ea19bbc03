#pragma once
// Wakes this process's scheduler loop or worker slots when another process
// reports new work through Postgres LISTEN/NOTIFY.

#include <atomic>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/time.h"

namespace sluice {

class WorkSignal;

/// The channels PostgresStore notifies (delivered on commit): kWorkChannel
/// when tasks were queued (workers listen), kRunsChannel when a run changed
/// state, alerts were queued or a task waits for a retry (schedulers listen).
/// A worker that finishes a task and claims the next one in the same
/// transaction notifies kWorkChannel only for what it left queued, so one
/// task going down a chain wakes nobody else.
inline constexpr const char* kWorkChannel = "sluice_work";
inline constexpr const char* kRunsChannel = "sluice_runs";

/// A thread holding a dedicated session that LISTENs on the given channels and
/// turns each notification into `notify()` on that channel's signal.
/// Notifications sent while the session was down are lost, so after every
/// (re)connect it notifies every signal once, which makes their owners look
/// at the store afresh (reconcile). Reconnects back off from 200 ms to 5 s
/// and log one line per outage.
class PgWakeListener {
 public:
  using Channels = std::vector<std::pair<std::string, WorkSignal*>>;
  PgWakeListener(std::string conninfo, Channels channels, std::string component);
  ~PgWakeListener();  // stops the thread
  PgWakeListener(const PgWakeListener&) = delete;
  PgWakeListener& operator=(const PgWakeListener&) = delete;

  /// How many sessions were opened (1 + reconnects); for tests and logs.
  int sessions() const { return sessions_.load(); }

 private:
  void loop();
  void notify_all();

  std::string conninfo_;
  Channels channels_;
  std::string component_;
  std::atomic<bool> stop_{false};
  std::atomic<int> sessions_{0};
  std::thread thread_;
};

}  // namespace sluice
