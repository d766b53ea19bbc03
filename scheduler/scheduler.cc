#include "scheduler/scheduler.h"

#include <unistd.h>

#include <algorithm>

#include "core/dag.h"
#include "core/error.h"
#include "core/host.h"
#include "core/log.h"
#include "core/outage.h"
#include "core/store.h"
#include "core/work_signal.h"
#include "engine/dag_cache.h"
#include "engine/next_run.h"
#include "engine/readiness.h"
#include "engine/run_factory.h"
#include "scheduler/leader.h"

namespace sluice {
namespace {

// How often a leading scheduler adds its pass durations to the store.
constexpr Millis kMetricsWriteInterval{2000};
// Pass durations kept while the store cannot take them; later ones are dropped.
constexpr size_t kMaxKeptPassDurations = 10000;

}  // namespace

Scheduler::Scheduler(Store& store, DagCache& dags, const Clock& clock, SchedulerOptions options,
                     WorkSignal* signal, WorkSignal* tasks_signal)
    : store_(store),
      dags_(dags),
      clock_(clock),
      options_(std::move(options)),
      signal_(signal),
      tasks_signal_(tasks_signal ? tasks_signal : signal) {
  if (!options_.dags_folder.empty()) {
    sync_ = std::make_unique<DagFolderSync>(store_, options_.dags_folder,
                                            options_.sync_parse_budget);
  }
}

Scheduler::~Scheduler() = default;

void Scheduler::run(const std::atomic<bool>& stop) {
  Millis backoff{500};
  bool store_down = false;
  uint64_t seen = signal_ ? signal_->generation() : 0;
  Millis poll = options_.poll_interval;
  while (!stop.load()) {
    if (options_.leader) {
      bool was_leading = options_.leader->leading();
      if (!options_.leader->check()) {
        try {
          standby_heartbeat(clock_.now());
        } catch (const StoreError&) {
          // The elector reports an unreachable database once.
        }
        usleep(100 * 1000);
        continue;
      }
      if (!was_leading) on_became_leader();
    }
    Timestamp next;
    try {
      next = tick();
      if (store_down) {
        StoreOutage::up("scheduler");
        // Workers could not heartbeat during the outage either: give them a
        // full heartbeat limit to report before their tasks count as lost.
        next_orphan_check_ = clock_.now() + options_.heartbeat_timeout;
      }
      store_down = false;
      backoff = Millis(500);
    } catch (const StoreError& e) {
      StoreOutage::down("scheduler", e.what());
      store_down = true;
      next = clock_.now() + backoff;
      backoff = std::min(backoff * 2, Millis(10000));
    } catch (const std::exception& e) {
      log_error("scheduler", std::string("pass failed: ") + e.what());
      next = clock_.now() + Millis(1000);
    }
    // Idle passes back off; a pass that changed something or a wake-up
    // brings the poll back to its shortest.
    poll = active_ ? options_.poll_interval
                   : std::min(std::max(poll * 2, options_.poll_interval),
                              std::max(options_.idle_poll_interval, options_.poll_interval));
    Timestamp now = clock_.now();
    Millis wait =
        std::clamp(std::chrono::duration_cast<Millis>(next - now), Millis(0), poll);
    if (signal_) {
      uint64_t before = seen;
      seen = signal_->wait(seen, wait);
      if (seen != before) poll = options_.poll_interval;
    } else if (wait.count() > 0) {
      usleep(static_cast<useconds_t>(wait.count() * 1000));
    }
  }
}

Timestamp Scheduler::tick() {
  const auto pass_started = std::chrono::steady_clock::now();
  Timestamp now = clock_.now();
  // The loop polls sooner while passes find work (see run()).
  Timestamp next = now + std::max(options_.idle_poll_interval, options_.poll_interval);
  if (sync_ && now >= next_sync_) {
    sync_files(now);
    // Files the pass had no time for are parsed in the next one, right away.
    next_sync_ = last_sync_.waiting > 0 ? now : now + options_.sync_interval;
    if (last_sync_.parsed > 0) next_dag_refresh_ = now;
  }
  if (now >= next_dag_refresh_) {
    dag_records_ = store_.list_dags();
    next_dag_refresh_ = now + options_.dag_refresh_interval;
  }
  size_t runs_before = runs_created_;
  if (options_.create_scheduled_runs) {
    if (auto due = create_scheduled_runs(now)) next = std::min(next, *due);
  }
  // One read of the unfinished runs serves both passes that need it.
  const std::vector<RunRecord> unfinished = store_.list_unfinished_runs();
  bool started = start_queued_runs(now, unfinished);
  bool requeued = requeue_due_tasks(now);
  active_ = started || requeued || runs_created_ != runs_before || last_sync_.waiting > 0;
  if (now >= next_orphan_check_) {
    fail_orphaned_tasks(now);
    next_orphan_check_ = now + std::max(Millis(500), options_.heartbeat_timeout / 4);
  }
  decide_waits_on_the_past(now, unfinished);
  if (now >= next_reconcile_) {
    reconcile_all(now);
    next_reconcile_ = now + options_.reconcile_interval;
  }
  if (now >= next_heartbeat_) {
    Millis lag = std::chrono::duration_cast<Millis>(clock_.now() - now);
    bool leader = !options_.leader || options_.leader->leading();
    store_.heartbeat_scheduler(options_.scheduler_id, host_name(), leader, lag, now);
    next_heartbeat_ = now + Millis(2000);
  }
  for (auto& [name, pass] : passes_) {
    if (auto due = pass(now)) next = std::min(next, *due);
  }
  if (auto due = store_.next_due_time()) next = std::min(next, *due);
  if (sync_) next = std::min(next, next_sync_);
  record_pass(pass_started, now);
  return std::min(next, next_dag_refresh_);
}

void Scheduler::record_pass(std::chrono::steady_clock::time_point started, Timestamp now) {
  auto took = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - started);
  if (pass_durations_.size() < kMaxKeptPassDurations) {
    pass_durations_.push_back({"scheduler_loop", took.count()});
  }
  if (now < next_metrics_write_) return;
  store_.add_metric_samples(pass_durations_);
  pass_durations_.clear();
  next_metrics_write_ = now + kMetricsWriteInterval;
}

