#include "engine/next_run.h"

#include <nlohmann/json.hpp>

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

std::optional<NextRun> next_run(const Dag& dag, bool paused, std::optional<Timestamp> latest_start,
                                Timestamp now) {
  if (paused) return std::nullopt;
  std::optional<DataInterval> interval = next_scheduled_interval(dag, latest_start, now);
  if (!interval) return std::nullopt;
  return NextRun{*interval, interval->end};
}

nlohmann::json next_run_json(const std::optional<NextRun>& next) {
  if (!next) return nullptr;
  return {{"data_interval_start", format_iso(next->interval.start)},
          {"data_interval_end", format_iso(next->interval.end)},
          {"run_after", format_iso(next->run_after)}};
}

}  // namespace sluice
