#include "web/api.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <set>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/dag.h"
#include "core/error.h"
#include "core/log.h"
#include "core/record_json.h"
#include "core/secrets.h"
#include "core/store.h"
#include "core/text.h"
#include "engine/alerts.h"
#include "engine/dag_cache.h"
#include "engine/next_run.h"
#include "engine/run_factory.h"
#include "engine/task_lookup.h"
#include "engine/trigger.h"
#include "web/api_grid.h"
#include "web/api_params.h"
#include "web/api_routes.h"
#include "web/backfill_api.h"
#include "web/http_body.h"

namespace sluice {

using nlohmann::json;

namespace {

constexpr int kRecentRuns = 10;     // squares on the DAG list


}  // namespace

void send_json(httplib::Response& res, int status, const json& body) {
  if (SentListCapture* capture = SentListCapture::active(); capture && status == 200 &&
                                                             body.is_array()) {
    capture->list = body;  // the route sends the page asked for
    return;
  }
  res.status = status;
  std::string text = body.dump(-1, ' ', false, json::error_handler_t::replace);
  if (status >= 400) {
    // Small; the server's error handler looks at res.body.
    res.set_content(text, "application/json; charset=utf-8");
  } else {
    // Sent uncompressed: httplib's brotli costs more than the bytes it saves.
    set_raw_body(res, std::move(text), "application/json; charset=utf-8", false);
  }
}

void send_error(httplib::Response& res, int status, const std::string& message) {
  send_json(res, status, json{{"error", message}});
}

Api::Api(Store& store, DagCache& dags, const Config& config, const Clock& clock)
    : store_(store), dags_(dags), config_(config), clock_(clock), secrets_(config.secrets()) {}

std::string Api::masked(const std::string& text) const { return mask_secrets(text, secrets_); }

json Api::masked_json(json j) const { return mask_secrets_json(std::move(j), secrets_); }

std::vector<std::string> Api::secrets_of_version(int64_t version_id) {
  std::vector<std::string> secrets = secrets_;
  try {
    for (std::string& s : literal_secrets(*dags_.get(version_id))) secrets.push_back(std::move(s));
  } catch (const UserError&) {
    // A stored definition this binary cannot read: the configured secrets still apply.
  }
  return secrets;
}

void Api::install(RouteTable& routes) {
  // Every handler runs guarded: typed errors become fitting statuses, and
  // nothing escapes to httplib (which would answer 500 with no body).
  using Method = void (Api::*)(const httplib::Request&, httplib::Response&);
  auto guarded = [this](ApiRoute::Handler handler) {
    return [this, handler](const httplib::Request& req, httplib::Response& res) {
      answer_guarded(
          req, res, [&] { handler(req, res); },
          [this](const std::string& text) { return masked(text); });
    };
  };
  auto call = [this, guarded](Method method) {
    return guarded([this, method](const httplib::Request& req, httplib::Response& res) {
      (this->*method)(req, res);
    });
  };
  auto pause = [this, guarded](bool paused) {
    return guarded([this, paused](const httplib::Request& req, httplib::Response& res) {
      send_json(res, 200, set_paused(req.matches[1], paused));
    });
  };
  const std::string dag = "/api/v1/dags/{dag_id}";
  const std::string run = dag + "/runs/{run_id}";
  const std::string task = run + "/tasks/{task_id}";

  routes.add("GET", "/healthz", call(&Api::get_health));
  routes.add("GET", "/metrics", call(&Api::get_metrics));
  routes.add("GET", "/api/v1/dags", call(&Api::get_dags), Paging::kSliced);
  routes.add("GET", "/api/v1/import-errors", call(&Api::get_import_errors), Paging::kSliced);
  routes.add("GET", "/api/v1/runs", call(&Api::get_runs), Paging::kHandler);
  routes.add("GET", "/api/v1/workers", call(&Api::get_workers), Paging::kSliced);
  routes.add("GET", "/api/v1/schedulers", call(&Api::get_schedulers), Paging::kSliced);
  routes.add("GET", "/api/v1/alerts", call(&Api::list_alerts), Paging::kHandler);
  routes.add("GET", "/api/v1/pools", call(&Api::get_pools), Paging::kSliced);
  routes.add("GET", "/api/v1/sla-misses", call(&Api::list_sla_misses), Paging::kHandler);
  routes.add("GET", dag, call(&Api::get_dag));
  routes.add("PATCH", dag, call(&Api::patch_dag));
  for (const std::string method : {"POST", "PATCH"}) {
    routes.add(method, dag + "/pause", pause(true));
    routes.add(method, dag + "/unpause", pause(false));
  }
  routes.add("GET", dag + "/grid", call(&Api::get_grid));
  routes.add("GET", dag + "/runs", call(&Api::get_runs), Paging::kHandler);
  routes.add("POST", dag + "/runs", call(&Api::post_run));
  routes.add("GET", run, call(&Api::get_run));
  routes.add("POST", run + "/cancel", call(&Api::cancel_run));
  routes.add("POST", run + "/clear", call(&Api::clear_run));
  routes.add("GET", run + "/tasks", call(&Api::get_tasks), Paging::kSliced);
  routes.add("GET", task, call(&Api::get_task));
  routes.add("POST", task + "/clear", call(&Api::clear_task));
  routes.add("POST", task + "/mark", call(&Api::mark_task));
  routes.add("GET", task + "/logs", call(&Api::get_logs));
  routes.add("GET", task + "/checks", call(&Api::get_task_checks), Paging::kSliced);
  // get_checks pages in the store; the count of every result is added here.
  routes.add("GET", dag + "/checks",
             guarded([this](const httplib::Request& req, httplib::Response& res) {
               get_checks(req, res);
               if (res.status == 200) {
                 CheckResultFilter filter;
                 filter.dag_id = req.matches[1];
                 if (req.has_param("task_id")) filter.task_id = req.get_param_value("task_id");
                 if (req.has_param("name")) filter.name = req.get_param_value("name");
                 res.set_header("X-Total-Count",
                                std::to_string(store_.count_check_results(filter)));
               }
             }),
             Paging::kHandler);
  install_backfill_api(routes, store_, dags_, clock_);
  install_grid_api(routes, store_, dags_, clock_, secrets_);
}

// ---- lookups

DagRecord Api::find_dag(const std::string& dag_id) { return existing_dag(store_, dag_id); }

RunRecord Api::find_run(const std::string& dag_id, const std::string& run_id) {
  find_dag(dag_id);
  if (run_id == "latest") {
    RunFilter filter;
    filter.dag_id = dag_id;
    filter.limit = 1;
    auto runs = store_.list_runs(filter);
    if (runs.empty()) throw NotFoundError("DAG '" + dag_id + "' has no runs yet");
    return runs.front();
  }
  std::optional<RunRecord> run = store_.get_run(dag_id, run_id);
  if (!run) throw NotFoundError("no run '" + run_id + "' of DAG '" + dag_id + "'");
  return *run;
}

TaskInstanceRecord Api::find_task(const RunRecord& run, const std::string& task_id,
                                  const httplib::Request& req) {
  std::optional<int> map_index;
  if (req.has_param("map_index")) map_index = int_param(req, "map_index", -1, -1, 1 << 30);
  return find_task_instance(store_.list_task_instances(run.id), run.run_id, task_id, map_index);
}

std::string Api::dag_filter(const httplib::Request& req) {
  std::string dag_id = dag_id_param(req);
  return dag_id.empty() ? dag_id : find_dag(dag_id).dag_id;
}

// ---- JSON views

json Api::dag_summary(const DagRecord& record, const std::string& file_error) {
  json j = {{"dag_id", record.dag_id},
            {"file", record.file},
            {"paused", record.paused},
            {"active", record.active},
            {"version_id", record.version_id ? json(*record.version_id) : json(nullptr)},
            {"updated_at", format_iso(record.updated_at)},
            {"parse_error", masked(!record.parse_error.empty() ? record.parse_error : file_error)},
            {"schedule", nullptr},
            {"timezone", "UTC"},
            {"description", ""},
            {"tags", json::array()},
            {"next_run", nullptr}};
  if (record.version_id) {
    try {
      std::shared_ptr<const Dag> dag = dags_.get(*record.version_id);
      if (dag->schedule.kind() != Schedule::Kind::kNone) j["schedule"] = dag->schedule.expression();
      j["timezone"] = dag->timezone;
      j["description"] = dag->description;
      j["tags"] = dag->tags;
      j["task_count"] = dag->tasks.size();
      std::optional<RunRecord> latest = store_.latest_interval_run(dag->id);
      j["next_run"] = next_run_json(next_run(
          *dag, record.paused, latest ? std::optional(latest->interval.start) : std::nullopt,
          clock_.now()));
    } catch (const UserError& e) {
      // A stored definition this binary cannot read: show it, keep listing.
      j["definition_error"] = masked(e.what());
    }
  }
  RunFilter filter;
  filter.dag_id = record.dag_id;
  filter.limit = kRecentRuns;
  json recent = json::array();
  for (const RunRecord& run : store_.list_runs(filter)) {
    recent.push_back({{"run_id", run.run_id},
                      {"state", to_string(run.state)},
                      {"type", to_string(run.type)},
                      {"data_interval_start", format_iso(run.interval.start)},
                      {"data_interval_end", format_iso(run.interval.end)}});
  }
  j["last_run_state"] = recent.empty() ? json(nullptr) : recent.front()["state"];
  j["recent_runs"] = std::move(recent);  // newest first
  return j;
}

json Api::dag_detail(const std::string& dag_id) {
  DagRecord record = find_dag(dag_id);
  std::string file_error;
  for (const FileError& error : store_.list_file_errors()) {
    if (error.file == record.file) file_error = error.message;
  }
  json j = dag_summary(record, file_error);
  j["definition"] = nullptr;
  j["yaml"] = "";
  j["tasks"] = json::array();
  if (!record.version_id) return j;
  DagVersion version = store_.get_version(*record.version_id);
  const std::vector<std::string> secrets = secrets_of_version(version.id);
  j["yaml"] = mask_secrets(version.yaml, secrets);
  j["definition"] = mask_secrets_json(version.definition, secrets);
  j["version"] = {{"id", version.id},
                  {"content_hash", version.content_hash},
                  {"created_at", format_iso(version.created_at)}};
  try {
    std::shared_ptr<const Dag> dag = dags_.get(version.id);
    for (const Task& task : dag->tasks) {
      j["tasks"].push_back({{"id", task.id},
                            {"type", task.type},
                            {"depends_on", task.depends_on},
                            {"trigger_rule", to_string(task.trigger_rule)},
                            {"retries", task.retry.retries},
                            {"pool", task.pool},
                            {"queue", task.queue}});
    }
    j["params"] = masked_json(dag->params);
    j["catchup"] = dag->catchup;
    j["max_active_runs"] = dag->max_active_runs;
    j["start_date"] = format_iso(dag->start_date);
  } catch (const UserError&) {
    // definition_error is already set by dag_summary.
  }
  return j;
}

// ---- DAGs

void Api::get_dags(const httplib::Request&, httplib::Response& res) {
  std::map<std::string, std::string> file_errors;
  for (const FileError& error : store_.list_file_errors()) file_errors[error.file] = error.message;
  json list = json::array();
  for (const DagRecord& record : store_.list_dags()) {
    auto found = file_errors.find(record.file);
    list.push_back(dag_summary(record, found == file_errors.end() ? "" : found->second));
  }
  std::sort(list.begin(), list.end(),
            [](const json& a, const json& b) { return a["dag_id"] < b["dag_id"]; });
  send_json(res, 200, list);
}

void Api::get_dag(const httplib::Request& req, httplib::Response& res) {
  send_json(res, 200, dag_detail(req.matches[1]));
}

json Api::set_paused(const std::string& dag_id, bool paused) {
  DagRecord record = find_dag(dag_id);
  store_.set_paused(dag_id, paused);
  record.paused = paused;
  return dag_summary(record, "");
}

void Api::patch_dag(const httplib::Request& req, httplib::Response& res) {
  std::string dag_id = req.matches[1];
  json body = body_object(req);
  if (!body.contains("paused")) throw UserError("paused is required: send {\"paused\": true}");
  if (!body["paused"].is_boolean()) throw UserError("paused must be true or false");
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (it.key() != "paused") throw UserError("unknown field '" + it.key() + "': only paused can be changed");
  }
  send_json(res, 200, set_paused(dag_id, body["paused"].get<bool>()));
}

