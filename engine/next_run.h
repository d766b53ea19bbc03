#pragma once
// The next run the scheduler creates for a DAG: one rule, which the scheduler
// follows and which `dags list`, the API and the UI show.

#include <optional>

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

}  // namespace sluice