void Scheduler::add_pass(std::string name, Pass pass) {
  passes_.emplace_back(std::move(name), std::move(pass));
}

void Scheduler::standby_heartbeat(Timestamp now) {
  if (now < next_heartbeat_) return;
  store_.heartbeat_scheduler(options_.scheduler_id, host_name(), false, Millis(0), now);
  next_heartbeat_ = now + Millis(2000);
}

void Scheduler::on_became_leader() {
  // Another scheduler led meanwhile: what this one cached may be stale, and
  // tasks may have been lost with the old leader. Start with a full pass.
  Timestamp zero{};
  next_sync_ = next_dag_refresh_ = next_reconcile_ = next_heartbeat_ = zero;
  due_.clear();
  // The term may start right after a database outage, during which workers
  // could not heartbeat: they get a full heartbeat limit before their tasks
  // count as lost.
  next_orphan_check_ = clock_.now() + options_.heartbeat_timeout;
}

bool Scheduler::for_dag(const std::string& dag_id, const std::function<void()>& step) {
  try {
    step();
    return true;
  } catch (const StoreError&) {
    throw;
  } catch (const std::exception& e) {
    std::string& last = dag_errors_[dag_id];
    if (last != e.what()) log_error("scheduler", "DAG " + dag_id + ": " + e.what());
    last = e.what();
    return false;
  }
}

void Scheduler::sync_files(Timestamp now) {
  SyncReport report = sync_->sync(now);
  for (const std::string& message : report.newly_skipped) log_warn("scheduler", message);
  if (report.parsed > 0) {
    log_info("scheduler", "DAG folder: " + std::to_string(report.files) + " files, " +
                              std::to_string(report.parsed) + " parsed, " +
                              std::to_string(report.stored) + " new versions, " +
                              std::to_string(report.errors) + " with errors" +
                              (report.waiting > 0 ? ", " + std::to_string(report.waiting) +
                                                        " left for the next pass"
                                                  : ""));
    for (const std::string& message : report.error_messages) {
      log_warn("scheduler", "DAG file not loaded:\n" + message);
    }
  }
  last_sync_ = std::move(report);
}

