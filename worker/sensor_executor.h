#pragma once
// The sensor task types (kIsSensor in core/task_types/), each with its
// check in sensor_executor.cc. Each try checks its condition:
// - mode poke: checks every poke_interval within the try, holding the slot;
// - mode reschedule: checks once; when not ready the try ends as
//   up_for_reschedule with the next check time, freeing the slot.
// The task's `timeout` bounds the whole wait, counted from the first check
// (TaskContext::first_started_at), across reschedules and worker restarts
// (default 7 days, as Airflow). At the timeout the sensor fails, or is
// skipped with `soft_fail`; a timed-out sensor is never retried.

#include <functional>
#include <string>

#include "worker/executor.h"

namespace sluice {

/// The result of one check.
struct SensorCheck {
  enum class Verdict { kWait, kReady, kFail };
  Verdict verdict = Verdict::kWait;
  std::string message;  // what was seen, for the log (and the error on kFail)
};

/// Checks a sensor's condition once; the template context renders its values.
SensorCheck check_sensor(TaskContext& ctx);

/// Runs sensor tasks. `wait` sleeps between pokes (returning early on cancel);
/// tests pass one that advances a FakeClock.
class SensorExecutor : public TaskExecutor {
 public:
  using Wait = std::function<void(Millis, const std::atomic<bool>& cancel)>;
  SensorExecutor();
  explicit SensorExecutor(Wait wait) : wait_(std::move(wait)) {}
  TaskOutcome execute(TaskContext& ctx) override;

 private:
  Wait wait_;
};

/// The total wait of a sensor without a `timeout`.
inline constexpr Millis kDefaultSensorTimeout{7LL * 24 * 3600 * 1000};

}  // namespace sluice
