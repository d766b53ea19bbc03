#pragma once
// The scheduler loop's share of backfills: a pass that carries them out.

namespace sluice {

class DagCache;
class Scheduler;
class Store;

/// Registers a BackfillPass (engine/backfill.h), owned by the pass, with
/// `scheduler`.
void add_backfill_pass(Scheduler& scheduler, Store& store, DagCache& dags);

}  // namespace sluice
