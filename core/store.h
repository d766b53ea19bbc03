#pragma once
// The metadata store: every DAG, run, task instance, log, worker and alert.
// One interface, two implementations (SqliteStore, PostgresStore); every
// operation is one transaction.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/schedule.h"
#include "core/states.h"
#include "core/time.h"
#include "core/watermark.h"

namespace sluice {

/// A DAG as the store knows it.
struct DagRecord {
  std::string dag_id;
  std::string file;
  bool paused = false;
  bool active = true;  // false once its file is gone
  int max_active_tasks = 16;
  std::optional<int64_t> version_id;  // latest version
  std::string parse_error;            // set when the file last failed to load
  Timestamp updated_at{};
};

/// One stored version of a DAG: the raw YAML and its parsed definition.
struct DagVersion {
  int64_t id = 0;
  std::string dag_id;
  std::string content_hash;
  std::string yaml;
  nlohmann::json definition;  // dag_to_json() of the parsed DAG
  Timestamp created_at{};
};

/// A parse error of a file that did not load.
struct FileError {
  std::string file;
  std::string dag_id;  // empty when the id could not be read
  std::string message;  // every diagnostic, one per line
  Timestamp at{};
};

/// A DAG run.
struct RunRecord {
  int64_t id = 0;  // primary key
  std::string dag_id;
  std::string run_id;  // "scheduled__2026-02-03T02:00:00Z"
  RunType type = RunType::kManual;
  RunState state = RunState::kQueued;
  int64_t version_id = 0;
  DataInterval interval{};
  nlohmann::json conf = nlohmann::json::object();
  std::optional<int64_t> backfill_id;
  Timestamp created_at{};
  std::optional<Timestamp> started_at;
  std::optional<Timestamp> ended_at;
};

/// A task instance: one task in one run (one item of a mapped task).
struct TaskInstanceRecord {
  int64_t id = 0;
  int64_t run_pk = 0;
  std::string dag_id;
  std::string run_id;
  std::string task_id;
  int map_index = -1;
  TaskState state = TaskState::kNone;
  int try_number = 0;  // tries started so far
  int max_tries = 1;   // 1 + retries
  std::string pool = "default";
  int pool_slots = 1;
  int priority = 0;
  std::string queue = "default";
  std::optional<Timestamp> queued_at;
  std::optional<Timestamp> started_at;
  std::optional<Timestamp> ended_at;
  std::optional<Timestamp> next_try_at;       // up_for_retry / up_for_reschedule
  std::optional<Timestamp> first_started_at;  // first try or first sensor check
  std::string worker_id;
  std::optional<int> exit_code;
  nlohmann::json outputs = nlohmann::json::object();
  nlohmann::json rendered;  // rendered spec, secrets masked; null until rendered
  std::string error;
  std::optional<Timestamp> marked_at;  // when the state was set by hand (tasks mark)
  std::string marked_by;               // who set it: "cli: user@host", "api: address"
};

/// The light view of a task instance the readiness decision reads.
struct TaskStateView {
  int64_t id = 0;
  std::string task_id;
  int map_index = -1;
  TaskState state = TaskState::kNone;
  int try_number = 0;
  int max_tries = 1;
  std::optional<Timestamp> next_try_at;
};

/// What a decider sees: one run and all its task instances.
struct RunSnapshot {
  RunRecord run;
  std::vector<TaskStateView> tasks;
  /// States of the same tasks in the run of the previous interval (for
  /// depends_on_past); filled only when the decider asks for it.
  std::map<std::string, TaskState> previous_interval;
  bool has_previous_run = false;
  /// Only the decider's scope was loaded, and tasks outside it are still
  /// unfinished: the decision must not end the run.
  bool partial = false;
};

/// A compare-and-set change of one task instance's state.
struct TaskTransition {
  int64_t ti_id = 0;
  TaskState from = TaskState::kNone;
  TaskState to = TaskState::kNone;
  std::optional<Timestamp> next_try_at;
  std::string error;  // e.g. the upstream that failed
};

/// An alert to write to the outbox, in the same transaction as the change
/// that caused it.
struct AlertEvent {
  std::string event;  // failure, task_failure, retry, sla_miss, recovery, success
  std::string dag_id;
  std::string run_id;
  std::string task_id;
  nlohmann::json payload;  // the body to POST, fully formed
};

/// What a decider wants done to a run.
struct RunDecisions {
  std::vector<TaskTransition> tasks;
  std::optional<RunState> run_state;
  std::vector<AlertEvent> alerts;
  /// Decided on a partial snapshot, and the decisions reach tasks that were
  /// not loaded (a task became skipped or upstream_failed and its downstream
  /// tasks are missing): the store must decide again on the whole run and
  /// apply that decision instead.
  bool incomplete = false;
};

/// What the store reads for a decision that ends a run, for its alerts: the
/// state of the DAG's previous finished run (recovery) and, per failed task
/// instance, its error and the last lines of its latest try's log.
struct RunEndContext {
  std::optional<RunState> previous_run_state;
  struct FailedTask {
    std::string error;
    std::string log_tail;
  };
  std::map<int64_t, FailedTask> failed;  // by task instance id
};

/// Decides what changes in a run given its snapshot; pure, runs inside the
/// store's transaction.
struct Decider {
  std::function<RunDecisions(const RunSnapshot&)> decide;
  bool needs_previous_interval = false;
  /// Called (in the same transaction) only when `decide` ended the run, with
  /// what the store read for it; adds run-level alerts to the decisions.
  std::function<void(const RunSnapshot&, const RunEndContext&, RunDecisions&)> on_run_end{};
  /// The tasks a decision after `task_id` finished depends on: that task, its
  /// downstream tasks and their upstream tasks (and, for a capped mapped
  /// task, its own upstream tasks). When set, finish_task loads
  /// only their instances while other tasks are still unfinished (the
  /// snapshot is then `partial`), so a finish costs the same in a run of ten
  /// tasks or ten thousand; the run's last finish loads every instance.
  std::function<std::vector<std::string>(const std::string& task_id)> scope{};
  /// Optional, with `scope`: true when every other task of scope(task_id) is
  /// downstream of `task_id`. A store may then predict the snapshot of a
  /// successful finish (those tasks still `none`, the run still running with
  /// other tasks unfinished), decide on it before it reads anything, and send
  /// the decisions with the finish; it checks the prediction under the run's
  /// lock and falls back to reading the snapshot when it does not hold. This
  /// is only about cost: the decisions are the same either way.
  std::function<bool(const std::string& task_id)> predictable{};
};

/// What a store reads, inside its transaction, while a run is decided.
struct RunReads {
  /// Every task instance of the run.
  std::function<std::vector<TaskStateView>()> whole_run;
  /// (task id, state) of each instance of the previous interval's run (the
  /// same DAG's scheduled or backfill run with the greatest interval start
  /// before this run's); nullopt when there is no such run.
  std::function<std::optional<std::vector<std::pair<std::string, TaskState>>>()>
      previous_interval;
  std::function<RunEndContext(const RunSnapshot&)> run_end_context;
};

/// The decisions for `snap`, made the same way by every store: fills in the
/// previous interval's states when the decider needs them (a mapped task
/// counts as its worst unsuccessful instance), decides, decides again on the
/// whole run when a partial snapshot's decision is incomplete (`snap` then
/// holds the whole run), and adds the run-end alerts when the run ended. The
/// store then applies the transitions as compare-and-sets.
RunDecisions decide_run(RunSnapshot& snap, const Decider& decider, const RunReads& reads);

/// A run to create, with the task instances it starts with.
struct NewRun {
  std::string dag_id;
  std::string run_id;
  RunType type = RunType::kManual;
  int64_t version_id = 0;
  DataInterval interval{};
  nlohmann::json conf = nlohmann::json::object();
  std::optional<int64_t> backfill_id;
  RunState state = RunState::kQueued;
  struct Task {
    std::string task_id;
    int max_tries = 1;
    std::string pool = "default";
    int priority = 0;
    std::string queue = "default";
  };
  std::vector<Task> tasks;
};

/// What a worker asks for when it claims work.
struct ClaimRequest {
  std::string worker_id;
  std::vector<std::string> queues = {"default"};
  Timestamp now{};
  int max_tasks = 1;
};

/// A claimed task instance, now running on the claiming worker, with what the
/// worker needs to run it.
struct ClaimedTask {
  TaskInstanceRecord task;
  RunRecord run;
};

/// One data check's result for one try of a check task (check_results).
struct CheckResultRecord {
  // Set by the store from the task instance and its run.
  int64_t ti_id = 0;
  int try_number = 0;
  std::string dag_id;
  std::string run_id;
  std::string task_id;
  int map_index = -1;
  Timestamp interval_start{};
  Timestamp interval_end{};
  Timestamp recorded_at{};
  // Set by the check.
  int seq = 0;            // the check's position in its task, from 0
  std::string name;       // unique within the task
  std::string kind;       // not_null, unique, ...
  std::string severity;   // error | warn
  std::string status;     // pass | fail | warn (failed, severity warn) | error (could not run)
  std::string actual;     // what was found, for a person: "3 NULL rows"
  std::optional<double> value;  // the measured number charted over time, when there is one
  std::string threshold;  // what passes: "= 0", "<= 1%"
};

/// Which check results to list (newest interval first).
struct CheckResultFilter {
  std::string dag_id;                         // required
  std::string task_id;                        // empty for every task
  std::string name;                           // empty for every check
  std::optional<int64_t> ti_id;               // one task instance's tries
  std::optional<Timestamp> before_interval;   // interval_start strictly before
  bool passed_only = false;                   // status pass
  int limit = 100;
  int offset = 0;
};

/// The end of one try, as the worker reports it.
struct TaskResult {
  int64_t ti_id = 0;
  std::string task_id;  // lets the store load only the decider's scope (Decider::scope)
  int try_number = 0;
  std::string worker_id;  // must match the claimer; empty skips the check
  TaskState state = TaskState::kSuccess;  // success, failed, up_for_retry,
                                          // up_for_reschedule, skipped
  std::optional<int> exit_code;
  nlohmann::json outputs = nlohmann::json::object();
  nlohmann::json rendered;  // rendered spec, secrets masked
  std::string error;
  std::optional<Timestamp> next_try_at;
  Timestamp ended_at{};
  // A depends_on_past task ended in success or skipped: the same task in the
  // next interval's run may start now, so the finish wakes the schedulers.
  bool frees_next_interval = false;
  std::string final_log;  // the log's last unflushed bytes, stored in the same transaction
  int final_log_seq = 0;
  // When set, the same transaction also claims the worker's next task(s), so
  // that a hop down a chain costs one transaction, not two.
  std::optional<ClaimRequest> claim_next;
  // A check task's results, stored with the finish (check_results).
  std::vector<CheckResultRecord> checks;
  // An incremental extract's high-water mark: stored with a successful
  // finish, in its transaction, unless the stored mark is greater (a
  // backfill or a concurrent run's earlier finish never moves it back).
  std::optional<Watermark> watermark;
};

/// What changed when a task finished.
struct FinishOutcome {
  int queued = 0;  // task instances newly queued in the run
  std::optional<RunState> run_state;  // set when the run ended
  std::vector<ClaimedTask> claimed;   // TaskResult::claim_next's tasks
  bool more_queued = false;  // with claim_next: queued tasks were left for other slots

