#pragma once
// The Postgres metadata store (libpqxx 6), private to core/postgres/: the
// class, its transaction helpers and its SQL layer (pg_sql.cc, the prepared
// statements in pg_statements.cc). Its methods are defined one file per
// aggregate (pg_dags.cc, pg_runs.cc, pg_tasks.cc, ...).
//
// Connections: a small pool guarded by a mutex; each call takes one
// connection for the length of its transaction, so concurrent callers never
// wait on each other's round trips. A connection that broke is dropped (with
// every idle one, since a server restart breaks them all) and the next call
// connects afresh; libpqxx's own silent re-activation is switched off so that
// a half-done transaction is never replayed on a new session.
//
// Round trips: a transaction that starts by taking a lock sends BEGIN with
// that statement (one simple query). claim_tasks and the first half of finish_task are plpgsql
// functions from migrations/postgres (sluice_claim, sluice_finish), so a
// claim is one round trip plus the commit, and a finish one round trip, one
// more when the decider changes something (its decisions are applied by one
// statement: task transitions, the run's state and alerts together), and the
// commit.

#include <libpq-fe.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <pqxx/pqxx>
#include <random>
#include <set>
#include <type_traits>

#include "core/error.h"
#include "core/migrations.h"
#include "core/pg_session.h"
#include "core/pools.h"
#include "core/postgres_store.h"
#include "core/secrets.h"
#include "core/store.h"
#include "core/store_values.h"

namespace sluice::pg {

// Advisory lock keys (pg_advisory_xact_lock), arbitrary but fixed.
constexpr int64_t kMigrateLockKey = 0x5155494345'01;  // "sluice" migrate
constexpr int64_t kClaimLockKey = 0x5155494345'02;    // claim_tasks
constexpr size_t kMaxIdleConnections = 16;

// ---------------------------------------------------------------------------
// Value conversions.

std::optional<Timestamp> opt_time(const pqxx::field& f);
std::optional<int64_t> opt_ms(const std::optional<Timestamp>& t);
inline std::string text(const pqxx::field& f) {
  return f.is_null() ? std::string() : f.as<std::string>();
}

nlohmann::json parse_json(const pqxx::field& f, nlohmann::json fallback);

template <typename E, typename Parse>
E parse_enum(const pqxx::field& f, Parse parse, const char* what) {
  auto v = parse(f.c_str());
  if (!v) throw StoreError(std::string("unknown ") + what + " '" + f.c_str() + "' in the database");
  return *v;
}

TaskState task_state(const pqxx::field& f);
RunState run_state(const pqxx::field& f);

// A Postgres array literal, for passing a list as one text parameter:
// {"a","b"} with quotes and backslashes escaped; nullopt elements are NULL.
std::string array_literal(const std::vector<std::optional<std::string>>& items);
std::string array_literal(const std::vector<std::string>& items);

template <typename Int>
std::string int_array(const std::vector<Int>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(items[i]);
  }
  return out + '}';
}

// A string literal for a simple query, in the E'' form so that it reads the
// same whatever standard_conforming_strings is.
std::string sql_literal(const std::string& value);

// "EXECUTE name('arg', ...)": runs a statement prepared on the connection
// from a simple query, so that it can share a round trip with others. Each
// argument is a string literal (typed by the statement), or NULL when unset.
std::string execute_sql(const std::string& name,
                        const std::vector<std::optional<std::string>>& args);
std::string random_hex_id();
inline int run_type_rank(RunType t) { return t == RunType::kBackfill ? 1 : 0; }

// ---------------------------------------------------------------------------
// Column lists and row decoders. Task rows join their run for run_id.

constexpr const char* kTaskColumns =
    "t.id, t.run_pk, t.dag_id, r.run_id, t.task_id, t.map_index, t.state, t.try_number, "
    "t.max_tries, t.pool, t.pool_slots, t.priority, t.queue, t.queued_at, t.started_at, "
    "t.ended_at, t.next_try_at, t.first_started_at, t.worker_id, t.exit_code, t.outputs, "
    "t.rendered, t.error, t.marked_at, t.marked_by";

constexpr const char* kRunColumns =
    "r.id AS r_id, r.dag_id AS r_dag_id, r.run_id AS r_run_id, r.run_type AS r_run_type, "
    "r.state AS r_state, r.version_id AS r_version_id, r.interval_start AS r_interval_start, "
    "r.interval_end AS r_interval_end, r.conf AS r_conf, r.backfill_id AS r_backfill_id, "
    "r.created_at AS r_created_at, r.started_at AS r_started_at, r.ended_at AS r_ended_at";
TaskInstanceRecord read_task(const pqxx::row& row);
RunRecord read_run(const pqxx::row& row);
TaskStateView read_view(const pqxx::row& row);
DagRecord read_dag(const pqxx::row& row);
BackfillRecord read_backfill(const pqxx::row& row);
WorkerRecord read_worker(const pqxx::row& row);
AlertRecord read_alert(const pqxx::row& row);

