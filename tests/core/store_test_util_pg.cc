// make_test_store for Postgres: a fresh schema in the test server per store,
// migrated, and dropped again when the store is destroyed.

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <mutex>
#include <random>

#include <pqxx/pqxx>

#include "core/error.h"
#include "core/secrets.h"
#include "core/store.h"
#include "tests/core/store_test_util.h"

namespace sluice::testing {
namespace {

std::mutex last_url_mu;
std::string last_url;  // GUARDED_BY(last_url_mu)

std::string random_schema_name() {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}() ^ static_cast<uint64_t>(getpid())};
  std::lock_guard<std::mutex> lock(mu);
  static const char* digits = "0123456789abcdef";
  std::string name = "t_";
  uint64_t v = rng();
  for (int i = 0; i < 12; ++i, v >>= 4) name += digits[v & 15];
  return name;
}

// The server URL with every new session's search_path set to `schema`.
std::string url_with_schema(const std::string& base, const std::string& schema) {
  if (base.find("://") == std::string::npos) {
    return base + " options='-csearch_path=" + schema + "'";  // key=value form
  }
  return base + (base.find('?') == std::string::npos ? "?" : "&") +
         "options=-csearch_path%3D" + schema;
}

/// A test store that drops its schema when destroyed; forwards everything
/// else. Only the process that made the schema drops it (forked children
/// that share the object must not).
class SchemaStore final : public Store {
 public:
  SchemaStore(std::unique_ptr<Store> inner, std::string server_url, std::string schema)
      : inner_(std::move(inner)),
        server_url_(std::move(server_url)),
        schema_(std::move(schema)),
        owner_pid_(getpid()) {}
  SchemaStore(const SchemaStore&) = delete;
  SchemaStore& operator=(const SchemaStore&) = delete;