  /// Takes in what applying a run's decisions did: `queued` instances
  /// queued, and the run's state when `applied` ended the run.
  void add_applied(int queued_now, const RunDecisions& applied) {
    queued = queued_now;
    if (applied.run_state && is_finished(*applied.run_state)) run_state = applied.run_state;
  }
};

struct RunFilter {
  std::string dag_id;  // empty: all
  std::optional<RunState> state;
  std::optional<RunType> type;
  int limit = 50;
  int offset = 0;
  /// Newest created first (what `latest` means) instead of the newest
  /// data interval first.
  bool newest_created_first = false;
};

/// One log chunk's bytes, and where the next read starts.
struct LogSlice {
  std::string data;
  int64_t next_offset = 0;
  int64_t size = 0;  // every byte stored for the try so far
};

/// How a worker's note begins when a try's log reached logs.max_bytes_per_try
/// and later output was dropped; it ends the stored log.
constexpr std::string_view kLogTruncatedNote = "[sluice] log truncated: ";

/// A worker process as registered in the store.
struct WorkerRecord {
  std::string id;
  std::string host;
  int pid = 0;
  int slots = 0;
  std::vector<std::string> queues;
  Timestamp started_at{};
  Timestamp last_heartbeat{};
  std::string state = "running";  // running | draining | stopped
};

/// A scheduler process as its heartbeat last recorded it.
struct SchedulerRecord {
  std::string id;
  std::string host;
  bool leader = false;
  int64_t epoch = 0;  // leadership term
  Timestamp last_heartbeat{};
  Millis loop_lag{0};  // how late its last loop iteration ran
};

/// Durations (end - start) of task instances that ended in a window, as a
/// cumulative histogram: counts[i] is how many took at most bounds[i].
struct DurationHistogram {
  std::vector<Millis> bounds;
  std::vector<int64_t> counts;
  int64_t count = 0;  // all of them (the +Inf bucket)
  Millis sum{0};
};

/// An alert outbox row.
struct AlertRecord {
  int64_t id = 0;
  std::string event_id;  // unique, for receivers to deduplicate
  std::string event;
  std::string dag_id;
  std::string run_id;
  std::string task_id;
  nlohmann::json payload;
  int attempts = 0;
  Timestamp created_at{};
  std::optional<Timestamp> next_attempt_at;
  std::optional<Timestamp> delivered_at;
  std::optional<int> last_status;  // the receiver's HTTP status at the last attempt
  std::string last_error;          // why the last attempt failed ("" after success)
};

/// A backfill: a date range of one DAG the scheduler works through.
struct BackfillRecord {
  int64_t id = 0;
  std::string dag_id;
  Timestamp range_from{};  // first interval start covered
  Timestamp range_to{};    // last interval start covered (inclusive)
  std::string reprocess = "none";  // none | failed | all
  int max_active_runs = 1;
  bool backwards = false;
  nlohmann::json conf = nlohmann::json::object();
  std::string state = "running";  // running | success | failed | canceled
  Timestamp created_at{};
  std::optional<Timestamp> finished_at;
  int total_runs = 0;  // intervals it creates or re-runs
  int succeeded_runs = 0;
  int failed_runs = 0;
};

/// One data interval of a backfill's plan, and the run that carries it out.
struct BackfillIntervalRecord {
  DataInterval interval{};
  std::string action;  // create | rerun | skip
  std::string reason;  // missing | failed | completed | running | outside_bounds
  std::optional<int64_t> run_pk;
  // Of the run, when run_pk is set and the run still exists.
  std::string run_id;
  std::optional<RunState> run_state;
};

/// An armed SLA timer: when `due_at` passes, the scheduler checks whether the
/// run (or task) met its SLA. Unique per (dag, run, task, kind).
struct SlaTimer {
  int64_t id = 0;
  std::string dag_id;
  std::string run_id;
  std::string task_id;  // '' for a run-level SLA
  std::string kind;     // max_duration | deadline | sla (task) | freshness
  Timestamp due_at{};
};

/// A recorded SLA miss.
struct SlaMissRecord {
  int64_t id = 0;
  std::string dag_id;
  std::string run_id;
  std::string task_id;
  std::string kind;
  Timestamp deadline{};
  Timestamp detected_at{};
  bool alerted = false;
};

/// Schema version applied and known.
struct SchemaStatus {
  int current = 0;  // highest applied, 0 when none
  int latest = 0;   // highest this binary carries
  std::vector<std::string> applied;
  std::vector<std::string> pending;
};

/// DAG files, their stored versions and pools.
class DagCatalog {
 public:
  virtual ~DagCatalog() = default;