// ---------------------------------------------------------------------------
// Prepared statements, prepared on every new connection.

const std::vector<std::pair<const char*, std::string>>& statements();

// ---------------------------------------------------------------------------
// Error translation.

bool connection_lost_state(const std::string& sqlstate);
bool retryable_state(const std::string& sqlstate);

/// Transactions are opened and committed by hand on a nontransaction, so
/// that BEGIN can travel with the first statement (one round trip less).
using Tx = pqxx::nontransaction;

// How a PostgresStore transaction ends (transact_from).
enum class Commit {
  kByBody,  // the body sends COMMIT
  kItself,  // the first statement is the whole transaction (autocommit)
};

// sluice_finish_predicted found the prediction wrong and changed nothing.
struct PredictionFailed {};

// Whether a pooled session is still open, without a round trip: one the
// server closed (a restart, an idle timeout) reads as the end of the stream,
// or starts with its farewell, an ErrorResponse ('E') or, over TLS, an alert
// record (0x15). Anything else pending is left to libpq.
bool idle_and_open(const pqxx::connection& conn);

// The first statement of a transaction that locks a run's row, sent with
// BEGIN as one simple query. The run row lock orders every decision about one
// run: without it two tasks finishing at once could each miss the other's end.
std::string begin_locking_run(int64_t run_pk);
std::string begin_locking_run_of_task(int64_t ti_id);

/// A pooled connection lent to one call.
struct Lease {
  std::unique_ptr<pqxx::connection> conn;
  bool reused = false;
};

/// The Postgres implementation of Store.
class PostgresStore final : public Store {
 public:
  // Pooled sessions get keepalives like the leader's and the listener's: a
  // worker cut off by the network mid-call gives up within about 10 s instead
  // of waiting on TCP, and the server ends its session (and the locks it
  // holds) as fast.
  explicit PostgresStore(std::string conninfo)
      : conninfo_(std::move(conninfo)), session_info_(with_keepalives(conninfo_, kConnectTimeout)) {
    // Connect once now, so that a bad address or password shows at open.
    release(connect());
  }
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

  // -- Schema ---------------------------------------------------------------

  SchemaStatus schema_status() override;
  SchemaStatus migrate() override;

  // -- DAGs -----------------------------------------------------------------

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

  // -- Pools ----------------------------------------------------------------

  void set_pools(const std::map<std::string, int>& slots) override;
  std::map<std::string, int> list_pools() override;

  // -- Runs -----------------------------------------------------------------

  std::optional<RunRecord> create_run(const NewRun& run, const Decider& decider,
                                      Timestamp now) override;
  std::optional<RunRecord> get_run(const std::string& dag_id, const std::string& run_id) override;
  std::optional<RunRecord> get_run_by_pk(int64_t run_pk) override;
  std::vector<RunRecord> list_runs(const RunFilter& filter) override;
  int64_t count_runs(const RunFilter& filter) override;
  std::optional<RunRecord> latest_interval_run(const std::string& dag_id) override;
  std::vector<RunRecord> list_unfinished_runs() override;
  RunDecisions reconcile_run(int64_t run_pk, const Decider& decider, Timestamp now) override;

  // -- Task instances -------------------------------------------------------

  std::vector<TaskInstanceRecord> list_task_instances(int64_t run_pk) override;
  std::optional<TaskInstanceRecord> get_task_instance(int64_t ti_id) override;

  // finish_task's claim_next: claims in the finishing transaction, then
  // wakes the other workers when queued tasks are left (the claimed ones
  // still look queued to the statement's own snapshot, hence the exclusion).
  static std::string claim_next_sql(Tx& w, const ClaimRequest& request);
  static void read_claim_next(const pqxx::result& rows, FinishOutcome& outcome);
  std::vector<ClaimedTask> claim_tasks(const ClaimRequest& request) override;
  FinishOutcome finish_task(const TaskResult& result, const Decider& decider) override;

  // A successful finish whose snapshot the decider can predict
  // (Decider::predictable): decides on the prediction first, then ends the
  // try, checks the prediction, applies the decisions and claims the next
  // task in one statement, sluice_finish_predicted (migrations/postgres), so
  // a hop down a chain is one round trip. nullopt when there is nothing to
  // predict or the prediction did not hold (nothing was changed then).
  std::optional<FinishOutcome> finish_predicted(const TaskResult& result, const Decider& decider);
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

  // -- Logs -----------------------------------------------------------------

  void append_log(int64_t ti_id, int try_number, int seq, const std::string& data) override;
  LogSlice read_log(int64_t ti_id, int try_number, int64_t offset, int64_t limit) override;

  // -- Workers and schedulers -----------------------------------------------

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