void Api::get_import_errors(const httplib::Request&, httplib::Response& res) {
  json list = json::array();
  for (const FileError& error : store_.list_file_errors()) {
    list.push_back({{"file", error.file},
                    {"dag_id", error.dag_id},
                    {"message", masked(error.message)},
                    {"at", format_iso(error.at)}});
  }
  send_json(res, 200, list);
}

void Api::get_grid(const httplib::Request& req, httplib::Response& res) {
  // One request for the DAG page's grid: the page's runs and their task
  // states, so the browser does not ask once per run; with `since`, only
  // what changed since that answer.
  DagRecord record = find_dag(req.matches[1]);
  GridQuery query;
  query.limit = int_param(req, "limit", 25, 1, 100);
  query.offset = int_param(req, "offset", 0, 0, 1 << 30);
  if (req.has_param("since")) query.since = req.get_param_value("since");
  std::string file_error;
  for (const FileError& error : store_.list_file_errors()) {
    if (error.file == record.file) file_error = error.message;
  }
  set_raw_body(res, grid_text(store_, dags_, record, dag_summary(record, file_error), secrets_, query),
               "application/json; charset=utf-8", false);
}

void Api::list_alerts(const httplib::Request& req, httplib::Response& res) {
  bool undelivered = false;
  if (req.has_param("undelivered")) {
    std::string v = req.get_param_value("undelivered");
    if (v == "1" || v == "true" || v.empty()) {
      undelivered = true;
    } else if (v != "0" && v != "false") {
      throw UserError("undelivered must be 1 or 0, not '" + v + "'");
    }
  }
  std::string dag_id = dag_filter(req);
  PageRange range = page_range(req, 100);
  json list = json::array();
  for (const AlertRecord& a : store_.list_alerts(undelivered, std::numeric_limits<int>::max())) {
    if (dag_id.empty() || a.dag_id == dag_id) list.push_back(alert_json(a, secrets_));
  }
  send_page(res, page_of(list, range), static_cast<int64_t>(list.size()));
}