std::optional<Timestamp> Scheduler::create_scheduled_runs(Timestamp now) {
  std::optional<Timestamp> next;
  // Queued runs per DAG (backfills have their own limit), read once a pass
  // and only when some DAG has a run due.
  std::optional<std::map<std::string, int>> queued;
  auto room_for = [&](const std::string& dag_id) {
    if (!queued) {
      queued.emplace();
      for (const RunRecord& run : store_.list_unfinished_runs()) {
        if (run.state == RunState::kQueued && !run.backfill_id && run.type != RunType::kBackfill) {
          ++(*queued)[run.dag_id];
        }
      }
    }
    auto it = queued->find(dag_id);
    return options_.max_queued_runs_per_dag - (it == queued->end() ? 0 : it->second);
  };
  for (const DagRecord& record : dag_records_) {
    if (!record.active || !record.version_id) continue;
    DagDue& due = due_[record.dag_id];
    if (record.paused) {
      due.paused = true;
      continue;
    }
    bool changed = due.version_id != *record.version_id || due.paused;
    if (!changed && due.due && *due.due > now) {
      next = next ? std::min(*next, *due.due) : *due.due;
      continue;
    }
    if (!changed && !due.due && due.version_id != 0) continue;  // nothing ever due
    due.version_id = *record.version_id;
    due.paused = false;
    bool waits_for_room = false;
    bool done = false;
    try {
      done = for_dag(record.dag_id, [&] {
        std::shared_ptr<const Dag> dag = dags_.get(*record.version_id);
        due.due = create_runs_for(record, *dag, *record.version_id, now, room_for(record.dag_id),
                                  waits_for_room);
      });
    } catch (const StoreError&) {
      // The store failed midway: forget what was known of this DAG, so that
      // the pass after the loop's back-off decides it afresh from the store
      // (a DAG left marked as decided would get no scheduled run again).
      due_.erase(record.dag_id);
      throw;
    }
    if (!done) due.due.reset();
    // Runs waiting for room are looked at again in the next pass, which a
    // run that starts or ends brings about; they make no pass due sooner.
    if (due.due && !waits_for_room) next = next ? std::min(*next, *due.due) : *due.due;
  }
  return next;
}

std::optional<Timestamp> Scheduler::create_runs_for(const DagRecord& record, const Dag& dag,
                                                     int64_t version_id, Timestamp now, int room,
                                                     bool& waits_for_room) {
  const Schedule& schedule = dag.schedule;
  if (schedule.kind() == Schedule::Kind::kNone) return std::nullopt;
  if (room <= 0) {
    waits_for_room = true;
    return now;
  }
  ScheduleBounds bounds = dag.bounds();
  std::optional<RunRecord> latest = store_.latest_interval_run(record.dag_id);

  // Every interval that has ended, as far as there is room, in order.
  std::optional<Timestamp> latest_start;
  if (latest) latest_start = latest->interval.start;
  std::vector<DataInterval> todo;
  bool more = false;
  auto next = next_scheduled_interval(schedule, bounds, dag.catchup, latest_start, now);
  while (next && next->end <= now) {
    if (static_cast<int>(todo.size()) >= room) {
      more = true;
      break;
    }
    todo.push_back(*next);
    next = next_scheduled_interval(schedule, bounds, dag.catchup, next->start, now);
  }

  auto dag_ptr = dags_.get(version_id);
  for (const DataInterval& interval : todo) {
    NewRun run = make_new_run(dag, version_id, RunType::kScheduled, interval,
                              nlohmann::json::object(),
                              make_run_id(RunType::kScheduled, interval.start));
    auto created =
        store_.create_run(run, make_decider(dag_ptr, dags_.index(version_id), now), now);
    if (created) {
      ++runs_created_;
      log_info("scheduler", "created run " + dag.id + " " + created->run_id);
    }
  }
  if (more) {
    waits_for_room = true;
    return now;
  }
  if (!next) return std::nullopt;
  return std::max(next->end, now + Millis(1));
}