  // -- Alerts ---------------------------------------------------------------

  std::optional<AlertRecord> claim_next_alert(Timestamp now, Timestamp claim_until) override;
  bool mark_alert_delivered(int64_t alert_id, int status, Timestamp now) override;
  bool mark_alert_failed(int64_t alert_id, std::optional<int> status, const std::string& error,
                         std::optional<Timestamp> next_attempt_at) override;
  std::vector<AlertRecord> list_alerts(bool undelivered_only, int limit) override;
  std::vector<CheckResultRecord> list_check_results(const CheckResultFilter& filter) override;
  int64_t count_check_results(const CheckResultFilter& filter) override;

  // -- SLAs -----------------------------------------------------------------

  bool arm_sla_timer(const SlaTimer& t) override;
  std::vector<SlaTimer> due_sla_timers(Timestamp now, int limit) override;
  std::optional<Timestamp> next_sla_due() override;
  bool fire_sla_timer(int64_t timer_id, const std::optional<SlaMissRecord>& miss,
                      const std::optional<AlertEvent>& alert, Timestamp now) override;
  std::vector<SlaMissRecord> list_sla_misses(const std::string& dag_id, int limit) override;
  std::optional<RunRecord> last_successful_run(const std::string& dag_id) override;

  // -- Watermarks -----------------------------------------------------------

  std::optional<Watermark> get_watermark(const std::string& dag_id,
                                         const std::string& task_id) override;
  void set_watermark(const Watermark& mark) override;
  bool delete_watermark(const std::string& dag_id, const std::string& task_id) override;
  /// The statement that stores `mark` unless the stored one is greater
  /// (sent with a finish, before its COMMIT).
  static std::string advance_watermark_sql(const Watermark& mark, Timestamp now);

  // -- Housekeeping ---------------------------------------------------------

