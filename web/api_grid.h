#pragma once
// The DAG page's data: the grid of runs and task states (with mapped tasks
// summed up per task, and only what changed since the page's last poll) and
// the calendar of run outcomes per day.

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace httplib {
class Server;
}

namespace sluice {

class RouteTable;

class Clock;
class DagCache;
class Store;
struct DagRecord;

/// What one grid request asks for.
struct GridQuery {
  int limit = 25;
  int offset = 0;
  /// The `marker` of an earlier answer: parts whose digest it holds are
  /// sent as stubs ({"run_id", "digest"}) or left out (the header).
  std::string since;
};

/// The grid of `record`'s runs as JSON text, newest first: {"runs",
/// "offset", "has_more", "marker"}, with "tasks" (the rows), "graph" (each
/// task's id, type and upstream ids) and "dag" (`summary`) unless unchanged
/// since `query.since`, and {"unchanged": true, "marker"}
/// when nothing changed. A mapped task's cell holds the worst state of its
/// instances and a count per state.
std::string grid_text(Store& store, DagCache& dags, const DagRecord& record,
                      const nlohmann::json& summary, const std::vector<std::string>& secrets,
                      const GridQuery& query);

/// How bad a task state is, for a mapped task's summary (higher is worse):
/// failures, then work in progress, then what ended well.
int task_state_severity(const std::string& state);

/// GET /api/v1/last-runs: each DAG's newest run (times, duration, state).
/// GET /api/v1/dags/{dag_id}/calendar?year=YYYY: run outcomes per day of the
/// data interval's start in the DAG's time zone. The objects must outlive
/// the server.
void install_grid_api(RouteTable& routes, Store& store, DagCache& dags, const Clock& clock,
                      const std::vector<std::string>& secrets);

}  // namespace sluice
