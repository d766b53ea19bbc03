#pragma once
// Manual runs: one code path for the CLI and the API.

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/schedule.h"
#include "core/store.h"

namespace sluice {

class DagCache;
struct Dag;

/// The data interval of a manual run (SPEC section 2, `trigger --date`):
/// a bare date means the interval whose start falls on that day (in the DAG's
/// zone); a timestamp the interval containing it; none the latest complete
/// interval. For `schedule: null` the interval is the instant (default now).
/// Throws UserError for an unreadable date or a day with no interval.
DataInterval manual_interval(const Dag& dag, const std::optional<std::string>& date,
                             Timestamp now);

/// What `sluice trigger` and POST /api/v1/dags/{id}/runs ask for.
struct TriggerRequest {
  std::string dag_id;
  std::optional<std::string> date;
  nlohmann::json conf = nlohmann::json::object();
};

/// Creates a manual run of the DAG's latest stored version. `conf` keys must
/// be params of the DAG. Throws NotFoundError / UserError.
RunRecord trigger_run(Store& store, DagCache& dags, const TriggerRequest& request,
                      Timestamp now);

}  // namespace sluice
