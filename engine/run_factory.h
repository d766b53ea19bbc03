#pragma once
// Building new runs and their decisions: the glue between the DAG model,
// readiness and the store.

#include <memory>
#include <string>

#include "core/dag.h"
#include "core/store.h"
#include "engine/readiness.h"

namespace sluice {

/// "scheduled__2026-02-03T01:00:00Z" and the like.
std::string make_run_id(RunType type, Timestamp when);

/// A new run of `dag` (stored as `version_id`) with one task instance per task.
NewRun make_new_run(const Dag& dag, int64_t version_id, RunType type,
                    const DataInterval& interval, const nlohmann::json& conf,
                    const std::string& run_id);

/// The decider the store applies after every change to a run of `dag`:
/// readiness (scheduler/readiness.h) at time `now`. With `start_run`, a queued
/// run becomes running.
Decider make_decider(std::shared_ptr<const Dag> dag, Timestamp now, bool start_run = false);
/// The same with the DAG's readiness index built once (see DagCache::index),
/// for the hot paths: a worker finishing tasks, the scheduler starting runs.
Decider make_decider(std::shared_ptr<const Dag> dag, std::shared_ptr<const DagIndex> index,
                     Timestamp now, bool start_run = false);

/// The report that ends a try nobody will finish (its worker is gone, or its
/// claim was lost): failed, or up_for_retry when `task` has tries left;
/// `error` goes to the task and, as a note, to its log.
TaskResult lost_try_result(const TaskInstanceRecord& ti, const Task* task, Timestamp now,
                           const std::string& error);

/// Checks `conf` against the DAG's params: every key must be a param.
/// Throws UserError naming an unknown key (with a suggestion).
void validate_conf(const Dag& dag, const nlohmann::json& conf);

}  // namespace sluice
