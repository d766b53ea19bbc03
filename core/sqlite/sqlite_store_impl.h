#pragma once
// The SQLite implementation of Store, private to core/sqlite/: the class,
// its statement wrapper and row decoders. Its methods are defined one file
// per aggregate (sqlite_dags.cc, sqlite_runs.cc, sqlite_tasks.cc, ...).
//
// One connection, guarded by a mutex: SQLite serialises writers anyway, and a
// single connection lets every statement stay prepared (SQLITE_PREPARE_PERSISTENT)
// for the life of the store. Writes run in BEGIN IMMEDIATE transactions, so
// the write lock is taken up front and a concurrent writer (another process
// or another Store on the same file) waits in the busy handler instead of
// failing half-way with SQLITE_BUSY_SNAPSHOT. Reads run in deferred
// transactions: in WAL mode they never block and see one consistent snapshot.

#include <sqlite3.h>

#include <algorithm>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "core/error.h"
#include "core/migrations.h"
#include "core/pools.h"
#include "core/sqlite_store.h"
#include "core/store.h"
#include "core/store_values.h"

namespace sluice::lite {

bool is_busy(int rc);
[[noreturn]] void throw_sqlite(sqlite3* db, int rc, const std::string& what);

/// One use of a cached prepared statement: binds, steps, reads columns, and
/// resets the statement when it goes out of scope.
class Stmt {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Stmt() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  /// Makes the statement ready to bind and step again.
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  template <typename... Args>
  Stmt& bind(const Args&... args) {
    int index = 1;
    (bind_one(index++, args), ...);
    return *this;
  }

  /// True when a row is available, false when done; throws on error.
  bool step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw_sqlite(db_, rc, std::string("running `") + abbreviated_sql() + "`");
  }
  void run() {
    while (step()) {
    }
  }

  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  int64_t i64(int col) const { return sqlite3_column_int64(stmt_, col); }
  int i32(int col) const { return sqlite3_column_int(stmt_, col); }
  std::optional<double> opt_f64(int col) const {
    if (is_null(col)) return std::nullopt;
    return sqlite3_column_double(stmt_, col);
  }
  std::optional<int64_t> opt_i64(int col) const {
    if (is_null(col)) return std::nullopt;
    return i64(col);
  }
  std::string str(int col) const {
    const void* data = sqlite3_column_blob(stmt_, col);
    int size = sqlite3_column_bytes(stmt_, col);
    if (data == nullptr || size <= 0) return {};
    return std::string(static_cast<const char*>(data), static_cast<size_t>(size));
  }
  Timestamp ts(int col) const { return from_epoch_ms(i64(col)); }
  std::optional<Timestamp> opt_ts(int col) const {
    if (is_null(col)) return std::nullopt;
    return ts(col);
  }
  nlohmann::json json(int col) const {
    if (is_null(col)) return nullptr;
    std::string text = str(col);
    try {
      return nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      throw StoreError(std::string("corrupt JSON in column ") + sqlite3_column_name(stmt_, col) +
                       ": " + e.what());
    }
  }

 private:
  std::string abbreviated_sql() const {
    std::string sql = sqlite3_sql(stmt_);
    if (sql.size() > 80) sql = sql.substr(0, 77) + "...";
    return sql;
  }
  void check(int rc) {
    if (rc != SQLITE_OK) throw_sqlite(db_, rc, "binding a parameter");
  }

 public:
  /// Binds one parameter by position (for statements built at run time).
  template <typename T>
  void bind_at(int i, const T& v) {
    bind_one(i, v);
  }
  /// Binds bytes as a BLOB (logs are bytes, not necessarily UTF-8).
  void bind_blob(int i, const std::string& bytes) {
    check(sqlite3_bind_blob(stmt_, i, bytes.data(), static_cast<int>(bytes.size()),
                            SQLITE_TRANSIENT));
  }

