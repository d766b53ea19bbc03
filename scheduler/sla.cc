#include "scheduler/sla.h"

#include "core/dag.h"
#include "core/error.h"
#include "core/log.h"
#include "engine/alerts.h"
#include "engine/dag_cache.h"

namespace sluice {
namespace {

std::string key_of(const SlaTimer& t) {
  return t.dag_id + '\x1f' + t.run_id + '\x1f' + t.task_id + '\x1f' + t.kind;
}

}  // namespace

SlaMonitor::SlaMonitor(Store& store, DagCache& dags, const Clock& clock, SlaOptions options)
    : store_(store), dags_(dags), clock_(clock), options_(options) {}

void SlaMonitor::arm_timer(const SlaTimer& timer) {
  std::string key = key_of(timer);
  if (armed_.count(key)) return;
  store_.arm_sla_timer(timer);
  armed_.insert(std::move(key));
}

void SlaMonitor::arm(Timestamp now) {
  (void)now;
  for (const RunRecord& run : store_.list_unfinished_runs()) {
    if (run.type != RunType::kScheduled) continue;
    std::shared_ptr<const Dag> dag = dags_.get(run.version_id);
    if (dag->sla.deadline) {
      arm_timer({0, run.dag_id, run.run_id, "", "deadline", run.interval.end + *dag->sla.deadline});
    }
    if (dag->sla.max_duration && run.started_at) {
      arm_timer({0, run.dag_id, run.run_id, "", "max_duration",
                 *run.started_at + *dag->sla.max_duration});
    }
    bool task_slas = false;
    for (const Task& task : dag->tasks) task_slas = task_slas || task.sla.has_value();
    if (!task_slas || run.state != RunState::kRunning) continue;
    for (const TaskInstanceRecord& ti : store_.list_task_instances(run.id)) {
      const Task* task = dag->find_task(ti.task_id);
      std::optional<Timestamp> started = ti.first_started_at ? ti.first_started_at : ti.started_at;
      if (!task || !task->sla || !started) continue;
      arm_timer({0, run.dag_id, run.run_id, ti.task_id, "sla", *started + *task->sla});
    }
  }
  for (const DagRecord& record : store_.list_dags()) {
    if (!record.active || record.paused || !record.version_id) continue;
    std::shared_ptr<const Dag> dag = dags_.get(*record.version_id);
    if (!dag->sla.freshness) continue;
    std::optional<RunRecord> last = store_.last_successful_run(record.dag_id);
    if (!last || !last->ended_at) continue;
    arm_timer(
        {0, record.dag_id, last->run_id, "", "freshness", *last->ended_at + *dag->sla.freshness});
  }
}

int SlaMonitor::check_due(Timestamp now) {
  int recorded = 0;
  std::shared_ptr<const AlertPolicy> policy = alert_policy();
  for (const SlaTimer& timer : store_.due_sla_timers(now, options_.batch)) {
    std::optional<RunRecord> run = store_.get_run(timer.dag_id, timer.run_id);
    bool met = true;
    std::string what;
    if (run) {
      auto ended_in_time = [&](const std::optional<Timestamp>& ended) {
        return ended && *ended <= timer.due_at;
      };
      if (timer.kind == "max_duration") {
        met = is_finished(run->state) && ended_in_time(run->ended_at);
        what = "the run did not finish within max_duration (due " + format_iso(timer.due_at) + ")";
      } else if (timer.kind == "deadline") {
        met = run->state == RunState::kSuccess && ended_in_time(run->ended_at);
        what = "the run had not succeeded by its deadline " + format_iso(timer.due_at);
      } else if (timer.kind == "sla") {
        met = false;
        for (const TaskInstanceRecord& ti : store_.list_task_instances(run->id)) {
          if (ti.task_id != timer.task_id) continue;
          met = is_finished(ti.state) && ended_in_time(ti.ended_at);
        }
        what = "task " + timer.task_id + " did not finish within its sla (due " +
               format_iso(timer.due_at) + ")";
      } else if (timer.kind == "freshness") {
        std::optional<RunRecord> last = store_.last_successful_run(timer.dag_id);
        met = last && last->run_id != timer.run_id;
        what = "no successful run since " + timer.run_id + " (freshness, due " +
               format_iso(timer.due_at) + ")";
      }
    }
    std::optional<SlaMissRecord> miss;
    std::optional<AlertEvent> alert;
    if (!met) {
      miss = SlaMissRecord{0,          timer.dag_id, timer.run_id, timer.task_id,
                           timer.kind, timer.due_at, now,          false};
      std::shared_ptr<const Dag> dag = dags_.get(run->version_id);
      if (wants_alert(*dag, *policy, "sla_miss")) {
        alert = make_alert("sla_miss", *run, timer.task_id, 0, what, *policy);
        alert->payload["sla"] = timer.kind;
        alert->payload["deadline"] = format_iso(timer.due_at);
      }
    }
    if (store_.fire_sla_timer(timer.id, miss, alert, now)) {
      ++recorded;
      log_warn("sla", timer.dag_id + " " + timer.run_id + ": " + what);
    }
  }
  return recorded;
}

std::optional<Timestamp> SlaMonitor::pass(Timestamp now) {
  bool arm_now = now >= next_arm_;
  if (!arm_now && !(next_due_ && now >= *next_due_))
    return next_due_ ? std::min(next_arm_, *next_due_) : next_arm_;
  try {
    if (arm_now) {
      arm(now);
      next_arm_ = now + options_.arm_interval;
    }
    check_due(now);
    next_due_ = store_.next_sla_due();
  } catch (const StoreError& e) {
    log_warn("sla", std::string("cannot check SLAs: ") + e.what());
    next_arm_ = now + options_.arm_interval;
    next_due_.reset();
  }
  return next_due_ ? std::min(next_arm_, *next_due_) : next_arm_;
}

}  // namespace sluice