  // -- Backfills ------------------------------------------------------------

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
                          Timestamp /*now*/) override;
  std::vector<RunRecord> list_interval_runs(const std::string& dag_id, Timestamp from,
                                            Timestamp to) override;
  int64_t clean_finished_runs(Timestamp cutoff, int batch) override;

  // Metrics (pg_metrics.cc).
  void add_metric_samples(const std::vector<MetricSample>& samples) override;
  MetricsSnapshot read_metrics() override;
  static void fold_metric_events(Tx& w);

 private:
  /// What applying a decider's decisions changed.
  struct Applied {
    RunDecisions decisions;
    std::optional<RunRecord> run;  // the run after the change
    int queued = 0;
  };

  static SchemaStatus read_status(Tx& w);
  static std::string to_hex_bytea(const std::string& data);
  static RunRecord locked_run(const pqxx::result& r, int64_t run_pk);

  // What a run-ending decision's alerts need: the previous finished run's
  // state, and each failed task's error and log tail.
  static RunEndContext run_end_context(Tx& w, const RunSnapshot& snap);

  // Fills the previous interval's states when asked, runs the decider and
  // applies its decisions with one statement.
  // The decider's verdict on a snapshot and, when it changes something, the
  // apply_decisions call that stores it (as an EXECUTE statement, so that it
  // can travel in one round trip with what follows it).
  struct PlannedApply {
    Applied applied;
    RunDecisions decisions;
    std::optional<std::string> sql;  // unset: nothing to store
  };

  // `caller_claims`: the caller claims tasks in the same transaction and
  // wakes other workers itself for what it leaves (finish_task's claim_next).
  static PlannedApply plan_apply(Tx& w, RunSnapshot& snap, const Decider& decider, Timestamp now,
                                 bool caller_claims);

  // Takes apply_decisions' result row into `plan.applied`.
  static void read_apply(PlannedApply& plan, const pqxx::row& row);
  static Applied decide_and_apply(Tx& w, RunSnapshot& snap, const Decider& decider, Timestamp now,
                                  bool caller_claims = false);

  // -- Connections ----------------------------------------------------------

  std::unique_ptr<pqxx::connection> connect();
  Lease acquire();
  void release(std::unique_ptr<pqxx::connection> conn);
  void drop_idle();

  // The message of a server error without its "ERROR:" prefix and context.
  static std::string server_message(const std::string& what);
  static std::string trim_message(std::string s);

  // Runs `body` in a transaction on a pooled connection and commits.
  // `begin` opens the transaction and may carry the first statement; its
  // result goes to `body`. pqxx errors become StoreError (retryable when a
  // retry may succeed), unique violations ConflictError. A pooled connection
  // found broken by `begin` (a stale one from before a server restart) is
  // replaced once transparently: nothing can have been committed on it, as
  // the server rolls back what a lost connection left open.
  template <typename F>
  auto transact(const std::string& op, const std::string& begin, F&& body)
      -> std::invoke_result_t<F&, Tx&, const pqxx::result&> {
    return transact_to_commit(op, begin, [&](Tx& w, const pqxx::result& first, bool& committing) {
      auto result = body(w, first);
      committing = true;
      w.exec("COMMIT");
      return result;
    });
  }

  // transact() for a body that commits itself (sending COMMIT together with
  // its last statements); it sets `committing` before sending COMMIT.
  template <typename F>
  auto transact_to_commit(const std::string& op, const std::string& begin, F&& body)
      -> std::invoke_result_t<F&, Tx&, const pqxx::result&, bool&> {
    return transact_from(
        op, [&](Tx& w) { return w.exec(begin); }, body, Commit::kByBody);
  }

  // A transaction of one prepared statement, `first` (which commits when it
  // returns and leaves nothing open); `read` takes its result.
  template <typename First, typename Read>
  auto transact_prepared(const std::string& op, First&& first, Read&& read)
      -> std::invoke_result_t<Read&, const pqxx::result&> {
    return transact_from(
        op, first, [&](Tx&, const pqxx::result& rows, bool&) { return read(rows); },
        Commit::kItself);
  }

  // transact_to_commit with the first statement sent by `first(w)`.
  template <typename First, typename F>
  auto transact_from(const std::string& op, First&& first, F&& body, Commit mode)
      -> std::invoke_result_t<F&, Tx&, const pqxx::result&, bool&> {
    using R = std::invoke_result_t<F&, Tx&, const pqxx::result&, bool&>;
    const bool itself = mode == Commit::kItself;
    for (int attempt = 0;; ++attempt) {
      Lease lease = acquire();
      // A statement that commits itself is never sent twice (it may have
      // been applied), so a stale pooled session is replaced before it is
      // used rather than after it failed.
      if (itself && lease.reused && !idle_and_open(*lease.conn)) {
        drop_idle();
        lease = Lease{connect(), false};
      }
      bool sent = false;         // the first statement reached the server
      bool began = false;        // the server may have an open transaction
      bool committing = itself;  // COMMIT was sent (or the statement commits itself)
      try {
        std::optional<R> result;
        {
          Tx w(*lease.conn);
          // From here a failure may leave the transaction open (BEGIN ran, the
          // statement after it failed): it is rolled back before reuse.
          began = !itself;
          pqxx::result rows = first(w);
          sent = true;
          result.emplace(body(w, rows, committing));
          began = false;
        }
        release(std::move(lease.conn));
        return std::move(*result);
      } catch (const pqxx::failure& e) {
        std::string sqlstate;
        if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) sqlstate = sql->sqlstate();
        bool lost = !lease.conn->is_open() || connection_lost_state(sqlstate) ||
                    dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr;
        if (lost) {
          // A server restart breaks every idle connection at once.
          drop_idle();
          lease.conn.reset();
          // Not a statement that commits itself: it may have reached the server.
          if (!sent && !itself && lease.reused && attempt == 0) continue;
          std::string what = committing ? "lost the connection to Postgres while committing "
                                          "(the change may or may not have been saved)"
                                        : "lost the connection to Postgres";
          throw StoreError("cannot " + op + ": " + what + ": " + trim_message(e.what()),
                           /*retryable=*/true);
        }
        end_failed(std::move(lease.conn), began);
        // Raised by the functions in migrations/postgres.
        if (sqlstate == "SLNFD") throw NotFoundError(server_message(e.what()));
        if (sqlstate == "SLCNF") throw ConflictError(server_message(e.what()));
        if (sqlstate == "SLPRD") throw PredictionFailed();
        if (dynamic_cast<const pqxx::unique_violation*>(&e)) {
          throw ConflictError("cannot " + op + ": it already exists (" + trim_message(e.what()) +
                              ")");
        }
        throw StoreError("cannot " + op + ": " + trim_message(e.what()), retryable_state(sqlstate));
      } catch (const pqxx::usage_error& e) {
        end_failed(std::move(lease.conn), began);
        throw StoreError("cannot " + op + ": " + std::string(e.what()));
      } catch (...) {
        // Our own errors (NotFoundError, ConflictError) and the decider's.
        end_failed(std::move(lease.conn), began);
        throw;
      }
    }
  }

  template <typename F>
  auto transact(const std::string& op, F&& body) -> std::invoke_result_t<F&, Tx&> {
    return transact(op, "BEGIN", [&](Tx& w, const pqxx::result&) { return body(w); });
  }

  // Rolls back what a failed call left open and returns the connection to
  // the pool, or drops it when even that fails.
  void end_failed(std::unique_ptr<pqxx::connection> conn, bool open_transaction);
  static constexpr Millis kConnectTimeout{10000};
  const std::string conninfo_;      // as given (shown masked in messages)
  const std::string session_info_;  // what connections are opened with
  std::mutex mu_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;  // GUARDED_BY(mu_)
};

}  // namespace sluice::pg
