#pragma once
// The scheduler loop: syncs DAG files, creates runs, starts them within their
// limits, requeues due retries, fails the tasks of dead workers.

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/store.h"

#include "core/time.h"
#include "engine/dag_sync.h"

namespace sluice {

class Clock;
class DagCache;
class LeaderElector;
class Store;
class WorkSignal;
struct Dag;
struct DagRecord;
struct RunRecord;

/// Scheduler settings; the defaults suit production, tests shorten them.
struct SchedulerOptions {
  std::string dags_folder;           // empty: do not sync files (DAGs come from the store)
  std::string scheduler_id = "scheduler";
  Millis sync_interval{2000};        // how often the DAG folder is checked for changes
  // How long one pass may parse changed DAG files; the rest wait for the
  // next pass, which follows at once.
  Millis sync_parse_budget = DagFolderSync::kDefaultParseBudget;
  Millis poll_interval{50};          // how often to look for runs made by other processes
  // While passes find nothing to do, the poll backs off from poll_interval to
  // this (doubling); any work found or wake-up returns it to poll_interval.
  // Due times (schedules, retries, SLAs, alerts) are kept exactly either way.
  Millis idle_poll_interval{500};
  Millis dag_refresh_interval{1000}; // how often DAG rows (paused, versions) are re-read
  Millis reconcile_interval{10000};  // safety-net pass over every unfinished run
  Millis heartbeat_timeout{30000};   // a worker silent this long has lost its tasks
  // Scheduled runs are created only while a DAG has fewer queued runs (runs
  // waiting for max_active_runs) than this: catch-up from far in the past
  // creates its runs as earlier ones start, not all at once.
  int max_queued_runs_per_dag = 16;
  bool create_scheduled_runs = true;  // false: only runs made elsewhere (`dags test`)
  LeaderElector* leader = nullptr;   // several schedulers (Postgres); null: always leads
};

/// Creates and advances runs. Every decision is readiness (decide_run); the
/// loop only applies decisions through the store.
class Scheduler {
 public:
  /// `signal` wakes the loop (runs changed); `tasks_signal` is notified when
  /// the scheduler queued tasks (default: `signal`).
  Scheduler(Store& store, DagCache& dags, const Clock& clock, SchedulerOptions options,
            WorkSignal* signal = nullptr, WorkSignal* tasks_signal = nullptr);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  /// Runs passes until `stop` is set; wakes early on the work signal.
  void run(const std::atomic<bool>& stop);
  /// One pass. Returns when the next pass is due at the latest.
  Timestamp tick();

  /// A further pass run at the end of every tick (alert delivery, SLA checks,
  /// backfills). It returns when it next wants to run, if it knows.
  using Pass = std::function<std::optional<Timestamp>(Timestamp now)>;
  void add_pass(std::string name, Pass pass);

  /// The last sync report (for logging and `dags list`).
  const SyncReport& last_sync() const { return last_sync_; }

 private:
  void sync_files(Timestamp now);
  std::optional<Timestamp> create_scheduled_runs(Timestamp now);
  /// Creates at most `room` of the DAG's due runs. Returns when its next run
  /// falls due; `now`, with `waits_for_room` set, when due runs remain.
  std::optional<Timestamp> create_runs_for(const DagRecord& record, const Dag& dag,
                                           int64_t version_id, Timestamp now, int room,
                                           bool& waits_for_room);
  /// Each returns whether it changed something (an active pass).
  bool start_queued_runs(Timestamp now, const std::vector<RunRecord>& runs);
  bool requeue_due_tasks(Timestamp now);
  void fail_orphaned_tasks(Timestamp now);
  void reconcile_all(Timestamp now);
  /// Decides again the running runs of DAGs with depends_on_past tasks,
  /// whose waits end when an earlier run's task ends: on a wake-up (a worker
  /// reports such an end) and at least every idle poll.
  void decide_waits_on_the_past(Timestamp now, const std::vector<RunRecord>& runs);
  /// Keeps the duration of the pass that started at `started` and, every
  /// kMetricsWriteInterval, adds the kept ones to the store
  /// (sluice_scheduler_loop_duration_seconds, read by any web server).
  void record_pass(std::chrono::steady_clock::time_point started, Timestamp now);
  /// A standby's pass: records its heartbeat (leader = false) and nothing else.
  void standby_heartbeat(Timestamp now);
  /// Forgets per-leadership caches, so a new term starts with a full pass.
  void on_became_leader();
  /// Does one DAG's share of a pass. Any error but the store's costs only
  /// that DAG: it is logged with the DAG id (once while it repeats) and the
  /// pass goes on; a store error still ends the pass, which the loop waits out.
  /// Returns whether `step` finished.
  bool for_dag(const std::string& dag_id, const std::function<void()>& step);

  Store& store_;
  DagCache& dags_;
  const Clock& clock_;
  SchedulerOptions options_;
  WorkSignal* signal_;
  bool active_ = false;     // the last tick changed something
  size_t runs_created_ = 0;  // scheduled runs created so far
  WorkSignal* tasks_signal_;
  std::unique_ptr<DagFolderSync> sync_;
  SyncReport last_sync_;
  Timestamp next_sync_{};
  Timestamp next_reconcile_{};
  Timestamp next_orphan_check_{};
  Timestamp next_heartbeat_{};
  Timestamp next_dag_refresh_{};
  Timestamp next_past_check_{};
  uint64_t past_generation_ = 0;  // the wake-up decide_waits_on_the_past last answered
  std::vector<DagRecord> dag_records_;
  /// Per DAG: the version last seen and when its next scheduled run falls due,
  /// so idle passes query nothing per DAG.
  struct DagDue {
    int64_t version_id = 0;
    bool paused = false;
    std::optional<Timestamp> due;
  };
  std::map<std::string, DagDue> due_;
  std::map<std::string, std::string> dag_errors_;  // DAG id -> the error last logged
  std::vector<std::pair<std::string, Pass>> passes_;
  std::vector<MetricSample> pass_durations_;  // not yet in the store
  Timestamp next_metrics_write_{};
};

}  // namespace sluice
