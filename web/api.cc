#include "web/api.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <set>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/dag.h"
#include "core/error.h"
#include "core/log.h"
#include "core/secrets.h"
#include "core/store.h"
#include "core/text.h"
#include "scheduler/alerts.h"
#include "scheduler/dag_cache.h"
#include "scheduler/run_factory.h"
#include "scheduler/trigger.h"
#include "web/backfill_api.h"
#include "web/http_body.h"

namespace sluice {

using nlohmann::json;

namespace {

constexpr int kRecentRuns = 10;     // squares on the DAG list
constexpr int kMaxPageSize = 1000;  // runs, alerts per request
constexpr int64_t kDefaultLogBytes = 256 * 1024;
constexpr int64_t kMaxLogBytes = 1 << 20;
constexpr auto kMetricsCacheTime = std::chrono::seconds(5);
constexpr auto kTaskDurationWindow = std::chrono::hours(24);  // of the duration histogram
// Upper bounds of the task duration histogram, in milliseconds: ELT tasks
// take from a fraction of a second to hours.
constexpr int64_t kTaskDurationBucketsMs[] = {500,    1000,    5000,    10000,   30000,  60000,
                                              300000, 900000,  1800000, 3600000, 7200000, 21600000};

/// Milliseconds as seconds for Prometheus: "0.5", "12", "0.012".
std::string seconds_text(int64_t ms) {
  std::string text = std::to_string(ms / 1000);
  if (ms < 0 && ms / 1000 == 0) text = "-0";
  int64_t frac = (ms < 0 ? -ms : ms) % 1000;
  if (frac == 0) return text;
  char digits[8];
  std::snprintf(digits, sizeof digits, "%03d", static_cast<int>(frac));
  std::string fraction = digits;
  while (fraction.back() == '0') fraction.pop_back();
  return text + "." + fraction;
}

/// A Prometheus label value: backslash, quote and newline escaped.
std::string label_value(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

json time_or_null(const std::optional<Timestamp>& t) {
  return t ? json(format_iso(*t)) : json(nullptr);
}

std::optional<int64_t> duration_ms(const std::optional<Timestamp>& from,
                                   const std::optional<Timestamp>& to) {
  if (!from || !to) return std::nullopt;
  return (*to - *from).count();
}

/// An integer query parameter within [min, max]; UserError names the parameter.
int int_param(const httplib::Request& req, const std::string& name, int fallback, int min,
              int max) {
  if (!req.has_param(name.c_str())) return fallback;
  std::string text = req.get_param_value(name.c_str());
  size_t used = 0;
  long value = 0;
  try {
    value = std::stol(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || value < min || value > max) {
    throw UserError(name + " must be an integer from " + std::to_string(min) + " to " +
                    std::to_string(max) + ", not '" + text + "'");
  }
  return static_cast<int>(value);
}

/// The request body as a JSON object; an empty body is {}.
json body_object(const httplib::Request& req) {
  if (trim(req.body).empty()) return json::object();
  json body;
  try {
    body = json::parse(req.body);
  } catch (const json::exception& e) {
    throw UserError(std::string("request body is not valid JSON: ") + e.what());
  }
  if (!body.is_object()) throw UserError("request body must be a JSON object");
  return body;
}

/// Drops a trailing incomplete UTF-8 sequence so that a log slice never ends
/// mid-character; returns how many bytes were dropped.
size_t trim_partial_utf8(std::string& data) {
  size_t n = data.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    unsigned char c = static_cast<unsigned char>(data[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking
    size_t need = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    if (need > back && back < n) {
      data.resize(n - back);
      return back;
    }
    return 0;
  }
  return 0;
}

/// Task ids of `dag` in `selected` plus everything downstream of them.
std::set<std::string> with_downstream(const Dag& dag, std::set<std::string> selected) {
  bool grew = true;
  while (grew) {
    grew = false;
    for (const Task& task : dag.tasks) {
      if (selected.count(task.id)) continue;
      for (const std::string& dep : task.depends_on) {
        if (selected.count(dep)) {
          selected.insert(task.id);
          grew = true;
          break;
        }
      }
    }
  }
  return selected;
}

/// The next interval the scheduler will create a run for, if any.
std::optional<DataInterval> next_run_interval(const Dag& dag, Store& store, Timestamp now) {
  const Schedule& schedule = dag.schedule;
  std::optional<RunRecord> latest = store.latest_interval_run(dag.id);
  if (schedule.kind() == Schedule::Kind::kNone) return std::nullopt;
  if (schedule.kind() == Schedule::Kind::kOnce) {
    if (latest) return std::nullopt;
    return DataInterval{dag.start_date, dag.start_date};
  }
  std::optional<DataInterval> next =
      latest ? next_interval_after(schedule, dag.bounds(), latest->interval.end)
             : next_interval_after(schedule, dag.bounds(), dag.start_date);
  if (!dag.catchup && next) {
    // Without catchup the scheduler skips ahead to the latest complete interval.
    auto complete = latest_complete_interval(schedule, dag.bounds(), now);
    if (complete && complete->start > next->start) next = complete;
  }
  return next;
}

/// Rewrites the CLI's flag names in trigger errors to the API's field names.
std::string api_field_names(std::string message) {
  for (auto [flag, field] : {std::pair<std::string, std::string>{"--conf", "conf"},
                             std::pair<std::string, std::string>{"--date", "date"}}) {
    for (size_t at = message.find(flag); at != std::string::npos; at = message.find(flag, at)) {
      message.replace(at, flag.size(), field);
    }
  }
  return message;
}

}  // namespace

void send_json(httplib::Response& res, int status, const json& body) {
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

void Api::install(httplib::Server& server) {
  // Every handler runs guarded: typed errors become fitting statuses, and
  // nothing escapes to httplib (which would answer 500 with no body).
  using Method = void (Api::*)(const httplib::Request&, httplib::Response&);
  auto guarded = [this](Method method) {
    return [this, method](const httplib::Request& req, httplib::Response& res) {
      try {
        (this->*method)(req, res);
      } catch (const NotFoundError& e) {
        send_error(res, 404, masked(e.what()));
      } catch (const UserError& e) {
        send_error(res, 400, masked(e.what()));
      } catch (const ConflictError& e) {
        send_error(res, 409, masked(e.what()));
      } catch (const StoreError& e) {
        send_error(res, 503, "the database failed: " + masked(e.what()));
      } catch (const std::exception& e) {
        log_error("web", req.method + " " + req.path + ": " + masked(e.what()));
        send_error(res, 500, "internal error: " + masked(e.what()));
      }
    };
  };
  const std::string dag = R"(/api/v1/dags/([^/]+))";
  const std::string run = dag + R"(/runs/([^/]+))";
  const std::string task = run + R"(/tasks/([^/]+))";

  server.Get("/healthz", guarded(&Api::get_health));
  server.Get("/metrics", guarded(&Api::get_metrics));
  server.Get("/api/v1/dags", guarded(&Api::get_dags));
  server.Get("/api/v1/import-errors", guarded(&Api::get_import_errors));
  server.Get("/api/v1/runs", guarded(&Api::get_runs));
  server.Get("/api/v1/workers", guarded(&Api::get_workers));
  server.Get("/api/v1/schedulers", guarded(&Api::get_schedulers));
  server.Get("/api/v1/alerts", guarded(&Api::get_alerts));
  server.Get("/api/v1/pools", guarded(&Api::get_pools));
  server.Get("/api/v1/sla-misses", guarded(&Api::get_sla_misses));
  server.Get(dag, guarded(&Api::get_dag));
  server.Patch(dag, guarded(&Api::patch_dag));
  server.Post(dag + "/(pause|unpause)", guarded(&Api::patch_dag));
  server.Patch(dag + "/(pause|unpause)", guarded(&Api::patch_dag));
  server.Get(dag + "/grid", guarded(&Api::get_grid));
  server.Get(dag + "/runs", guarded(&Api::get_runs));
  server.Post(dag + "/runs", guarded(&Api::post_run));
  server.Get(run, guarded(&Api::get_run));
  server.Post(run + "/cancel", guarded(&Api::cancel_run));
  server.Post(run + "/clear", guarded(&Api::clear_run));
  server.Get(run + "/tasks", guarded(&Api::get_tasks));
  server.Get(task, guarded(&Api::get_task));
  server.Post(task + "/clear", guarded(&Api::clear_task));
  server.Post(task + "/mark", guarded(&Api::mark_task));
  server.Get(task + "/logs", guarded(&Api::get_logs));
  install_backfill_api(server, store_, dags_, clock_);
}

// ---- lookups

DagRecord Api::find_dag(const std::string& dag_id) {
  std::optional<DagRecord> record = store_.get_dag(dag_id);
  if (!record) {
    std::vector<std::string> ids;
    for (const DagRecord& r : store_.list_dags()) ids.push_back(r.dag_id);
    throw NotFoundError("no DAG '" + dag_id + "'" + did_you_mean(dag_id, ids));
  }
  return *record;
}

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

TaskInstanceRecord Api::find_task(const RunRecord& run, const std::string& task_id) {
  std::vector<std::string> ids;
  for (TaskInstanceRecord& ti : store_.list_task_instances(run.id)) {
    if (ti.task_id == task_id) return ti;
    ids.push_back(ti.task_id);
  }
  throw NotFoundError("no task '" + task_id + "' in run '" + run.run_id + "'" +
                      did_you_mean(task_id, ids));
}

// ---- JSON views

json Api::run_json(const RunRecord& run) {
  json j = {{"dag_id", run.dag_id},
            {"run_id", run.run_id},
            {"type", to_string(run.type)},
            {"state", to_string(run.state)},
            {"version_id", run.version_id},
            {"data_interval_start", format_iso(run.interval.start)},
            {"data_interval_end", format_iso(run.interval.end)},
            {"conf", masked_json(run.conf)},
            {"backfill_id", run.backfill_id ? json(*run.backfill_id) : json(nullptr)},
            {"created_at", format_iso(run.created_at)},
            {"started_at", time_or_null(run.started_at)},
            {"ended_at", time_or_null(run.ended_at)}};
  auto duration = duration_ms(run.started_at, run.ended_at);
  j["duration_ms"] = duration ? json(*duration) : json(nullptr);
  return j;
}

json Api::task_json(const TaskInstanceRecord& ti, bool full) {
  json j = {{"task_id", ti.task_id},
            {"map_index", ti.map_index},
            {"state", to_string(ti.state)},
            {"try_number", ti.try_number},
            {"max_tries", ti.max_tries},
            {"pool", ti.pool},
            {"queue", ti.queue},
            {"priority", ti.priority},
            {"queued_at", time_or_null(ti.queued_at)},
            {"started_at", time_or_null(ti.started_at)},
            {"ended_at", time_or_null(ti.ended_at)},
            {"next_try_at", time_or_null(ti.next_try_at)},
            {"worker_id", ti.worker_id},
            {"exit_code", ti.exit_code ? json(*ti.exit_code) : json(nullptr)},
            {"error", masked(ti.error)}};
  auto duration = duration_ms(ti.started_at, ti.ended_at);
  j["duration_ms"] = duration ? json(*duration) : json(nullptr);
  if (full) {
    j["outputs"] = masked_json(ti.outputs);
    j["rendered"] = masked_json(ti.rendered);
    j["first_started_at"] = time_or_null(ti.first_started_at);
  }
  return j;
}

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
      if (auto next = next_run_interval(*dag, store_, clock_.now())) {
        j["next_run"] = {{"data_interval_start", format_iso(next->start)},
                         {"data_interval_end", format_iso(next->end)}};
      }
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
  if (req.matches.size() > 2 && req.matches[2].matched) {
    send_json(res, 200, set_paused(dag_id, req.matches[2] == "pause"));
    return;
  }
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
  // states, so the browser does not ask once per run.
  DagRecord record = find_dag(req.matches[1]);
  RunFilter filter;
  filter.dag_id = record.dag_id;
  filter.limit = int_param(req, "limit", 25, 1, 100) + 1;  // one more tells of an older page
  filter.offset = int_param(req, "offset", 0, 0, 1 << 30);
  std::vector<RunRecord> runs = store_.list_runs(filter);
  bool has_more = static_cast<int>(runs.size()) == filter.limit;
  if (has_more) runs.pop_back();
  json task_ids = json::array();
  if (record.version_id) {
    try {
      for (const Task& task : dags_.get(*record.version_id)->tasks) task_ids.push_back(task.id);
    } catch (const UserError&) {
    }
  }
  json columns = json::array();
  for (const RunRecord& run : runs) {
    json column = run_json(run);
    json states = json::object();
    for (const TaskInstanceRecord& ti : store_.list_task_instances(run.id)) {
      states[ti.task_id] = {{"state", to_string(ti.state)},
                            {"try_number", ti.try_number},
                            {"started_at", time_or_null(ti.started_at)},
                            {"ended_at", time_or_null(ti.ended_at)}};
      // Tasks of older versions still get a row.
      if (std::find(task_ids.begin(), task_ids.end(), ti.task_id) == task_ids.end()) {
        task_ids.push_back(ti.task_id);
      }
    }
    column["tasks"] = std::move(states);
    columns.push_back(std::move(column));
  }
  send_json(res, 200,
            {{"tasks", task_ids}, {"runs", columns}, {"offset", filter.offset},
             {"has_more", has_more}});
}

// ---- runs

void Api::get_runs(const httplib::Request& req, httplib::Response& res) {
  RunFilter filter;
  if (req.matches.size() > 1) {
    filter.dag_id = find_dag(req.matches[1]).dag_id;
  } else if (req.has_param("dag_id")) {
    filter.dag_id = req.get_param_value("dag_id");
  }
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
  filter.limit = int_param(req, "limit", 25, 1, kMaxPageSize);
  filter.offset = int_param(req, "offset", 0, 0, 1 << 30);
  json list = json::array();
  for (const RunRecord& run : store_.list_runs(filter)) list.push_back(run_json(run));
  send_json(res, 200, list);
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
  json j = run_json(run);
  json tasks = json::array();
  for (const TaskInstanceRecord& ti : store_.list_task_instances(run.id)) {
    tasks.push_back(task_json(ti, false));
  }
  j["tasks"] = std::move(tasks);
  send_json(res, 201, j);
}

void Api::get_run(const httplib::Request& req, httplib::Response& res) {
  RunRecord run = find_run(req.matches[1], req.matches[2]);
  json j = run_json(run);
  json tasks = json::array();
  for (const TaskInstanceRecord& ti : store_.list_task_instances(run.id)) {
    tasks.push_back(task_json(ti, false));
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
  send_json(res, 200, run_json(*store_.get_run_by_pk(run.id)));
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

// ---- task instances

void Api::get_tasks(const httplib::Request& req, httplib::Response& res) {
  RunRecord run = find_run(req.matches[1], req.matches[2]);
  json tasks = json::array();
  for (const TaskInstanceRecord& ti : store_.list_task_instances(run.id)) {
    tasks.push_back(task_json(ti, false));
  }
  send_json(res, 200, tasks);
}

void Api::get_task(const httplib::Request& req, httplib::Response& res) {
  RunRecord run = find_run(req.matches[1], req.matches[2]);
  json j = task_json(find_task(run, req.matches[3]), true);
  j["run_id"] = run.run_id;
  j["dag_id"] = run.dag_id;
  send_json(res, 200, j);
}

void Api::clear_task(const httplib::Request& req, httplib::Response& res) {
  RunRecord run = find_run(req.matches[1], req.matches[2]);
  TaskInstanceRecord target = find_task(run, req.matches[3]);
  json body = body_object(req);
  bool downstream = true;  // as Airflow's clear does by default here
  if (body.contains("downstream")) {
    if (!body["downstream"].is_boolean()) throw UserError("downstream must be true or false");
    downstream = body["downstream"].get<bool>();
  }
  std::shared_ptr<const Dag> dag = dags_.get(run.version_id);
  std::set<std::string> selected = {target.task_id};
  if (downstream) selected = with_downstream(*dag, selected);
  std::vector<int64_t> ids;
  json cleared_ids = json::array();
  for (const TaskInstanceRecord& ti : store_.list_task_instances(run.id)) {
    if (selected.count(ti.task_id)) {
      ids.push_back(ti.id);
      cleared_ids.push_back(ti.task_id);
    }
  }
  Timestamp now = clock_.now();
  int cleared = store_.clear_task_instances(run.id, ids, make_decider(dag, now), now);
  send_json(res, 200, {{"cleared", cleared}, {"task_ids", cleared_ids}});
}

void Api::mark_task(const httplib::Request& req, httplib::Response& res) {
  RunRecord run = find_run(req.matches[1], req.matches[2]);
  TaskInstanceRecord ti = find_task(run, req.matches[3]);
  json body = body_object(req);
  if (!body.contains("state") || !body["state"].is_string()) {
    throw UserError("state is required: send {\"state\": \"success\"} or {\"state\": \"failed\"}");
  }
  std::string state = body["state"].get<std::string>();
  if (state != "success" && state != "failed") {
    throw UserError("state '" + state + "' cannot be set by hand: use success or failed");
  }
  Timestamp now = clock_.now();
  store_.mark_task_instance(ti.id, *parse_task_state(state),
                            make_decider(dags_.get(run.version_id), now), now);
  send_json(res, 200, task_json(*store_.get_task_instance(ti.id), false));
}

void Api::get_logs(const httplib::Request& req, httplib::Response& res) {
  RunRecord run = find_run(req.matches[1], req.matches[2]);
  TaskInstanceRecord ti = find_task(run, req.matches[3]);
  int latest_try = std::max(ti.try_number, 1);
  int try_number = int_param(req, "try", latest_try, 1, latest_try);
  int64_t offset = 0;
  if (req.has_param("offset")) {
    std::string text = req.get_param_value("offset");
    size_t used = 0;
    try {
      offset = std::stoll(text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != text.size() || offset < 0) {
      throw UserError("offset must be a byte offset >= 0, not '" + text + "'");
    }
  }
  int64_t limit = int_param(req, "limit", kDefaultLogBytes, 1, kMaxLogBytes);
  // The slice is read with a secret's length of the log around it and masked
  // as part of that, so that a secret crossing its edges is masked on both
  // sides and slices put together never rebuild one.
  const std::vector<std::string> secrets = secrets_of_version(run.version_id);
  int64_t margin = 0;
  for (const std::string& s : secrets) margin = std::max(margin, static_cast<int64_t>(s.size()) - 1);
  int64_t before = std::min(offset, margin);
  LogSlice around = store_.read_log(ti.id, try_number, offset - before, before + limit + margin);
  size_t begin = std::min(static_cast<size_t>(before), around.data.size());
  size_t end = std::min(around.data.size(), begin + static_cast<size_t>(limit));
  std::string visible = around.data.substr(begin, end - begin);
  end -= trim_partial_utf8(visible);
  LogSlice slice{mask_secrets_slice(around.data, begin, end, secrets),
                 offset + static_cast<int64_t>(end - begin)};
  // A try is complete once a later one started or the task left `running`.
  bool complete = ti.try_number == 0 ? is_finished(ti.state)
                                     : try_number < ti.try_number || ti.state != TaskState::kRunning;
  send_json(res, 200,
            {{"data", slice.data},
             {"offset", offset},
             {"next_offset", slice.next_offset},
             {"try_number", try_number},
             {"tries", ti.try_number},
             {"state", to_string(ti.state)},
             {"complete", complete}});
}

// ---- workers, alerts, pools

void Api::get_workers(const httplib::Request&, httplib::Response& res) {
  Timestamp now = clock_.now();
  json list = json::array();
  for (const WorkerRecord& w : store_.list_workers()) {
    list.push_back({{"id", w.id},
                    {"host", w.host},
                    {"pid", w.pid},
                    {"slots", w.slots},
                    {"queues", w.queues},
                    {"state", w.state},
                    {"started_at", format_iso(w.started_at)},
                    {"last_heartbeat", format_iso(w.last_heartbeat)},
                    {"alive", w.state != "stopped" &&
                                  now - w.last_heartbeat < config_.worker.heartbeat_timeout}});
  }
  send_json(res, 200, list);
}

void Api::get_schedulers(const httplib::Request&, httplib::Response& res) {
  Timestamp now = clock_.now();
  json list = json::array();
  for (const SchedulerRecord& s : store_.list_schedulers()) {
    list.push_back({{"id", s.id},
                    {"host", s.host},
                    {"leader", s.leader},
                    {"epoch", s.epoch},
                    {"last_heartbeat", format_iso(s.last_heartbeat)},
                    {"heartbeat_age_ms", (now - s.last_heartbeat).count()},
                    {"loop_lag_ms", s.loop_lag.count()}});
  }
  send_json(res, 200, list);
}

std::string Api::dag_timezone(const std::string& dag_id) {
  std::optional<DagRecord> record = store_.get_dag(dag_id);
  if (!record || !record->version_id) return "UTC";
  try {
    return dags_.get(*record->version_id)->timezone;
  } catch (const UserError&) {
    return "UTC";
  }
}

void Api::get_alerts(const httplib::Request& req, httplib::Response& res) {
  bool undelivered = false;
  if (req.has_param("undelivered")) {
    std::string v = req.get_param_value("undelivered");
    if (v == "1" || v == "true" || v.empty()) {
      undelivered = true;
    } else if (v != "0" && v != "false") {
      throw UserError("undelivered must be 1 or 0, not '" + v + "'");
    }
  }
  int limit = int_param(req, "limit", 100, 1, kMaxPageSize);
  json list = json::array();
  for (const AlertRecord& a : store_.list_alerts(undelivered, limit)) {
    list.push_back(alert_json(a, secrets_));
  }
  send_json(res, 200, list);
}

void Api::get_sla_misses(const httplib::Request& req, httplib::Response& res) {
  std::string dag_id = req.has_param("dag") ? req.get_param_value("dag") : "";
  int limit = int_param(req, "limit", 100, 1, kMaxPageSize);
  json list = json::array();
  std::map<std::string, std::string> timezones;  // by DAG: few DAGs, many misses
  for (const SlaMissRecord& m : store_.list_sla_misses(dag_id, limit)) {
    auto tz = timezones.find(m.dag_id);
    if (tz == timezones.end()) tz = timezones.emplace(m.dag_id, dag_timezone(m.dag_id)).first;
    json miss = sla_miss_json(m);
    miss["timezone"] = tz->second;
    list.push_back(std::move(miss));
  }
  send_json(res, 200, list);
}

void Api::get_pools(const httplib::Request&, httplib::Response& res) {
  json list = json::array();
  for (const auto& [name, slots] : store_.list_pools()) {
    list.push_back({{"name", name}, {"slots", slots}});
  }
  send_json(res, 200, list);
}

// ---- health and metrics

void Api::get_health(const httplib::Request&, httplib::Response& res) {
  try {
    SchemaStatus status = store_.schema_status();
    if (status.current != status.latest) {
      send_json(res, 503, {{"status", "error"},
                           {"store", "schema version " + std::to_string(status.current) +
                                         ", expected " + std::to_string(status.latest)}});
      return;
    }
  } catch (const std::exception& e) {
    send_json(res, 503, {{"status", "error"}, {"store", masked(e.what())}});
    return;
  }
  send_json(res, 200, {{"status", "ok"}, {"store", "ok"}});
}

void Api::get_metrics(const httplib::Request&, httplib::Response& res) {
  std::string text;
  {
    std::lock_guard<std::mutex> lock(metrics_mu_);
    auto now = std::chrono::steady_clock::now();
    if (metrics_text_.empty() || now - metrics_at_ > kMetricsCacheTime) {
      metrics_text_ = render_metrics();
      metrics_at_ = now;
    }
    text = metrics_text_;
  }
  res.status = 200;
  res.set_content(text, "text/plain; version=0.0.4; charset=utf-8");
}

std::string Api::render_metrics() {
  std::string out;
  auto metric = [&out](const std::string& name, const std::string& type, const std::string& help) {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  // The store has no count queries, so runs are counted by paging; the
  // result is cached for a few seconds between scrapes.
  metric("sluice_runs", "gauge", "DAG runs by state.");
  for (RunState state : {RunState::kQueued, RunState::kRunning, RunState::kSuccess,
                         RunState::kFailed, RunState::kCanceled}) {
    RunFilter filter;
    filter.state = state;
    filter.limit = 5000;
    int64_t count = 0;
    for (;;) {
      size_t got = store_.list_runs(filter).size();
      count += static_cast<int64_t>(got);
      if (got < static_cast<size_t>(filter.limit)) break;
      filter.offset += filter.limit;
    }
    out += "sluice_runs{state=\"" + std::string(to_string(state)) + "\"} " +
           std::to_string(count) + "\n";
  }

  std::map<TaskState, int64_t> by_state;
  for (TaskState s : {TaskState::kNone, TaskState::kScheduled, TaskState::kQueued,
                      TaskState::kRunning, TaskState::kSuccess, TaskState::kFailed,
                      TaskState::kUpForRetry, TaskState::kUpForReschedule, TaskState::kSkipped,
                      TaskState::kUpstreamFailed, TaskState::kCanceled}) {
    by_state[s] = 0;
  }
  for (const RunRecord& run : store_.list_unfinished_runs()) {
    for (const TaskInstanceRecord& ti : store_.list_task_instances(run.id)) ++by_state[ti.state];
  }
  metric("sluice_task_instances", "gauge", "Task instances of unfinished runs by state.");
  for (const auto& [state, count] : by_state) {
    out += "sluice_task_instances{state=\"" + std::string(to_string(state)) + "\"} " +
           std::to_string(count) + "\n";
  }
  metric("sluice_queue_depth", "gauge", "Task instances queued and waiting for a worker.");
  out += "sluice_queue_depth " + std::to_string(by_state[TaskState::kQueued]) + "\n";

  metric("sluice_alert_backlog", "gauge", "Alerts not yet delivered.");
  out += "sluice_alert_backlog " + std::to_string(store_.list_alerts(true, 1000000).size()) + "\n";

  Timestamp now = clock_.now();
  int64_t alive = 0;
  int64_t slots = 0;
  for (const WorkerRecord& w : store_.list_workers()) {
    if (w.state != "stopped" && now - w.last_heartbeat < config_.worker.heartbeat_timeout) {
      ++alive;
      slots += w.slots;
    }
  }
  metric("sluice_workers_alive", "gauge", "Workers with a recent heartbeat.");
  out += "sluice_workers_alive " + std::to_string(alive) + "\n";
  metric("sluice_worker_slots", "gauge", "Task slots of live workers.");
  out += "sluice_worker_slots " + std::to_string(slots) + "\n";

  int64_t paused = 0;
  int64_t active = 0;
  std::vector<DagRecord> dags = store_.list_dags();
  for (const DagRecord& d : dags) {
    if (d.paused) ++paused;
    if (d.active) ++active;
  }
  metric("sluice_dags", "gauge", "DAGs known to the store.");
  out += "sluice_dags{kind=\"all\"} " + std::to_string(dags.size()) + "\n";
  out += "sluice_dags{kind=\"active\"} " + std::to_string(active) + "\n";
  out += "sluice_dags{kind=\"paused\"} " + std::to_string(paused) + "\n";
  metric("sluice_import_errors", "gauge", "DAG files that failed to load.");
  out += "sluice_import_errors " + std::to_string(store_.list_file_errors().size()) + "\n";

  std::vector<Millis> bounds;
  for (int64_t ms : kTaskDurationBucketsMs) bounds.push_back(Millis(ms));
  DurationHistogram durations = store_.task_duration_histogram(now - kTaskDurationWindow, bounds);
  metric("sluice_task_duration_seconds", "histogram",
         "Durations of task instances that ended in the last 24 hours.");
  for (size_t i = 0; i < durations.bounds.size() && i < durations.counts.size(); ++i) {
    out += "sluice_task_duration_seconds_bucket{le=\"" +
           seconds_text(durations.bounds[i].count()) + "\"} " +
           std::to_string(durations.counts[i]) + "\n";
  }
  out += "sluice_task_duration_seconds_bucket{le=\"+Inf\"} " + std::to_string(durations.count) +
         "\n";
  out += "sluice_task_duration_seconds_sum " + seconds_text(durations.sum.count()) + "\n";
  out += "sluice_task_duration_seconds_count " + std::to_string(durations.count) + "\n";

  std::vector<SchedulerRecord> schedulers = store_.list_schedulers();
  metric("sluice_scheduler_loop_lag_seconds", "gauge",
         "How late each scheduler's last loop iteration ran, as of its last heartbeat.");
  for (const SchedulerRecord& s : schedulers) {
    out += "sluice_scheduler_loop_lag_seconds{scheduler=\"" + label_value(s.id) +
           "\",leader=\"" + (s.leader ? "true" : "false") + "\"} " +
           seconds_text(s.loop_lag.count()) + "\n";
  }
  metric("sluice_scheduler_heartbeat_age_seconds", "gauge",
         "Time since each scheduler's last heartbeat (a large value: it is gone).");
  for (const SchedulerRecord& s : schedulers) {
    out += "sluice_scheduler_heartbeat_age_seconds{scheduler=\"" + label_value(s.id) +
           "\",leader=\"" + (s.leader ? "true" : "false") + "\"} " +
           seconds_text((now - s.last_heartbeat).count()) + "\n";
  }
  return out;
}

}  // namespace sluice
