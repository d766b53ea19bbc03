#pragma once
// SLA monitoring. When a scheduled run starts (or a task with `sla` starts),
// its deadlines are computed and stored as timers: `max_duration` (from the
// run's start), `deadline` (after the data interval's end), task `sla` (from
// the task's first start), `freshness` (after the DAG's last success). When
// a timer is due the monitor checks whether it was met; a miss is recorded
// once (unique per run, task and kind) together with its `sla_miss` alert, in
// one transaction, so a restart neither loses nor repeats it. Backfill and
// manual runs have no deadlines.

#include <optional>
#include <set>
#include <string>

#include "core/store.h"
#include "core/time.h"

namespace sluice {

class Clock;
class DagCache;
struct Dag;

/// Monitor settings; tests shorten them.
struct SlaOptions {
  Millis arm_interval{1000};  // how often new runs and tasks are looked at
  int batch = 100;
};

/// Arms and checks SLA timers; used as a scheduler pass.
class SlaMonitor {
 public:
  SlaMonitor(Store& store, DagCache& dags, const Clock& clock, SlaOptions options = {});
  /// Arms timers for started scheduled runs and tasks, and freshness.
  void arm(Timestamp now);
  /// Fires due timers; returns how many misses were recorded.
  int check_due(Timestamp now);
  /// A scheduler pass: arm (every arm_interval) and check.
  std::optional<Timestamp> pass(Timestamp now);

 private:
  void arm_timer(const SlaTimer& timer);

  Store& store_;
  DagCache& dags_;
  const Clock& clock_;
  SlaOptions options_;
  Timestamp next_arm_{};
  std::optional<Timestamp> next_due_;  // the earliest stored timer, as last read
  std::set<std::string> armed_;        // timer keys stored by this process
};

}  // namespace sluice