void Api::list_sla_misses(const httplib::Request& req, httplib::Response& res) {
  std::string dag_id = dag_filter(req);
  PageRange range = page_range(req, 100);
  json list = json::array();
  std::map<std::string, std::string> timezones;  // by DAG: few DAGs, many misses
  for (const SlaMissRecord& m : store_.list_sla_misses(dag_id, std::numeric_limits<int>::max())) {
    auto tz = timezones.find(m.dag_id);
    if (tz == timezones.end()) tz = timezones.emplace(m.dag_id, dag_timezone(m.dag_id)).first;
    json miss = sla_miss_json(m);
    miss["timezone"] = tz->second;
    list.push_back(std::move(miss));
  }
  send_page(res, page_of(list, range), static_cast<int64_t>(list.size()));
}

// ---- runs

void Api::get_runs(const httplib::Request& req, httplib::Response& res) {
  RunFilter filter;
  filter.dag_id = req.matches.size() > 1 ? find_dag(req.matches[1]).dag_id : dag_filter(req);
  if (req.has_param("state") && !req.get_param_value("state").empty()) {
    std::string state = req.get_param_value("state");
    filter.state = parse_run_state(state);
    if (!filter.state) {
      throw UserError("state '" + state +
                      "' is not a run state: use queued, running, success, failed or canceled");
    }
  }
  if (req.has_param("type") && !req.get_param_value("type").empty()) {
    std::string type = req.get_param_value("type");
    filter.type = parse_run_type(type);
    if (!filter.type) {
      throw UserError("type '" + type + "' is not a run type: use scheduled, manual or backfill");
    }
  }
  PageRange range = page_range(req, 25);
  filter.limit = *range.limit;
  filter.offset = range.offset;
  json list = json::array();
  for (const RunRecord& run : store_.list_runs(filter)) list.push_back(run_json(run, secrets_));
  send_page(res, list, store_.count_runs(filter));
}

