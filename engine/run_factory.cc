#include "engine/run_factory.h"

#include "core/error.h"
#include "core/text.h"
#include "engine/alerts.h"
#include "engine/readiness.h"

namespace sluice {

std::string make_run_id(RunType type, Timestamp when) {
  return std::string(to_string(type)) + "__" + format_iso(when);
}

NewRun make_new_run(const Dag& dag, int64_t version_id, RunType type,
                    const DataInterval& interval, const nlohmann::json& conf,
                    const std::string& run_id) {
  NewRun run;
  run.dag_id = dag.id;
  run.run_id = run_id;
  run.type = type;
  run.version_id = version_id;
  run.interval = interval;
  run.conf = conf.is_null() ? nlohmann::json::object() : conf;
  run.state = RunState::kQueued;
  run.tasks.reserve(dag.tasks.size());
  for (const Task& task : dag.tasks) {
    NewRun::Task t;
    t.task_id = task.id;
    // A sensor's timeout bounds its whole wait and it uses no retries.
    t.max_tries = task.retry.retries + 1;
    t.pool = task.pool;
    t.priority = task.priority;
    t.queue = task.queue;
    run.tasks.push_back(std::move(t));
  }
  return run;
}

namespace {

// Run-level alerts (failure, recovery, success) need what the store reads
// when a decision ends a run; only DAGs that want one of them ask for it.
void add_run_end_hook(Decider& decider, const std::shared_ptr<const Dag>& dag) {
  std::shared_ptr<const AlertPolicy> policy = alert_policy();
  if (!wants_alert(*dag, *policy, "failure") && !wants_alert(*dag, *policy, "recovery") &&
      !wants_alert(*dag, *policy, "success")) {
    return;
  }
  decider.on_run_end = [dag, policy = std::move(policy)](const RunSnapshot& snapshot,
                                                           const RunEndContext& context,
                                                           RunDecisions& decisions) {
    add_run_end_alerts(*dag, *policy, snapshot, context, decisions);
  };
}

}  // namespace

Decider make_decider(std::shared_ptr<const Dag> dag, Timestamp now, bool start_run) {
  Decider decider;
  for (const Task& task : dag->tasks) {
    if (task.depends_on_past) decider.needs_previous_interval = true;
  }
  add_run_end_hook(decider, dag);
  decider.decide = [dag = std::move(dag), now, start_run](const RunSnapshot& snapshot) {
    return decide_run(*dag, snapshot, now, start_run);
  };
  return decider;
}

Decider make_decider(std::shared_ptr<const Dag> dag, std::shared_ptr<const DagIndex> index,
                     Timestamp now, bool start_run) {
  Decider decider;
  decider.needs_previous_interval = index->any_depends_on_past;
  add_run_end_hook(decider, dag);
  decider.scope = [index](const std::string& task_id) { return index->scope_after(task_id); };
  decider.predictable = [index](const std::string& task_id) {
    return index->scope_is_downstream(task_id);
  };
  decider.decide = [dag = std::move(dag), index = std::move(index), now,
                    start_run](const RunSnapshot& snapshot) {
    return decide_run(*dag, *index, snapshot, now, start_run);
  };
  return decider;
}

void validate_conf(const Dag& dag, const nlohmann::json& conf) {
  if (conf.is_null()) return;
  if (!conf.is_object()) {
    throw UserError("--conf must be a JSON object such as '{\"country\": \"de\"}'");
  }
  std::vector<std::string> names;
  for (auto it = dag.params.begin(); it != dag.params.end(); ++it) names.push_back(it.key());
  for (auto it = conf.begin(); it != conf.end(); ++it) {
    if (!dag.params.contains(it.key())) {
      std::string known = names.empty() ? "it declares none" : "it has " + join(names, ", ");
      throw UserError("--conf key '" + it.key() + "' is not a param of DAG '" + dag.id + "'" +
                      did_you_mean(it.key(), names) + "; " + known +
                      " (declare it under params: in the DAG file)");
    }
  }
}

TaskResult lost_try_result(const TaskInstanceRecord& ti, const Task* task, Timestamp now,
                           const std::string& error) {
  RetryDecision retry =
      task ? decide_retry(task->retry, ti.try_number, ti.max_tries, now) : RetryDecision{};
  TaskResult result;
  result.ti_id = ti.id;
  result.task_id = ti.task_id;
  result.try_number = ti.try_number;
  result.worker_id = ti.worker_id;
  result.state = retry.state;
  result.next_try_at = retry.next_try_at;
  result.ended_at = now;
  result.error = error;
  result.final_log = "\n[sluice] " + error + "\n";
  result.final_log_seq = 1 << 30;  // after any chunk the try wrote
  return result;
}

}  // namespace sluice
