#pragma once
// Runs a scenario through the real code: the real store, the real scheduler
// loop and two real Worker objects with several slots each, all in threads
// of this process; only the process launcher is a fake, which plays each
// try's planned outcome and records its start and end on a shared clock.

#include <string>

#include "core/store.h"
#include "tests/model/model.h"
#include "tests/model/scenario.h"

namespace sluice::model {

/// Runs `scenario` against `store` (which may hold other scenarios' DAGs:
/// each scenario has its own DAG and pool) and returns what happened. Gives
/// up, with an error in Observed::errors, when the runs have not settled
/// within `timeout`.
Observed drive(const Scenario& scenario, Store& store, Millis timeout = Millis(60000));

}  // namespace sluice::model