void Api::post_run(const httplib::Request& req, httplib::Response& res) {
  json body = body_object(req);
  TriggerRequest trigger;
  trigger.dag_id = find_dag(req.matches[1]).dag_id;
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (it.key() != "conf" && it.key() != "date") {
      throw UserError("unknown field '" + it.key() + "'" +
                      did_you_mean(it.key(), {"conf", "date"}) + ": send conf and/or date");
    }
  }
  if (body.contains("conf") && !body["conf"].is_null()) {
    if (!body["conf"].is_object()) {
      throw UserError("conf must be a JSON object such as {\"country\": \"de\"}");
    }
    trigger.conf = body["conf"];
  }
  if (body.contains("date") && !body["date"].is_null()) {
    if (!body["date"].is_string()) throw UserError("date must be a string such as \"2026-02-03\"");
    if (!body["date"].get<std::string>().empty()) trigger.date = body["date"].get<std::string>();
  }
  RunRecord run;
  try {
    run = trigger_run(store_, dags_, trigger, clock_.now());
  } catch (const NotFoundError&) {
    throw;
  } catch (const UserError& e) {
    throw UserError(api_field_names(e.what()));
  }
  json j = run_json(run, secrets_);
  json tasks = json::array();
  for (const TaskInstanceRecord& ti : store_.list_task_instances(run.id)) {
    tasks.push_back(task_json(ti, secrets_, false));
  }
  j["tasks"] = std::move(tasks);
  send_json(res, 201, j);
}