  ~SchemaStore() override {
    inner_.reset();  // close its connections first
    if (getpid() != owner_pid_) return;
    try {
      pqxx::connection conn(server_url_);
      pqxx::nontransaction w(conn);
      w.exec("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cannot drop test schema " << schema_ << ": " << e.what();
    }
  }

  SchemaStatus schema_status() override { return inner_->schema_status(); }
  SchemaStatus migrate() override { return inner_->migrate(); }
  FinishOutcome expand_mapped_task(int64_t ti_id, int try_number, const std::string& worker_id,
                                   const std::vector<nlohmann::json>& items,
                                   const Decider& decider, Timestamp now) override {
    return inner_->expand_mapped_task(ti_id, try_number, worker_id, items, decider, now);
  }
  nlohmann::json get_map_item(int64_t ti_id) override { return inner_->get_map_item(ti_id); }
  int64_t upsert_dag(const std::string& dag_id, const std::string& file,
                     const std::string& content_hash, const std::string& yaml,
                     const nlohmann::json& definition, bool initially_paused,
                     int max_active_tasks, Timestamp now) override {
    return inner_->upsert_dag(dag_id, file, content_hash, yaml, definition, initially_paused,
                              max_active_tasks, now);
  }
  void set_file_error(const FileError& error) override { inner_->set_file_error(error); }
  void clear_file_error(const std::string& file) override { inner_->clear_file_error(file); }
  std::vector<FileError> list_file_errors() override { return inner_->list_file_errors(); }
  void set_active_files(const std::vector<std::string>& present_files) override {
    inner_->set_active_files(present_files);
  }
  std::vector<DagRecord> list_dags() override { return inner_->list_dags(); }
  std::optional<DagRecord> get_dag(const std::string& dag_id) override {
    return inner_->get_dag(dag_id);
  }
  void set_paused(const std::string& dag_id, bool paused) override {
    inner_->set_paused(dag_id, paused);
  }
  DagVersion get_version(int64_t version_id) override { return inner_->get_version(version_id); }
  void set_pools(const std::map<std::string, int>& slots) override { inner_->set_pools(slots); }
  std::map<std::string, int> list_pools() override { return inner_->list_pools(); }
  std::optional<RunRecord> create_run(const NewRun& run, const Decider& decider,
                                      Timestamp now) override {
    return inner_->create_run(run, decider, now);
  }
  std::optional<RunRecord> get_run(const std::string& dag_id, const std::string& run_id) override {
    return inner_->get_run(dag_id, run_id);
  }
  std::optional<RunRecord> get_run_by_pk(int64_t run_pk) override {
    return inner_->get_run_by_pk(run_pk);
  }
  std::vector<RunRecord> list_runs(const RunFilter& filter) override {
    return inner_->list_runs(filter);
  }
  std::optional<RunRecord> latest_interval_run(const std::string& dag_id) override {
    return inner_->latest_interval_run(dag_id);
  }
  std::vector<RunRecord> list_unfinished_runs() override { return inner_->list_unfinished_runs(); }
  RunDecisions reconcile_run(int64_t run_pk, const Decider& decider, Timestamp now) override {
    return inner_->reconcile_run(run_pk, decider, now);
  }
  std::vector<TaskInstanceRecord> list_task_instances(int64_t run_pk) override {
    return inner_->list_task_instances(run_pk);
  }
  std::optional<TaskInstanceRecord> get_task_instance(int64_t ti_id) override {
    return inner_->get_task_instance(ti_id);
  }
  std::vector<ClaimedTask> claim_tasks(const ClaimRequest& request) override {
    return inner_->claim_tasks(request);
  }
  FinishOutcome finish_task(const TaskResult& result, const Decider& decider) override {
    return inner_->finish_task(result, decider);
  }
  std::vector<int64_t> runs_with_due_tasks(Timestamp now) override {
    return inner_->runs_with_due_tasks(now);
  }
  std::optional<Timestamp> next_due_time() override { return inner_->next_due_time(); }
  int clear_task_instances(int64_t run_pk, const std::vector<int64_t>& ti_ids,
                           const Decider& decider, Timestamp now) override {
    return inner_->clear_task_instances(run_pk, ti_ids, decider, now);
  }
  void mark_task_instance(int64_t ti_id, TaskState state, const Decider& decider,
                          Timestamp now) override {
    inner_->mark_task_instance(ti_id, state, decider, now);
  }
  void cancel_run(int64_t run_pk, Timestamp now) override { inner_->cancel_run(run_pk, now); }
  std::vector<int64_t> tasks_to_stop(const std::string& worker_id,
                                     const std::vector<int64_t>& ti_ids) override {
    return inner_->tasks_to_stop(worker_id, ti_ids);
  }
  std::vector<TaskInstanceRecord> running_on_worker(const std::string& worker_id) override {
    return inner_->running_on_worker(worker_id);
  }
  std::vector<TaskInstanceRecord> orphaned_tasks(Timestamp cutoff) override {
    return inner_->orphaned_tasks(cutoff);
  }
  void append_log(int64_t ti_id, int try_number, int seq, const std::string& data) override {
    inner_->append_log(ti_id, try_number, seq, data);
  }
  LogSlice read_log(int64_t ti_id, int try_number, int64_t offset, int64_t limit) override {
    return inner_->read_log(ti_id, try_number, offset, limit);
  }
  void register_worker(const WorkerRecord& worker) override { inner_->register_worker(worker); }
  void heartbeat_worker(const std::string& worker_id, Timestamp now) override {
    inner_->heartbeat_worker(worker_id, now);
  }
  void set_worker_state(const std::string& worker_id, const std::string& state) override {
    inner_->set_worker_state(worker_id, state);
  }
  std::vector<WorkerRecord> list_workers() override { return inner_->list_workers(); }
  void heartbeat_scheduler(const std::string& scheduler_id, const std::string& host, bool leader,
                           Millis loop_lag, Timestamp now) override {
    inner_->heartbeat_scheduler(scheduler_id, host, leader, loop_lag, now);
  }
  std::vector<SchedulerRecord> list_schedulers() override { return inner_->list_schedulers(); }
  DurationHistogram task_duration_histogram(Timestamp since,
                                            const std::vector<Millis>& bounds) override {
    return inner_->task_duration_histogram(since, bounds);
  }
  std::vector<AlertRecord> due_alerts(Timestamp now, int limit) override {
    return inner_->due_alerts(now, limit);
  }
  void mark_alert_delivered(int64_t alert_id, Timestamp now) override {
    inner_->mark_alert_delivered(alert_id, now);
  }
  void mark_alert_failed(int64_t alert_id, const std::string& error,
                         std::optional<Timestamp> next_attempt_at) override {
    inner_->mark_alert_failed(alert_id, error, next_attempt_at);
  }
  std::vector<AlertRecord> list_alerts(bool undelivered_only, int limit) override {
    return inner_->list_alerts(undelivered_only, limit);
  }
  bool arm_sla_timer(const SlaTimer& timer) override { return inner_->arm_sla_timer(timer); }
  std::vector<SlaTimer> due_sla_timers(Timestamp now, int limit) override {
    return inner_->due_sla_timers(now, limit);
  }
  std::optional<Timestamp> next_sla_due() override { return inner_->next_sla_due(); }
  bool fire_sla_timer(int64_t timer_id, const std::optional<SlaMissRecord>& miss,
                      const std::optional<AlertEvent>& alert, Timestamp now) override {
    return inner_->fire_sla_timer(timer_id, miss, alert, now);
  }
  std::vector<SlaMissRecord> list_sla_misses(const std::string& dag_id, int limit) override {
    return inner_->list_sla_misses(dag_id, limit);
  }
  std::optional<RunRecord> last_successful_run(const std::string& dag_id) override {
    return inner_->last_successful_run(dag_id);
  }
  int64_t create_backfill(const BackfillRecord& backfill,
                          const std::vector<BackfillIntervalRecord>& intervals) override {
    return inner_->create_backfill(backfill, intervals);
  }
  std::optional<BackfillRecord> get_backfill(int64_t id) override {
    return inner_->get_backfill(id);
  }
  std::vector<BackfillRecord> list_backfills(const std::string& dag_id, bool running_only,
                                             int limit) override {
    return inner_->list_backfills(dag_id, running_only, limit);
  }
  std::vector<BackfillIntervalRecord> list_backfill_intervals(int64_t backfill_id) override {
    return inner_->list_backfill_intervals(backfill_id);
  }
  std::string update_backfill_interval(int64_t backfill_id, Timestamp interval_start,
                                       const std::string& action, const std::string& reason,
                                       std::optional<int64_t> run_pk) override {
    return inner_->update_backfill_interval(backfill_id, interval_start, action, reason, run_pk);
  }
  bool update_backfill(int64_t id, const std::string& state, int total_runs, int succeeded_runs,
                       int failed_runs, Timestamp now) override {
    return inner_->update_backfill(id, state, total_runs, succeeded_runs, failed_runs, now);
  }
  bool rerun_for_backfill(int64_t run_pk, int64_t backfill_id, const nlohmann::json& conf,
                          Timestamp now) override {
    return inner_->rerun_for_backfill(run_pk, backfill_id, conf, now);
  }
  std::vector<RunRecord> list_interval_runs(const std::string& dag_id, Timestamp from,
                                            Timestamp to) override {
    return inner_->list_interval_runs(dag_id, from, to);
  }
  int64_t clean_finished_runs(Timestamp cutoff, int batch) override {
    return inner_->clean_finished_runs(cutoff, batch);
  }

 private:
  std::unique_ptr<Store> inner_;
  std::string server_url_;
  std::string schema_;
  pid_t owner_pid_;
};

}  // namespace

