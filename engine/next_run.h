#pragma once
// The next run the scheduler creates for a DAG: one rule, which the scheduler
// follows and which `dags list`, the API and the UI show.

#include <optional>

#include <nlohmann/json_fwd.hpp>

#include "core/schedule.h"
#include "core/time.h"

namespace sluice {

struct Dag;

/// The interval of the next scheduled run of a DAG whose latest run with a
/// data interval starts at `latest_start` (nullopt: it has none), at `now`.
/// With catchup it is the first interval after the latest; without it, the
/// latest complete interval when that is newer than the latest run (what the
/// scheduler jumps to), else the first interval after the latest. The run is
/// created once the interval has ended. nullopt: no schedule, a `@once` DAG
/// that has run, or past end_date.
std::optional<DataInterval> next_scheduled_interval(const Schedule& schedule,
                                                    const ScheduleBounds& bounds, bool catchup,
                                                    std::optional<Timestamp> latest_start,
                                                    Timestamp now);
std::optional<DataInterval> next_scheduled_interval(const Dag& dag,
                                                    std::optional<Timestamp> latest_start,
                                                    Timestamp now);

/// The next run as `dags list`, the API and the UI all show it: its data
/// interval, and from when the scheduler creates it (`run_after`, the
/// interval's end; a time already past means it is due now).
struct NextRun {
  DataInterval interval;
  Timestamp run_after{};
};

/// next_scheduled_interval as a NextRun; nullopt also for a paused DAG,
/// which creates no run until it is unpaused.
std::optional<NextRun> next_run(const Dag& dag, bool paused, std::optional<Timestamp> latest_start,
                                Timestamp now);

/// {"data_interval_start", "data_interval_end", "run_after"} (ISO times,
/// UTC), or null.
nlohmann::json next_run_json(const std::optional<NextRun>& next);

}  // namespace sluice
