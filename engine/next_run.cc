#include "engine/next_run.h"

#include "core/dag.h"

namespace sluice {

std::optional<DataInterval> next_scheduled_interval(const Schedule& schedule,
                                                    const ScheduleBounds& bounds, bool catchup,
                                                    std::optional<Timestamp> latest_start,
                                                    Timestamp now) {
  switch (schedule.kind()) {
    case Schedule::Kind::kNone:
      return std::nullopt;
    case Schedule::Kind::kOnce:
      if (latest_start) return std::nullopt;
      return next_interval_after(schedule, bounds, bounds.start_date);
    case Schedule::Kind::kCron:
      break;
  }
  if (!catchup) {
    auto complete = latest_complete_interval(schedule, bounds, now);
    if (complete && (!latest_start || complete->start > *latest_start)) return complete;
  }
  return next_interval_after(schedule, bounds,
                             latest_start ? *latest_start + Millis(1) : bounds.start_date);
}

std::optional<DataInterval> next_scheduled_interval(const Dag& dag,
                                                    std::optional<Timestamp> latest_start,
                                                    Timestamp now) {
  return next_scheduled_interval(dag.schedule, dag.bounds(), dag.catchup, latest_start, now);
}

}  // namespace sluice