  // DAGs.
  /// Stores a parsed DAG file: upserts the DAG row (keeping `paused` of an
  /// existing DAG; a new DAG starts with `initially_paused`), adds a version
  /// when the hash is new, clears the file's parse error. Returns the version id.
  virtual int64_t upsert_dag(const std::string& dag_id, const std::string& file,
                             const std::string& content_hash, const std::string& yaml,
                             const nlohmann::json& definition, bool initially_paused,
                             int max_active_tasks, Timestamp now) = 0;
  /// Records that `file` failed to load; a DAG already loaded from it keeps
  /// its last good version.
  virtual void set_file_error(const FileError& error) = 0;
  virtual void clear_file_error(const std::string& file) = 0;
  virtual std::vector<FileError> list_file_errors() = 0;
  /// Marks DAGs whose file is not in `present_files` inactive, and present ones active.
  virtual void set_active_files(const std::vector<std::string>& present_files) = 0;
  virtual std::vector<DagRecord> list_dags() = 0;
  virtual std::optional<DagRecord> get_dag(const std::string& dag_id) = 0;
  virtual void set_paused(const std::string& dag_id, bool paused) = 0;
  virtual DagVersion get_version(int64_t version_id) = 0;

  // Pools.
  virtual void set_pools(const std::map<std::string, int>& slots) = 0;
  virtual std::map<std::string, int> list_pools() = 0;
};

/// Runs and their task instances: creating runs, claiming, finishing, clearing,
/// marking and cancelling tries. Every change that can make tasks ready applies
/// a Decider in the same transaction.
class RunQueue {
 public:
  virtual ~RunQueue() = default;

