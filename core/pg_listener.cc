#include "core/pg_listener.h"

#include <algorithm>
#include <memory>

#include "core/error.h"
#include "core/log.h"
#include "core/outage.h"
#include "core/pg_session.h"
#include "core/work_signal.h"

namespace sluice {

PgWakeListener::PgWakeListener(std::string conninfo, Channels channels, std::string component)
    : conninfo_(std::move(conninfo)),
      channels_(std::move(channels)),
      component_(std::move(component)) {
  thread_ = std::thread([this] { loop(); });
}

PgWakeListener::~PgWakeListener() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void PgWakeListener::notify_all() {
  for (auto& [channel, signal] : channels_) signal->notify();
}

void PgWakeListener::loop() {
  Millis backoff{200};
  bool down = false;
  while (!stop_.load()) {
    try {
      PgSession session(conninfo_);
      for (const auto& [channel, signal] : channels_) {
        session.query("LISTEN " + channel, Millis(5000));
      }
      ++sessions_;
      if (down) StoreOutage::up(component_);
      down = false;
      backoff = Millis(200);
      notify_all();  // whatever was notified while we were away
      while (!stop_.load()) {
        std::vector<std::string> got = session.wait_for_notifications(Millis(250));
        for (auto& [channel, signal] : channels_) {
          if (std::find(got.begin(), got.end(), channel) != got.end()) signal->notify();
        }
      }
    } catch (const StoreError& e) {
      // Polling goes on meanwhile; the outage is logged once per process.
      StoreOutage::down(component_, e.what());
      down = true;
      auto until = std::chrono::steady_clock::now() + backoff;
      while (!stop_.load() && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(Millis(50));
      }
      backoff = std::min(backoff * 2, Millis(5000));
    }
  }
}

}  // namespace sluice
