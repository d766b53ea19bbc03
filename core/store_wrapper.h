#pragma once
// A Store that forwards every call to another one: the base of stores that
// add one behaviour to a real store (a test schema that is dropped at the
// end, injected faults) and override only what they change.
//
// Written out from core/store.h: a method added there is pure virtual in
// Store, so a wrapper that lacks it fails to compile until it is added here.

#include <memory>

#include "core/store.h"

namespace sluice {

class StoreWrapper : public Store {
 public:
  /// Owns `inner`.
  explicit StoreWrapper(std::unique_ptr<Store> inner)
      : owned_(std::move(inner)), inner_(owned_.get()) {}
  /// Forwards to `inner`, which must outlive the wrapper.
  explicit StoreWrapper(Store& inner) : inner_(&inner) {}
  StoreWrapper(const StoreWrapper&) = delete;
  StoreWrapper& operator=(const StoreWrapper&) = delete;

  SchemaStatus schema_status() override { return inner().schema_status(); }
  std::optional<Watermark> get_watermark(const std::string& dag_id,
                                         const std::string& task_id) override {
    return inner().get_watermark(dag_id, task_id);
  }
  void set_watermark(const Watermark& mark) override { inner().set_watermark(mark); }
  bool delete_watermark(const std::string& dag_id, const std::string& task_id) override {
    return inner().delete_watermark(dag_id, task_id);
  }
  SchemaStatus migrate() override { return inner().migrate(); }
  int64_t upsert_dag(const std::string& dag_id, const std::string& file,
                     const std::string& content_hash, const std::string& yaml,
                     const nlohmann::json& definition, bool initially_paused, int max_active_tasks,
                     Timestamp now) override {
    return inner().upsert_dag(dag_id, file, content_hash, yaml, definition, initially_paused,
                              max_active_tasks, now);
  }
  void set_file_error(const FileError& error) override { inner().set_file_error(error); }
  void clear_file_error(const std::string& file) override { inner().clear_file_error(file); }
  std::vector<FileError> list_file_errors() override { return inner().list_file_errors(); }
  void set_active_files(const std::vector<std::string>& present_files) override {
    inner().set_active_files(present_files);
  }
  std::vector<DagRecord> list_dags() override { return inner().list_dags(); }
  std::optional<DagRecord> get_dag(const std::string& dag_id) override {
    return inner().get_dag(dag_id);
  }
  void set_paused(const std::string& dag_id, bool paused) override {
    inner().set_paused(dag_id, paused);
  }
  DagVersion get_version(int64_t version_id) override { return inner().get_version(version_id); }
  void set_pools(const std::map<std::string, int>& slots) override { inner().set_pools(slots); }
  std::map<std::string, int> list_pools() override { return inner().list_pools(); }
  std::optional<RunRecord> create_run(const NewRun& run, const Decider& decider,
                                      Timestamp now) override {
    return inner().create_run(run, decider, now);
  }
  std::optional<RunRecord> get_run(const std::string& dag_id, const std::string& run_id) override {
    return inner().get_run(dag_id, run_id);
  }
  std::optional<RunRecord> get_run_by_pk(int64_t run_pk) override {
    return inner().get_run_by_pk(run_pk);
  }
  std::vector<RunRecord> list_runs(const RunFilter& filter) override {
    return inner().list_runs(filter);
  }
  int64_t count_runs(const RunFilter& filter) override { return inner().count_runs(filter); }
  std::optional<RunRecord> latest_interval_run(const std::string& dag_id) override {
    return inner().latest_interval_run(dag_id);
  }
  std::vector<RunRecord> list_unfinished_runs() override { return inner().list_unfinished_runs(); }
  RunDecisions reconcile_run(int64_t run_pk, const Decider& decider, Timestamp now) override {
    return inner().reconcile_run(run_pk, decider, now);
  }
  std::vector<TaskInstanceRecord> list_task_instances(int64_t run_pk) override {
    return inner().list_task_instances(run_pk);
  }
  std::optional<TaskInstanceRecord> get_task_instance(int64_t ti_id) override {
    return inner().get_task_instance(ti_id);
  }
  std::vector<ClaimedTask> claim_tasks(const ClaimRequest& request) override {
    return inner().claim_tasks(request);
  }
  FinishOutcome finish_task(const TaskResult& result, const Decider& decider) override {
    return inner().finish_task(result, decider);
  }
  std::vector<int64_t> runs_with_due_tasks(Timestamp now) override {
    return inner().runs_with_due_tasks(now);
  }
  std::optional<Timestamp> next_due_time() override { return inner().next_due_time(); }
  int clear_task_instances(int64_t run_pk, const std::vector<int64_t>& ti_ids,
                           const Decider& decider, Timestamp now) override {
    return inner().clear_task_instances(run_pk, ti_ids, decider, now);
  }
  FinishOutcome expand_mapped_task(int64_t ti_id, int try_number, const std::string& worker_id,
                                   const std::vector<nlohmann::json>& items, const Decider& decider,
                                   Timestamp now) override {
    return inner().expand_mapped_task(ti_id, try_number, worker_id, items, decider, now);
  }
  nlohmann::json get_map_item(int64_t ti_id) override { return inner().get_map_item(ti_id); }
  void mark_task_instance(int64_t ti_id, TaskState state, const std::string& marked_by,
                          const Decider& decider,
                          Timestamp now) override {
    inner().mark_task_instance(ti_id, state, marked_by, decider, now);
  }
  void cancel_run(int64_t run_pk, Timestamp now) override { inner().cancel_run(run_pk, now); }
  std::vector<int64_t> tasks_to_stop(const std::string& worker_id,
                                     const std::vector<int64_t>& ti_ids) override {
    return inner().tasks_to_stop(worker_id, ti_ids);
  }
  std::vector<TaskInstanceRecord> running_on_worker(const std::string& worker_id) override {
    return inner().running_on_worker(worker_id);
  }
  bool release_claim(int64_t ti_id, int try_number, const std::string& worker_id) override {
    return inner().release_claim(ti_id, try_number, worker_id);
  }
  std::vector<TaskInstanceRecord> orphaned_tasks(Timestamp cutoff) override {
    return inner().orphaned_tasks(cutoff);
  }
  void append_log(int64_t ti_id, int try_number, int seq, const std::string& data) override {
    inner().append_log(ti_id, try_number, seq, data);
  }
  LogSlice read_log(int64_t ti_id, int try_number, int64_t offset,
                    int64_t limit = 1 << 20) override {
    return inner().read_log(ti_id, try_number, offset, limit);
  }
  void register_worker(const WorkerRecord& worker) override { inner().register_worker(worker); }
  void heartbeat_worker(const std::string& worker_id, Timestamp now) override {
    inner().heartbeat_worker(worker_id, now);
  }
  void set_worker_state(const std::string& worker_id, const std::string& state) override {
    inner().set_worker_state(worker_id, state);
  }
  std::vector<WorkerRecord> list_workers() override { return inner().list_workers(); }
  void heartbeat_scheduler(const std::string& scheduler_id, const std::string& host, bool leader,
                           Millis loop_lag, Timestamp now) override {
    inner().heartbeat_scheduler(scheduler_id, host, leader, loop_lag, now);
  }
  std::vector<SchedulerRecord> list_schedulers() override { return inner().list_schedulers(); }
  DurationHistogram task_duration_histogram(Timestamp since,
                                            const std::vector<Millis>& bounds) override {
    return inner().task_duration_histogram(since, bounds);
  }
  std::optional<AlertRecord> claim_next_alert(Timestamp now, Timestamp claim_until) override {
    return inner().claim_next_alert(now, claim_until);
  }
  bool mark_alert_delivered(int64_t alert_id, int status, Timestamp now) override {
    return inner().mark_alert_delivered(alert_id, status, now);
  }
  bool mark_alert_failed(int64_t alert_id, std::optional<int> status, const std::string& error,
                         std::optional<Timestamp> next_attempt_at) override {
    return inner().mark_alert_failed(alert_id, status, error, next_attempt_at);
  }
  std::vector<AlertRecord> list_alerts(bool undelivered_only, int limit) override {
    return inner().list_alerts(undelivered_only, limit);
  }
  std::vector<CheckResultRecord> list_check_results(const CheckResultFilter& filter) override {
    return inner().list_check_results(filter);
  }
  int64_t count_check_results(const CheckResultFilter& filter) override {
    return inner().count_check_results(filter);
  }
  int64_t create_backfill(const BackfillRecord& backfill,
                          const std::vector<BackfillIntervalRecord>& intervals) override {
    return inner().create_backfill(backfill, intervals);
  }
  std::optional<BackfillRecord> get_backfill(int64_t id) override {
    return inner().get_backfill(id);
  }
  std::vector<BackfillRecord> list_backfills(const std::string& dag_id, bool running_only,
                                             int limit) override {
    return inner().list_backfills(dag_id, running_only, limit);
  }
  std::vector<BackfillIntervalRecord> list_backfill_intervals(int64_t backfill_id) override {
    return inner().list_backfill_intervals(backfill_id);
  }
  std::string update_backfill_interval(int64_t backfill_id, Timestamp interval_start,
                                       const std::string& action, const std::string& reason,
                                       std::optional<int64_t> run_pk) override {
    return inner().update_backfill_interval(backfill_id, interval_start, action, reason, run_pk);
  }
  bool update_backfill(int64_t id, const std::string& state, int total_runs, int succeeded_runs,
                       int failed_runs, Timestamp now) override {
    return inner().update_backfill(id, state, total_runs, succeeded_runs, failed_runs, now);
  }
  bool rerun_for_backfill(int64_t run_pk, int64_t backfill_id, const nlohmann::json& conf,
                          Timestamp now) override {
    return inner().rerun_for_backfill(run_pk, backfill_id, conf, now);
  }
  std::vector<RunRecord> list_interval_runs(const std::string& dag_id, Timestamp from,
                                            Timestamp to) override {
    return inner().list_interval_runs(dag_id, from, to);
  }
  bool arm_sla_timer(const SlaTimer& timer) override { return inner().arm_sla_timer(timer); }
  std::vector<SlaTimer> due_sla_timers(Timestamp now, int limit) override {
    return inner().due_sla_timers(now, limit);
  }
  std::optional<Timestamp> next_sla_due() override { return inner().next_sla_due(); }
  bool fire_sla_timer(int64_t timer_id, const std::optional<SlaMissRecord>& miss,
                      const std::optional<AlertEvent>& alert, Timestamp now) override {
    return inner().fire_sla_timer(timer_id, miss, alert, now);
  }
  std::vector<SlaMissRecord> list_sla_misses(const std::string& dag_id, int limit) override {
    return inner().list_sla_misses(dag_id, limit);
  }
  std::optional<RunRecord> last_successful_run(const std::string& dag_id) override {
    return inner().last_successful_run(dag_id);
  }
  int64_t clean_finished_runs(Timestamp cutoff, int batch = 500) override {
    return inner().clean_finished_runs(cutoff, batch);
  }
  void add_metric_samples(const std::vector<MetricSample>& samples) override {
    inner().add_metric_samples(samples);
  }
  MetricsSnapshot read_metrics() override { return inner().read_metrics(); }

 protected:
  Store& inner() { return *inner_; }
  /// Destroys an owned inner store now (closing its connections).
  void close_inner() {
    owned_.reset();
    inner_ = nullptr;
  }

 private:
  std::unique_ptr<Store> owned_;
  Store* inner_;
};

}  // namespace sluice