  // Runs.
  /// Creates the run and its task instances, then applies `decider` to it,
  /// all in one transaction. Returns nullopt when a scheduled or backfill run
  /// for that DAG and interval start already exists (manual runs never clash
  /// unless their run_id does, which throws ConflictError).
  virtual std::optional<RunRecord> create_run(const NewRun& run, const Decider& decider,
                                              Timestamp now) = 0;
  virtual std::optional<RunRecord> get_run(const std::string& dag_id,
                                           const std::string& run_id) = 0;
  virtual std::optional<RunRecord> get_run_by_pk(int64_t run_pk) = 0;
  /// Runs, newest interval first.
  virtual std::vector<RunRecord> list_runs(const RunFilter& filter) = 0;
  /// How many runs `filter` selects, whatever its limit and offset.
  virtual int64_t count_runs(const RunFilter& filter) = 0;
  /// The scheduled or backfill run with the latest interval start, if any.
  virtual std::optional<RunRecord> latest_interval_run(const std::string& dag_id) = 0;
  /// Runs not finished, oldest first (for the scheduler's reconcile pass).
  virtual std::vector<RunRecord> list_unfinished_runs() = 0;
  /// Loads the run's snapshot, applies `decider`, in one transaction.
  virtual RunDecisions reconcile_run(int64_t run_pk, const Decider& decider, Timestamp now) = 0;

