#pragma once
// Runs a scenario through the real code: the real store, the real scheduler
// loop and two real Worker objects with several slots each, all in threads
// of this process; only the process launcher is a fake, which plays each
// try's planned outcome and records its start and end on a shared clock.

#include <memory>
#include <string>

#include "core/store.h"
#include "tests/model/model.h"
#include "tests/model/scenario.h"

namespace sluice::model {

/// Runs scenarios through one real scheduler and two real workers (3 + 2
/// slots) in threads of this process, over `store`, started once and shared
/// by every batch (the store may hold other scenarios' DAGs: each scenario
/// has its own DAG and pool, so they share only the scheduler, the workers
/// and the store).
class InProcessRig {
 public:
  /// With `faulty` (a store that fails on purpose, over `store`), the
  /// scheduler and the workers use it, while the driver reads `store`; runs
  /// may then settle later, and end later after their last task.
  explicit InProcessRig(Store& store, Store* faulty = nullptr);
  ~InProcessRig();
  InProcessRig(const InProcessRig&) = delete;
  InProcessRig& operator=(const InProcessRig&) = delete;

  /// Runs the scenarios of `batch` at once and returns what happened to
  /// each. Gives up, with an error in Observed::errors, when the runs have
  /// not settled within `timeout`.
  std::vector<Observed> drive(const std::vector<Scenario>& batch, Millis timeout = Millis(60000));

 private:
  struct Parts;
  std::unique_ptr<Parts> parts_;
};

/// The same with real processes: `sluice scheduler` and two `sluice worker`
/// processes run against the store at `url` (`store` is a second connection
/// to it) from the folder `dir`, which holds `sluice.yaml` and the DAG folder
/// `dags/`; each task is a shell command that appends its own start and end
/// to a shared events file (the order of its lines is the clock) and exits
/// as the scenario plans. The processes are started by the caller and kept
/// across batches.
std::vector<Observed> drive_processes(const std::vector<Scenario>& batch, Store& store,
                                      const std::string& dir, Millis timeout = Millis(120000));

}  // namespace sluice::model