std::string test_postgres_url() {
  const char* url = getenv("SLUICE_TEST_PG_URL");
  if (url == nullptr || *url == '\0') {
    ADD_FAILURE() << "SLUICE_TEST_PG_URL is not set: the Postgres tests need a server; run "
                     "them through scripts/with-postgres.sh (it starts a throwaway one)";
    return "";
  }
  return url;
}

std::unique_ptr<Store> make_test_postgres_store() {
  std::string server = test_postgres_url();
  if (server.empty()) throw StoreError("no test Postgres server (SLUICE_TEST_PG_URL unset)");
  std::string schema = random_schema_name();
  try {
    pqxx::connection conn(server);
    pqxx::nontransaction w(conn);
    w.exec("CREATE SCHEMA " + schema);
  } catch (const std::exception& e) {
    throw StoreError("cannot create test schema " + schema + " on " + mask_url(server) + ": " +
                     e.what());
  }
  std::string url = url_with_schema(server, schema);
  {
    std::lock_guard<std::mutex> lock(last_url_mu);
    last_url = url;
  }
  auto store = std::make_unique<SchemaStore>(Store::open(url), server, schema);
  store->migrate();
  return store;
}

std::string last_test_postgres_url() {
  std::lock_guard<std::mutex> lock(last_url_mu);
  return last_url;
}

}  // namespace sluice::testing