  // Task instances.
  virtual std::vector<TaskInstanceRecord> list_task_instances(int64_t run_pk) = 0;
  virtual std::optional<TaskInstanceRecord> get_task_instance(int64_t ti_id) = 0;
  /// Claims up to `max_tasks` queued task instances for the worker: queued ->
  /// running, try_number + 1, started_at = now; respects pool slots and each
  /// DAG's max_active_tasks. Order: scheduled and manual runs before
  /// backfills, then higher priority, then earlier queued.
  virtual std::vector<ClaimedTask> claim_tasks(const ClaimRequest& request) = 0;
  /// Ends a try (compare-and-set: running, same try, same worker), stores the
  /// final log chunk, then applies `decider` to the run and, with
  /// `result.claim_next`, claims as claim_tasks does: one transaction.
  /// Throws ConflictError when the task is no longer this worker's try.
  virtual FinishOutcome finish_task(const TaskResult& result, const Decider& decider) = 0;
  /// Runs with a task in up_for_retry / up_for_reschedule due at or before `now`.
  virtual std::vector<int64_t> runs_with_due_tasks(Timestamp now) = 0;
  /// The earliest next_try_at of any waiting task, for the scheduler's sleep.
  virtual std::optional<Timestamp> next_due_time() = 0;
  /// Sets the given task instances back to none (tries granted again) and a
  /// finished run back to queued (the scheduler starts it again within
  /// max_active_runs, like any other run), then applies `decider`. Returns
  /// how many were cleared.
  virtual int clear_task_instances(int64_t run_pk, const std::vector<int64_t>& ti_ids,
                                   const Decider& decider, Timestamp now) = 0;
  /// Expands a mapped task: its placeholder instance (map_index -1, running
  /// as `try_number` on `worker_id`) becomes instance 0 and instances 1..N-1
  /// are added, each in state none with its item (JSON) stored and its tries
  /// fresh; then applies `decider` (which queues them). `items` is not empty.
  /// One transaction. Throws ConflictError when the placeholder is no longer
  /// that try.
  virtual FinishOutcome expand_mapped_task(int64_t ti_id, int try_number,
                                           const std::string& worker_id,
                                           const std::vector<nlohmann::json>& items,
                                           const Decider& decider, Timestamp now) = 0;
  /// The item a mapped task instance runs with; null when it has none.
  virtual nlohmann::json get_map_item(int64_t ti_id) = 0;
  /// Sets a task instance's state by hand (tasks mark), records `marked_by`
  /// and `now` as who and when, then applies `decider`. The try's times and
  /// exit code stay as the try left them; a try still running is ended at
  /// `now` (its worker stops it).
  virtual void mark_task_instance(int64_t ti_id, TaskState state, const std::string& marked_by,
                                  const Decider& decider, Timestamp now) = 0;
  /// Cancels a run: unfinished tasks -> canceled, run -> canceled.
  virtual void cancel_run(int64_t run_pk, Timestamp now) = 0;
  /// Of `ti_ids` (tries this worker is running), those no longer running as
  /// that try (canceled, cleared, marked): the worker stops them.
  virtual std::vector<int64_t> tasks_to_stop(const std::string& worker_id,
                                             const std::vector<int64_t>& ti_ids) = 0;
  /// Task instances running as `worker_id`'s tries.
  virtual std::vector<TaskInstanceRecord> running_on_worker(const std::string& worker_id) = 0;
  /// Hands back a try that `worker_id` claimed but never started (the
  /// claim's commit went unanswered): the instance is queued again and its
  /// try number is given again to the next claim, so no try is used up by a
  /// process that never ran. False when the instance no longer runs try
  /// `try_number` on that worker.
  virtual bool release_claim(int64_t ti_id, int try_number, const std::string& worker_id) = 0;
  /// Running task instances whose worker's last heartbeat is before `cutoff`
  /// (or whose worker is unknown).
  virtual std::vector<TaskInstanceRecord> orphaned_tasks(Timestamp cutoff) = 0;
};

/// The logs of tries, in chunks.
class LogStore {
 public:
  virtual ~LogStore() = default;

