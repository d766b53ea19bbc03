#pragma once
// The backfill endpoints of the REST API: the same library calls as
// `sluice backfill` (scheduler/backfill.h).

namespace httplib {
class Server;
}

namespace sluice {

class Clock;
class DagCache;
class Store;

/// POST /api/v1/backfills, GET /api/v1/backfills, GET /api/v1/backfills/{id},
/// POST /api/v1/backfills/{id}/cancel. The objects must outlive the server.
void install_backfill_api(httplib::Server& server, Store& store, DagCache& dags,
                          const Clock& clock);

}  // namespace sluice