void Api::get_run(const httplib::Request& req, httplib::Response& res) {
  RunRecord run = find_run(req.matches[1], req.matches[2]);
  json j = run_json(run, secrets_);
  json tasks = json::array();
  for (const TaskInstanceRecord& ti : store_.list_task_instances(run.id)) {
    tasks.push_back(task_json(ti, secrets_, false));
  }
  j["tasks"] = std::move(tasks);
  try {
    j["timezone"] = dags_.get(run.version_id)->timezone;
  } catch (const UserError&) {
    j["timezone"] = "UTC";
  }
  send_json(res, 200, j);
}

void Api::cancel_run(const httplib::Request& req, httplib::Response& res) {
  RunRecord run = find_run(req.matches[1], req.matches[2]);
  if (is_finished(run.state)) {
    send_error(res, 409, "run '" + run.run_id + "' already ended (" + to_string(run.state) + ")");
    return;
  }
  store_.cancel_run(run.id, clock_.now());
  send_json(res, 200, run_json(*store_.get_run_by_pk(run.id), secrets_));
}

void Api::clear_run(const httplib::Request& req, httplib::Response& res) {
  RunRecord run = find_run(req.matches[1], req.matches[2]);
  json body = body_object(req);
  bool failed_only = false;
  if (body.contains("failed_only")) {
    if (!body["failed_only"].is_boolean()) throw UserError("failed_only must be true or false");
    failed_only = body["failed_only"].get<bool>();
  }
  std::shared_ptr<const Dag> dag = dags_.get(run.version_id);
  std::set<std::string> selected;
  std::vector<TaskInstanceRecord> tis = store_.list_task_instances(run.id);
  for (const TaskInstanceRecord& ti : tis) {
    bool failed = ti.state == TaskState::kFailed || ti.state == TaskState::kUpstreamFailed;
    if (!failed_only || failed) selected.insert(ti.task_id);
  }
  selected = with_downstream(*dag, selected);
  std::vector<int64_t> ids;
  json cleared_ids = json::array();
  for (const TaskInstanceRecord& ti : tis) {
    if (selected.count(ti.task_id)) {
      ids.push_back(ti.id);
      cleared_ids.push_back(ti.task_id);
    }
  }
  int cleared = 0;
  if (!ids.empty()) {
    Timestamp now = clock_.now();
    cleared = store_.clear_task_instances(run.id, ids, make_decider(dag, now), now);
  }
  send_json(res, 200, {{"cleared", cleared}, {"task_ids", cleared_ids}});
}

}  // namespace sluice