  // Logs.
  /// Appends a chunk of a try's log. `seq` orders chunks within the try.
  virtual void append_log(int64_t ti_id, int try_number, int seq, const std::string& data) = 0;
  /// Bytes of a try's log from `offset`, at most `limit` bytes.
  virtual LogSlice read_log(int64_t ti_id, int try_number, int64_t offset,
                            int64_t limit = 1 << 20) = 0;
};

/// Workers and schedulers: registration, heartbeats and the figures /metrics shows.
class WorkerRegistry {
 public:
  virtual ~WorkerRegistry() = default;

  // Workers and schedulers.
  virtual void register_worker(const WorkerRecord& worker) = 0;
  virtual void heartbeat_worker(const std::string& worker_id, Timestamp now) = 0;
  virtual void set_worker_state(const std::string& worker_id, const std::string& state) = 0;
  virtual std::vector<WorkerRecord> list_workers() = 0;
  virtual void heartbeat_scheduler(const std::string& scheduler_id, const std::string& host,
                                   bool leader, Millis loop_lag, Timestamp now) = 0;
  /// Every scheduler that ever sent a heartbeat, by id.
  virtual std::vector<SchedulerRecord> list_schedulers() = 0;
  /// The durations of task instances that ended at or after `since`, over
  /// the ascending upper `bounds`; one query.
  virtual DurationHistogram task_duration_histogram(Timestamp since,
                                                    const std::vector<Millis>& bounds) = 0;
};

/// Alerts waiting for delivery, and their delivery record.
class AlertOutbox {
 public:
  virtual ~AlertOutbox() = default;

  // Alerts. Each DAG's alerts (those without a DAG: one more sequence) are
  // delivered in id order, which is their commit order.

  /// Claims the first due alert, in id order, that is the earliest open one
  /// of its DAG (open: neither delivered nor given up) and not claimed by
  /// another deliverer until after `now`; its claim lasts until
  /// `claim_until`. nullopt when none is. Atomic: two deliverers never hold
  /// the same alert, nor two alerts of one DAG.
  virtual std::optional<AlertRecord> claim_next_alert(Timestamp now, Timestamp claim_until) = 0;
  /// Records the delivery (`status`: the receiver's 2xx) and frees the next
  /// alert of the DAG. False when the alert was delivered already: it is
  /// never marked twice.
  virtual bool mark_alert_delivered(int64_t alert_id, int status, Timestamp now) = 0;
  /// Records a failed attempt: the HTTP `status` (nullopt: no answer) and
  /// `error`; the next attempt at `next_attempt_at` (nullopt: given up, which
  /// frees the next alert of the DAG). False when it was delivered or given
  /// up already.
  virtual bool mark_alert_failed(int64_t alert_id, std::optional<int> status,
                                 const std::string& error,
                                 std::optional<Timestamp> next_attempt_at) = 0;
  virtual std::vector<AlertRecord> list_alerts(bool undelivered_only, int limit) = 0;
};

/// Backfills and their planned intervals.
class BackfillLedger {
 public:
  virtual ~BackfillLedger() = default;