 private:
  void bind_one(int i, int v) { check(sqlite3_bind_int(stmt_, i, v)); }
  void bind_one(int i, int64_t v) { check(sqlite3_bind_int64(stmt_, i, v)); }
  void bind_one(int i, const std::string& v) {
    check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
  }
  void bind_one(int i, const char* v) { check(sqlite3_bind_text(stmt_, i, v, -1, SQLITE_STATIC)); }
  void bind_one(int i, std::nullptr_t) { check(sqlite3_bind_null(stmt_, i)); }
  void bind_one(int i, Timestamp t) { bind_one(i, to_epoch_ms(t)); }
  void bind_one(int i, const std::optional<Timestamp>& t) {
    if (t) {
      bind_one(i, *t);
    } else {
      bind_one(i, nullptr);
    }
  }
  void bind_one(int i, const std::optional<int64_t>& v) {
    if (v) {
      bind_one(i, *v);
    } else {
      bind_one(i, nullptr);
    }
  }
  void bind_one(int i, double v) { check(sqlite3_bind_double(stmt_, i, v)); }
  void bind_one(int i, const std::optional<double>& v) {
    if (v) {
      bind_one(i, *v);
    } else {
      bind_one(i, nullptr);
    }
  }
  void bind_one(int i, const std::optional<int>& v) {
    if (v) {
      bind_one(i, *v);
    } else {
      bind_one(i, nullptr);
    }
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

// Column lists shared by the queries that fill records.
constexpr const char* kRunColumns =
    "id, dag_id, run_id, run_type, state, version_id, interval_start, interval_end, conf, "
    "backfill_id, created_at, started_at, ended_at";
constexpr const char* kTiColumns =
    "ti.id, ti.run_pk, ti.dag_id, r.run_id, ti.task_id, ti.map_index, ti.state, ti.try_number, "
    "ti.max_tries, ti.pool, ti.pool_slots, ti.priority, ti.queue, ti.queued_at, ti.started_at, "
    "ti.ended_at, ti.next_try_at, ti.first_started_at, ti.worker_id, ti.exit_code, ti.outputs, "
    "ti.rendered, ti.error, ti.marked_at, ti.marked_by";
constexpr const char* kTiFrom = " FROM task_instances ti JOIN dag_runs r ON r.id = ti.run_pk ";
constexpr const char* kAlertColumns =
    "id, event_id, event, dag_id, run_id, task_id, payload, attempts, created_at, "
    "next_attempt_at, delivered_at, last_error, last_status";
constexpr const char* kDagColumns =
    "d.dag_id, d.file, d.paused, d.active, d.max_active_tasks, d.version_id, d.updated_at, "
    "COALESCE(fe.message, '')";
constexpr const char* kDagFrom = " FROM dags d LEFT JOIN file_errors fe ON fe.file = d.file ";
RunType run_type_of(const std::string& text);
RunState run_state_of(const std::string& text);
TaskState task_state_of(const std::string& text);
inline int run_type_rank(RunType t) { return t == RunType::kBackfill ? 1 : 0; }

RunRecord read_run(const Stmt& s, int c = 0);

// read_run at column 0, as a one-argument callable.
constexpr auto kReadRun = [](const Stmt& s) { return read_run(s); };
TaskInstanceRecord read_ti(const Stmt& s);
AlertRecord read_alert(const Stmt& s);
DagRecord read_dag(const Stmt& s);
constexpr const char* kBackfillColumns =
    "id, dag_id, range_from, range_to, reprocess, max_active_runs, backwards, conf, state, "
    "created_at, finished_at, total_runs, succeeded_runs, failed_runs";
BackfillRecord read_backfill(const Stmt& s);
// Columns: id, host, pid, slots, queues, started_at, last_heartbeat, state.
WorkerRecord read_worker(const Stmt& s);
// Columns: id, task_id, map_index, state, try_number, max_tries, next_try_at.
TaskStateView read_view(const Stmt& s);
std::string placeholders(size_t n);

/// The SQLite store: one connection, a statement cache, a mutex.
class SqliteStore final : public Store {
 public:
  SqliteStore(const std::string& path, const SqliteOptions& options);

  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;
  int synchronous_level();

  // --- Schema ---------------------------------------------------------------

  SchemaStatus schema_status() override;
  SchemaStatus migrate() override;

  // --- DAGs -----------------------------------------------------------------

  int64_t upsert_dag(const std::string& dag_id, const std::string& file,
                     const std::string& content_hash, const std::string& yaml,
                     const nlohmann::json& definition, bool initially_paused, int max_active_tasks,
                     Timestamp now) override;
  void set_file_error(const FileError& error) override;
  void clear_file_error(const std::string& file) override;
  std::vector<FileError> list_file_errors() override;
  void set_active_files(const std::vector<std::string>& present_files) override;
  std::vector<DagRecord> list_dags() override;
  std::optional<DagRecord> get_dag(const std::string& dag_id) override;
  void set_paused(const std::string& dag_id, bool paused) override;
  DagVersion get_version(int64_t version_id) override;

  // --- Pools ----------------------------------------------------------------

  void set_pools(const std::map<std::string, int>& slots) override;
  std::map<std::string, int> list_pools() override;

  // --- Runs -----------------------------------------------------------------

  std::optional<RunRecord> create_run(const NewRun& run, const Decider& decider,
                                      Timestamp now) override;
  std::optional<RunRecord> get_run(const std::string& dag_id, const std::string& run_id) override;
  std::optional<RunRecord> get_run_by_pk(int64_t run_pk) override;
  std::vector<RunRecord> list_runs(const RunFilter& filter) override;
  int64_t count_runs(const RunFilter& filter) override;
  std::optional<RunRecord> latest_interval_run(const std::string& dag_id) override;
  std::vector<RunRecord> list_unfinished_runs() override;
  RunDecisions reconcile_run(int64_t run_pk, const Decider& decider, Timestamp now) override;

  // --- Task instances -------------------------------------------------------

  std::vector<TaskInstanceRecord> list_task_instances(int64_t run_pk) override;
  std::optional<TaskInstanceRecord> get_task_instance(int64_t ti_id) override;
  std::vector<ClaimedTask> claim_tasks(const ClaimRequest& request) override;

  // claim_tasks inside the caller's write transaction.
  std::vector<ClaimedTask> claim_locked(const ClaimRequest& request);
  FinishOutcome finish_task(const TaskResult& result, const Decider& decider) override;
  std::vector<int64_t> runs_with_due_tasks(Timestamp now) override;
  std::optional<Timestamp> next_due_time() override;
  int clear_task_instances(int64_t run_pk, const std::vector<int64_t>& ti_ids,
                           const Decider& decider, Timestamp now) override;
  FinishOutcome expand_mapped_task(int64_t ti_id, int try_number, const std::string& worker_id,
                                   const std::vector<nlohmann::json>& items, const Decider& decider,
                                   Timestamp now) override;
  nlohmann::json get_map_item(int64_t ti_id) override;
  void mark_task_instance(int64_t ti_id, TaskState state, const std::string& marked_by,
                          const Decider& decider,
                          Timestamp now) override;
  void cancel_run(int64_t run_pk, Timestamp now) override;
  std::vector<int64_t> tasks_to_stop(const std::string& worker_id,
                                     const std::vector<int64_t>& ti_ids) override;
  std::vector<TaskInstanceRecord> running_on_worker(const std::string& worker_id) override;
  std::vector<TaskInstanceRecord> orphaned_tasks(Timestamp cutoff) override;

  // --- Logs -----------------------------------------------------------------

  void append_log(int64_t ti_id, int try_number, int seq, const std::string& data) override;
  LogSlice read_log(int64_t ti_id, int try_number, int64_t offset, int64_t limit) override;

  // --- Workers and schedulers -----------------------------------------------

  void register_worker(const WorkerRecord& worker) override;
  void heartbeat_worker(const std::string& worker_id, Timestamp now) override;
  bool release_claim(int64_t ti_id, int try_number, const std::string& worker_id) override;
  void set_worker_state(const std::string& worker_id, const std::string& state) override;
  std::vector<WorkerRecord> list_workers() override;
  void heartbeat_scheduler(const std::string& scheduler_id, const std::string& host, bool leader,
                           Millis loop_lag, Timestamp now) override;
  std::vector<SchedulerRecord> list_schedulers() override;
  DurationHistogram task_duration_histogram(Timestamp since,
                                            const std::vector<Millis>& bounds) override;

  // --- Alerts ---------------------------------------------------------------

  std::optional<AlertRecord> claim_next_alert(Timestamp now, Timestamp claim_until) override;
  bool mark_alert_delivered(int64_t alert_id, int status, Timestamp now) override;
  bool mark_alert_failed(int64_t alert_id, std::optional<int> status, const std::string& error,
                         std::optional<Timestamp> next_attempt_at) override;

  // --- SLAs -----------------------------------------------------------------

  bool arm_sla_timer(const SlaTimer& timer) override;
  std::vector<SlaTimer> due_sla_timers(Timestamp now, int limit) override;
  std::optional<Timestamp> next_sla_due() override;
  bool fire_sla_timer(int64_t timer_id, const std::optional<SlaMissRecord>& miss,
                      const std::optional<AlertEvent>& alert, Timestamp now) override;
  std::vector<SlaMissRecord> list_sla_misses(const std::string& dag_id, int limit) override;
  std::optional<RunRecord> last_successful_run(const std::string& dag_id) override;
  std::vector<AlertRecord> list_alerts(bool undelivered_only, int limit) override;

  // --- Check results --------------------------------------------------------

  std::vector<CheckResultRecord> list_check_results(const CheckResultFilter& filter) override;
  int64_t count_check_results(const CheckResultFilter& filter) override;
  // --- Watermarks -----------------------------------------------------------

  std::optional<Watermark> get_watermark(const std::string& dag_id,
                                         const std::string& task_id) override;
  void set_watermark(const Watermark& mark) override;
  bool delete_watermark(const std::string& dag_id, const std::string& task_id) override;
  /// Stores `mark` unless the stored one is greater (finish_task's, under mu_).
  void advance_watermark_locked(const Watermark& mark, Timestamp now);

  // --- Housekeeping ---------------------------------------------------------

  // --- Backfills ------------------------------------------------------------

  int64_t create_backfill(const BackfillRecord& b,
                          const std::vector<BackfillIntervalRecord>& intervals) override;
  std::optional<BackfillRecord> get_backfill(int64_t id) override;
  std::vector<BackfillRecord> list_backfills(const std::string& dag_id, bool running_only,
                                             int limit) override;
  std::vector<BackfillIntervalRecord> list_backfill_intervals(int64_t backfill_id) override;
  std::string update_backfill_interval(int64_t backfill_id, Timestamp interval_start,
                                       const std::string& action, const std::string& reason,
                                       std::optional<int64_t> run_pk) override;
  bool update_backfill(int64_t id, const std::string& state, int total_runs, int succeeded_runs,
                       int failed_runs, Timestamp now) override;
  bool rerun_for_backfill(int64_t run_pk, int64_t backfill_id, const nlohmann::json& conf,
                          Timestamp now) override;
  std::vector<RunRecord> list_interval_runs(const std::string& dag_id, Timestamp from,
                                            Timestamp to) override;
  int64_t clean_finished_runs(Timestamp cutoff, int batch) override;

  // --- Metrics (sqlite_metrics.cc) -----------------------------------------

  void add_metric_samples(const std::vector<MetricSample>& samples) override;
  MetricsSnapshot read_metrics() override;

 private:
  /// A transaction on the store's connection; rolls back unless committed.
  class Txn {
   public:
    Txn(SqliteStore* store, bool write) : store_(store) {
      store_->stmt(write ? "BEGIN IMMEDIATE" : "BEGIN").run();
    }
    void commit() {
      store_->stmt("COMMIT").run();
      done_ = true;
    }
    ~Txn() {
      if (!done_ && sqlite3_get_autocommit(store_->db_) == 0) {
        sqlite3_exec(store_->db_, "ROLLBACK", nullptr, nullptr, nullptr);
      }
    }
    Txn(const Txn&) = delete;
    Txn& operator=(const Txn&) = delete;

   private:
    SqliteStore* store_;
    bool done_ = false;
  };

  // A read in a transaction of its own: `sql` bound to `args`, each row turned
  // into a record by `read`.
  template <typename Read, typename... Args>
  auto read_all(Read read, const std::string& sql, const Args&... args)
      -> std::vector<std::invoke_result_t<Read&, const Stmt&>> {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, false);
    std::vector<std::invoke_result_t<Read&, const Stmt&>> out;
    {
      Stmt s = stmt(sql);
      s.bind(args...);
      while (s.step()) out.push_back(read(s));
    }
    txn.commit();
    return out;
  }

  // read_all for at most one row.
  template <typename Read, typename... Args>
  auto read_one(Read read, const std::string& sql, const Args&... args)
      -> std::optional<std::invoke_result_t<Read&, const Stmt&>> {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, false);
    std::optional<std::invoke_result_t<Read&, const Stmt&>> out;
    {
      Stmt s = stmt(sql);
      s.bind(args...);
      if (s.step()) out = read(s);
    }
    txn.commit();
    return out;
  }

