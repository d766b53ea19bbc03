#include "scheduler/backfill_pass.h"

#include <memory>

#include "engine/backfill.h"
#include "scheduler/scheduler.h"

namespace sluice {

void add_backfill_pass(Scheduler& scheduler, Store& store, DagCache& dags) {
  auto pass = std::make_shared<BackfillPass>(store, dags);
  scheduler.add_pass("backfills", [pass](Timestamp now) { return pass->advance(now); });
}

}  // namespace sluice