  // Backfills.
  /// Stores a backfill (state running) and its planned intervals in one
  /// transaction. Returns its id.
  virtual int64_t create_backfill(const BackfillRecord& backfill,
                                  const std::vector<BackfillIntervalRecord>& intervals) = 0;
  virtual std::optional<BackfillRecord> get_backfill(int64_t id) = 0;
  /// Newest first; `dag_id` empty for all DAGs, `running_only` for the
  /// scheduler's pass.
  virtual std::vector<BackfillRecord> list_backfills(const std::string& dag_id,
                                                     bool running_only, int limit) = 0;
  /// The plan in interval order, each with its run's id and state.
  virtual std::vector<BackfillIntervalRecord> list_backfill_intervals(int64_t backfill_id) = 0;
  /// Records what became of one planned interval (the run that carries it
  /// out, or a skip with its reason). Returns the backfill's state.
  virtual std::string update_backfill_interval(int64_t backfill_id, Timestamp interval_start,
                                               const std::string& action,
                                               const std::string& reason,
                                               std::optional<int64_t> run_pk) = 0;
  /// Stores the state and counts of a backfill that is still running (a
  /// finished state sets finished_at = now). Returns false, changing nothing,
  /// when it is no longer running (canceled meanwhile) or does not exist.
  virtual bool update_backfill(int64_t id, const std::string& state, int total_runs,
                               int succeeded_runs, int failed_runs, Timestamp now) = 0;
  /// Clears a finished run in place for a backfill: run -> queued (started
  /// and ended unset), every task instance -> none with its tries granted
  /// again, backfill_id set, conf replaced unless `conf` is empty. Returns
  /// false, changing nothing, when the run is queued or running.
  virtual bool rerun_for_backfill(int64_t run_pk, int64_t backfill_id,
                                  const nlohmann::json& conf, Timestamp now) = 0;
  /// The scheduled and backfill runs of a DAG whose interval starts in
  /// [from, to], in interval order.
  virtual std::vector<RunRecord> list_interval_runs(const std::string& dag_id, Timestamp from,
                                                    Timestamp to) = 0;
};

/// SLA timers and the misses they record.
class SlaTimers {
 public:
  virtual ~SlaTimers() = default;

  // SLAs.
  /// Stores a timer unless one with the same key exists. Returns true when new.
  virtual bool arm_sla_timer(const SlaTimer& timer) = 0;
  /// Unfired timers due at or before `now`, earliest first.
  virtual std::vector<SlaTimer> due_sla_timers(Timestamp now, int limit) = 0;
  /// The earliest unfired timer's due time, for the scheduler's sleep.
  virtual std::optional<Timestamp> next_sla_due() = 0;
  /// Marks the timer fired and, with `miss`, records the miss (once per key)
  /// and writes `alert` to the outbox when the miss is new: one transaction.
  /// Returns true when a new miss was recorded.
  virtual bool fire_sla_timer(int64_t timer_id, const std::optional<SlaMissRecord>& miss,
                              const std::optional<AlertEvent>& alert, Timestamp now) = 0;
  /// Recorded misses, newest first; `dag_id` empty for every DAG.
  virtual std::vector<SlaMissRecord> list_sla_misses(const std::string& dag_id, int limit) = 0;
  /// The DAG's latest successful run (by end time), if any.
  virtual std::optional<RunRecord> last_successful_run(const std::string& dag_id) = 0;
};

/// Data check results, per try of a check task.
class CheckLedger {
 public:
  virtual ~CheckLedger() = default;

  /// Results matching `filter`, newest interval first, then by try
  /// (newest first) and position in the task.
  virtual std::vector<CheckResultRecord> list_check_results(const CheckResultFilter& filter) = 0;
  /// How many results `filter` selects, whatever its limit and offset.
  virtual int64_t count_check_results(const CheckResultFilter& filter) = 0;
};

/// The high-water marks of incremental extracts, one per (DAG, task). A
/// successful finish moves a mark forward (TaskResult::watermark); these
/// read and move it by hand.
class WatermarkStore {
 public:
  virtual ~WatermarkStore() = default;