  /// What apply_decider did: the decisions with only the transitions that
  /// took effect, and how many task instances it queued.
  struct Applied {
    RunDecisions decisions;
    int queued = 0;
  };

  // The cached statement for `sql`, prepared on first use.
  Stmt stmt(const std::string& sql);
  void exec_raw(const char* sql);
  std::string pragma_text(const char* sql);
  SchemaStatus schema_status_locked();
  std::map<std::string, int> pools_locked();
  int64_t running_pool_slots(const std::string& pool);

  // A DAG's running task instances and its max_active_tasks. A DAG with no
  // row (only possible when runs are made by hand, as in tests) has no limit.
  std::pair<int64_t, int64_t> dag_load_of(const std::string& dag_id);
  std::optional<RunRecord> run_by_pk_locked(int64_t run_pk);
  std::optional<TaskInstanceRecord> ti_locked(int64_t ti_id);
  void put_log(int64_t ti_id, int try_number, int seq, const std::string& data);
  /// Stores a finishing try's check results (inside finish_task's transaction).
  void insert_check_results_locked(const TaskResult& result, Timestamp now);
  bool get_ti_exists(int64_t ti_id);
  /// Moves metric_events into metric_counters (inside a write transaction).
  void fold_metric_events_locked();
  std::string random_event_id();

