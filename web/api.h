#pragma once
// The JSON handlers of /api/v1, /healthz and /metrics. Security (token,
// CSRF, body size) is WebServer's job and happens before these run.

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/time.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace sluice {

class DagCache;
class RouteTable;
class Store;
struct Config;
struct DagRecord;
struct RunRecord;
struct TaskInstanceRecord;

/// Answers API requests from the store: DAGs, runs, task instances, logs,
/// workers, alerts, health and metrics.
class Api {
 public:
  Api(Store& store, DagCache& dags, const Config& config, const Clock& clock);
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  /// Adds every /api/v1 route (backfills too), /healthz and /metrics to `routes`.
  void install(RouteTable& routes);

 private:
  nlohmann::json dag_summary(const DagRecord& record, const std::string& file_error);
  nlohmann::json dag_detail(const std::string& dag_id);
  DagRecord find_dag(const std::string& dag_id);
  RunRecord find_run(const std::string& dag_id, const std::string& run_id);
  /// The instance of `task_id` that `req`'s ?map_index= names: without it,
  /// the task's only instance (a mapped task's instances need the index).
  TaskInstanceRecord find_task(const RunRecord& run, const std::string& task_id,
                               const httplib::Request& req);
  nlohmann::json set_paused(const std::string& dag_id, bool paused);
  /// The DAG's time zone from its latest version; UTC when unknown.
  std::string dag_timezone(const std::string& dag_id);
  /// Replaces every configured secret in every string of `j`.
  nlohmann::json masked_json(nlohmann::json j) const;
  std::string masked(const std::string& text) const;
  /// The configured secrets plus those written in a DAG version's file.
  std::vector<std::string> secrets_of_version(int64_t version_id);

  void get_dags(const httplib::Request& req, httplib::Response& res);
  void get_dag(const httplib::Request& req, httplib::Response& res);
  void patch_dag(const httplib::Request& req, httplib::Response& res);
  void get_grid(const httplib::Request& req, httplib::Response& res);
  void get_import_errors(const httplib::Request& req, httplib::Response& res);
  void get_runs(const httplib::Request& req, httplib::Response& res);
  void post_run(const httplib::Request& req, httplib::Response& res);
  void get_run(const httplib::Request& req, httplib::Response& res);
  void cancel_run(const httplib::Request& req, httplib::Response& res);
  void clear_run(const httplib::Request& req, httplib::Response& res);
  void get_tasks(const httplib::Request& req, httplib::Response& res);
  void get_task(const httplib::Request& req, httplib::Response& res);
  void clear_task(const httplib::Request& req, httplib::Response& res);
  void mark_task(const httplib::Request& req, httplib::Response& res);
  void get_logs(const httplib::Request& req, httplib::Response& res);
  void get_task_checks(const httplib::Request& req, httplib::Response& res);
  void get_checks(const httplib::Request& req, httplib::Response& res);
  void get_workers(const httplib::Request& req, httplib::Response& res);
  void get_schedulers(const httplib::Request& req, httplib::Response& res);
  void get_pools(const httplib::Request& req, httplib::Response& res);
  /// The alerts and SLA misses of every DAG or of one (`dag_id`), paged.
  void list_alerts(const httplib::Request& req, httplib::Response& res);
  void list_sla_misses(const httplib::Request& req, httplib::Response& res);
  /// The `dag_id` query parameter of a list (empty when absent);
  /// NotFoundError, with a suggestion, for a DAG that does not exist.
  std::string dag_filter(const httplib::Request& req);
  void get_health(const httplib::Request& req, httplib::Response& res);
  void get_metrics(const httplib::Request& req, httplib::Response& res);
  std::string render_metrics();

  Store& store_;
  DagCache& dags_;
  const Config& config_;
  const Clock& clock_;
  std::vector<std::string> secrets_;

  // Metrics walk many rows; scrapes within a few seconds share one result.
  std::mutex metrics_mu_;
  std::string metrics_text_;                           // GUARDED_BY(metrics_mu_)
  std::chrono::steady_clock::time_point metrics_at_{};  // GUARDED_BY(metrics_mu_)
};

/// Sends `body` as JSON with `status` (non-UTF-8 bytes are replaced, never thrown on).
void send_json(httplib::Response& res, int status, const nlohmann::json& body);
/// Sends {"error": message} with `status`.
void send_error(httplib::Response& res, int status, const std::string& message);

}  // namespace sluice