  // Watermarks.
  virtual std::optional<Watermark> get_watermark(const std::string& dag_id,
                                                 const std::string& task_id) = 0;
  /// Stores `mark` as it is, backwards too (tasks watermark --set).
  virtual void set_watermark(const Watermark& mark) = 0;
  /// Removes the mark: the next run reads every row. False when there was none.
  virtual bool delete_watermark(const std::string& dag_id, const std::string& task_id) = 0;
};

/// Upper bounds of the buckets of every stored histogram, in microseconds:
/// 10 ms to 6 h, which covers a scheduler pass, a DAG file parse, a queue
/// wait and an ELT task. Changing them needs no migration, but counts stored
/// under a bound no longer listed are shown under the next listed one.
inline constexpr int64_t kMetricBucketsUs[] = {
    10'000,        25'000,        50'000,        100'000,         250'000,
    500'000,       1'000'000,     2'500'000,     5'000'000,       10'000'000,
    30'000'000,    60'000'000,    120'000'000,   300'000'000,     600'000'000,
    900'000'000,   1'800'000'000, 3'600'000'000, 7'200'000'000,   21'600'000'000};

/// A measurement made in a process rather than in the store (a scheduler
/// pass, a DAG file parse), for a stored histogram or counter.
struct MetricSample {
  std::string name;                 // e.g. scheduler_loop, dag_parse, dag_parse_errors
  std::optional<int64_t> value_us;  // a histogram's sample; unset: add 1 to a counter
};

/// One stored counter, or one bucket of a stored histogram (not cumulative:
/// the samples above the next lower bound, up to `le_us`).
struct MetricCounter {
  std::string name;
  std::string dag_id;
  std::string label;  // task type, delivery result
  std::string state;
  int64_t le_us = 0;  // 0: a plain counter; -1: the bucket above the last bound
  int64_t value = 0;
  int64_t sum_us = 0;  // of the bucket's samples
};

/// What /metrics reads from the store: the stored counters and histograms,
/// and the gauges counted from current rows, in one read.
struct MetricsSnapshot {
  std::vector<MetricCounter> counters;
  std::map<std::string, int64_t> runs_by_state;
  std::map<std::string, int64_t> unfinished_run_tasks_by_state;  // of queued and running runs
  int64_t undelivered_alerts = 0;
  std::optional<Timestamp> oldest_undelivered_alert;  // its created_at
  struct PoolUse {
    int64_t slots = 0;   // configured, or the default
    int64_t used = 0;    // pool slots of running task instances
    int64_t queued = 0;  // pool slots of queued task instances
  };
  std::map<std::string, PoolUse> pools;  // configured pools and pools in use
};

/// Counters and histograms kept in the store, so that every process (the
/// web server may be another one than the scheduler) reads the same figures
/// and they survive restarts and `db clean`. The store's triggers record
/// runs, task instances, tries, alert deliveries and SLA misses as events
/// (see the migration that adds metric_events); processes add their own
/// measurements here. Events are folded into the counters by both calls.
class MetricsLedger {
 public:
  virtual ~MetricsLedger() = default;

  /// Adds measurements, then folds the pending events; one transaction.
  virtual void add_metric_samples(const std::vector<MetricSample>& samples) = 0;
  /// Folds the pending events, then reads the counters and gauges; one
  /// transaction of aggregate queries (GROUP BY), none of which reads
  /// finished runs' task instances.
  virtual MetricsSnapshot read_metrics() = 0;
};

/// The metadata store: every aggregate above, plus the schema and
/// housekeeping. Code that needs one aggregate may take it alone. Thread-safe: each implementation serialises or pools
/// its connections. Every method is one transaction; errors are StoreError
/// (retryable() when the same call may succeed later), ConflictError for a
/// failed compare-and-set, NotFoundError for a missing row.
class Store : public DagCatalog,
              public RunQueue,
              public LogStore,
              public WorkerRegistry,
              public AlertOutbox,
              public BackfillLedger,
              public SlaTimers,
              public CheckLedger,
              public WatermarkStore,
              public MetricsLedger {
 public:
  virtual ~Store() = default;

  /// Opens `url` ("sqlite://PATH", "postgresql://..." or a libpq key=value
  /// string). Does not migrate. Throws UserError for a malformed URL and
  /// StoreError when the database cannot be reached.
  static std::unique_ptr<Store> open(const std::string& url);

  // Schema.
  virtual SchemaStatus schema_status() = 0;
  /// Applies pending migrations in order, each in its own transaction.
  virtual SchemaStatus migrate() = 0;
  /// Throws SchemaError naming `sluice db migrate` unless the schema is current.
  void require_current_schema();

  // Housekeeping.
  /// Deletes finished runs that ended before `cutoff`, with their task
  /// instances and logs, in transactions of at most `batch` runs. Returns how
  /// many runs were deleted.
  virtual int64_t clean_finished_runs(Timestamp cutoff, int batch = 500) = 0;
};

}  // namespace sluice