  // Loads the run's snapshot, asks the decider, applies its decisions. Runs
  // inside the caller's write transaction; a decider that throws aborts it.
  Applied apply_decider(int64_t run_pk, const Decider& decider, Timestamp now,
                        const std::string* finished_task = nullptr);

  // What a run-ending decision's alerts need: the previous finished run's
  // state, and each failed task's error and log tail.
  RunEndContext run_end_context(const RunSnapshot& snap);

  // The instances of the previous interval's run (RunReads::previous_interval).
  std::optional<std::vector<std::pair<std::string, TaskState>>> previous_interval(
      const RunRecord& run);

  // Called by SQLite while another connection holds the lock. SQLite's own
  // busy_timeout handler sleeps 1, 2, 5, 10 ... 100 ms between tries, far
  // longer than our transactions hold the lock (well under a millisecond), so
  // waiters would sleep through free windows. This one polls every 50 us at
  // first, backing off to 2 ms, until busy_timeout_ms has passed.
  static int on_busy(void* self, int count);
  sqlite3* db_ = nullptr;
  std::chrono::milliseconds busy_timeout_{10000};
  std::chrono::steady_clock::time_point busy_since_;  // GUARDED_BY(mu_)
  std::mutex mu_;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;  // GUARDED_BY(mu_)
  std::mt19937_64 rng_;                                   // GUARDED_BY(mu_)
};

}  // namespace sluice::lite
