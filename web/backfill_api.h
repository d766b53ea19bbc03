#pragma once
// The backfill endpoints of the REST API: the same library calls as
// `sluice backfill` (scheduler/backfill.h).

namespace sluice {

class Clock;
class DagCache;
class RouteTable;
class Store;

/// Adds POST /api/v1/backfills, GET /api/v1/backfills, GET
/// /api/v1/backfills/{backfill_id} and POST /api/v1/backfills/{backfill_id}/cancel
/// to `routes`. The objects must outlive the server.
void install_backfill_api(RouteTable& routes, Store& store, DagCache& dags, const Clock& clock);

}  // namespace sluice