bool Scheduler::start_queued_runs(Timestamp now, const std::vector<RunRecord>& runs) {
  if (runs.empty()) return false;
  std::map<std::string, int> running;
  std::vector<const RunRecord*> queued;
  for (const RunRecord& run : runs) {
    if (run.state == RunState::kRunning) {
      // A backfill's runs count against the backfill's own limit (BackfillPass).
      if (!run.backfill_id) ++running[run.dag_id];
    } else if (run.state == RunState::kQueued) {
      queued.push_back(&run);
    }
  }
  // Scheduled and manual runs before backfills; older intervals first.
  std::stable_sort(queued.begin(), queued.end(), [](const RunRecord* a, const RunRecord* b) {
    bool a_backfill = a->type == RunType::kBackfill || a->backfill_id;
    bool b_backfill = b->type == RunType::kBackfill || b->backfill_id;
    if (a_backfill != b_backfill) return !a_backfill;
    return a->interval.start < b->interval.start;
  });
  bool started = false;
  for (const RunRecord* run : queued) {
    for_dag(run->dag_id, [&] {
      std::shared_ptr<const Dag> dag = dags_.get(run->version_id);
      int& active = running[run->dag_id];
      if (!run->backfill_id && active >= dag->max_active_runs) return;
      store_.reconcile_run(run->id, make_decider(dag, dags_.index(run->version_id), now, /*start_run=*/true), now);
      if (!run->backfill_id) ++active;
      started = true;
    });
  }
  if (started && tasks_signal_) tasks_signal_->notify();
  return started;
}

bool Scheduler::requeue_due_tasks(Timestamp now) {
  bool any = false;
  for (int64_t run_pk : store_.runs_with_due_tasks(now)) {
    auto run = store_.get_run_by_pk(run_pk);
    if (!run) continue;
    any |= for_dag(run->dag_id, [&] {
      store_.reconcile_run(
          run_pk, make_decider(dags_.get(run->version_id), dags_.index(run->version_id), now), now);
    });
  }
  if (any && tasks_signal_) tasks_signal_->notify();
  return any;
}

void Scheduler::fail_orphaned_tasks(Timestamp now) {
  for (const TaskInstanceRecord& ti : store_.orphaned_tasks(now - options_.heartbeat_timeout)) {
    auto run = store_.get_run_by_pk(ti.run_pk);
    if (!run) continue;
    for_dag(run->dag_id, [&] {
      std::shared_ptr<const Dag> dag = dags_.get(run->version_id);
      const Task* task = dag->find_task(ti.task_id);
      TaskResult result = lost_try_result(
          ti, task, now,
          "worker '" + ti.worker_id + "' stopped heartbeating for more than " +
              format_duration(options_.heartbeat_timeout) + "; try " +
              std::to_string(ti.try_number) + " is lost");
      try {
        store_.finish_task(result, make_decider(dag, dags_.index(run->version_id), now));
        log_warn("scheduler", ti.dag_id + " " + ti.run_id + " " + ti.task_id + ": " + result.error);
      } catch (const ConflictError&) {
        // The worker reported back meanwhile.
      }
    });
  }
}

void Scheduler::decide_waits_on_the_past(Timestamp now, const std::vector<RunRecord>& runs) {
  const uint64_t generation = signal_ ? signal_->generation() : 0;
  if (generation == past_generation_ && now < next_past_check_) return;
  past_generation_ = generation;
  next_past_check_ = now + std::max(options_.idle_poll_interval, options_.poll_interval);
  bool queued = false;
  for (const RunRecord& run : runs) {
    // Runs this pass started were decided as they started.
    if (run.state != RunState::kRunning) continue;
    for_dag(run.dag_id, [&] {
      std::shared_ptr<const DagIndex> index = dags_.index(run.version_id);
      if (!index->any_depends_on_past) return;
      RunDecisions decided =
          store_.reconcile_run(run.id, make_decider(dags_.get(run.version_id), index, now), now);
      for (const TaskTransition& t : decided.tasks) queued |= t.to == TaskState::kQueued;
    });
  }
  if (queued && tasks_signal_) tasks_signal_->notify();
}

void Scheduler::reconcile_all(Timestamp now) {
  for (const RunRecord& run : store_.list_unfinished_runs()) {
    if (run.state != RunState::kRunning) continue;
    for_dag(run.dag_id, [&] {
      store_.reconcile_run(
          run.id, make_decider(dags_.get(run.version_id), dags_.index(run.version_id), now), now);
    });
  }
}

}  // namespace sluice
