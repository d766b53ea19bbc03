#include "web/api.h"

#include <algorithm>
#include <set>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/dag.h"
#include "core/error.h"
#include "core/record_json.h"
#include "core/secrets.h"
#include "core/store.h"
#include "core/text.h"
#include "engine/dag_cache.h"
#include "engine/mark_preview.h"
#include "engine/run_factory.h"
#include "engine/task_lookup.h"
#include "web/api_params.h"

namespace sluice {

using nlohmann::json;

namespace {

constexpr int64_t kDefaultLogBytes = 256 * 1024;
constexpr int64_t kMaxLogBytes = 1 << 20;

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

/// A boolean field of a request body, false when absent; UserError names it.
bool bool_field(const json& body, const std::string& name) {
  if (!body.contains(name)) return false;
  if (!body[name].is_boolean()) throw UserError(name + " must be true or false");
  return body[name].get<bool>();
}

}  // namespace

// ---- task instances

void Api::get_tasks(const httplib::Request& req, httplib::Response& res) {
  RunRecord run = find_run(req.matches[1], req.matches[2]);
  json tasks = json::array();
  for (const TaskInstanceRecord& ti : store_.list_task_instances(run.id)) {
    tasks.push_back(task_json(ti, secrets_, false));
  }
  send_json(res, 200, tasks);
}

void Api::get_task(const httplib::Request& req, httplib::Response& res) {
  RunRecord run = find_run(req.matches[1], req.matches[2]);
  json j = task_json(find_task(run, req.matches[3], req), secrets_, true);
  j["run_id"] = run.run_id;
  j["dag_id"] = run.dag_id;
  send_json(res, 200, j);
}

void Api::clear_task(const httplib::Request& req, httplib::Response& res) {
  RunRecord run = find_run(req.matches[1], req.matches[2]);
  const std::string task_id = req.matches[3];
  // With ?map_index=, that instance (and its downstream in full); without,
  // every instance of the task.
  std::optional<int64_t> only_instance;
  std::vector<TaskInstanceRecord> instances = store_.list_task_instances(run.id);
  if (req.has_param("map_index")) {
    only_instance = find_task(run, task_id, req).id;
  } else if (std::none_of(instances.begin(), instances.end(),
                          [&](const TaskInstanceRecord& ti) { return ti.task_id == task_id; })) {
    find_task_instance(instances, run.run_id, task_id, std::nullopt);  // the 404
  }
  json body = body_object(req);
  bool downstream = true;  // as Airflow's clear does by default here
  if (body.contains("downstream")) {
    if (!body["downstream"].is_boolean()) throw UserError("downstream must be true or false");
    downstream = body["downstream"].get<bool>();
  }
  std::shared_ptr<const Dag> dag = dags_.get(run.version_id);
  std::set<std::string> selected = {task_id};
  if (downstream) selected = with_downstream(*dag, selected);
  std::vector<int64_t> ids;
  json cleared_ids = json::array();
  json cleared_instances = json::array();
  std::set<std::string> listed;
  for (const TaskInstanceRecord& ti : instances) {
    if (!selected.count(ti.task_id)) continue;
    if (only_instance && ti.task_id == task_id && ti.id != *only_instance) continue;
    ids.push_back(ti.id);
    if (listed.insert(ti.task_id).second) cleared_ids.push_back(ti.task_id);
    cleared_instances.push_back({{"task_id", ti.task_id}, {"map_index", ti.map_index}});
  }
  if (bool_field(body, "dry_run")) {
    // What would be cleared; the UI's confirmation lists it.
    send_json(res, 200,
              {{"dry_run", true},
               {"cleared", ids.size()},
               {"task_ids", cleared_ids},
               {"instances", cleared_instances}});
    return;
  }
  Timestamp now = clock_.now();
  int cleared = store_.clear_task_instances(run.id, ids, make_decider(dag, now), now);
  send_json(res, 200,
            {{"cleared", cleared}, {"task_ids", cleared_ids}, {"instances", cleared_instances}});
}

void Api::mark_task(const httplib::Request& req, httplib::Response& res) {
  RunRecord run = find_run(req.matches[1], req.matches[2]);
  TaskInstanceRecord ti = find_task(run, req.matches[3], req);
  json body = body_object(req);
  if (!body.contains("state") || !body["state"].is_string()) {
    throw UserError("state is required: send {\"state\": \"success\"} or {\"state\": \"failed\"}");
  }
  std::string state = body["state"].get<std::string>();
  if (state != "success" && state != "failed") {
    throw UserError("state '" + state + "' cannot be set by hand: use success or failed");
  }
  Timestamp now = clock_.now();
  if (bool_field(body, "dry_run")) {
    MarkPreview preview =
        preview_mark(*dags_.get(run.version_id), run, store_.list_task_instances(run.id), ti.id,
                     *parse_task_state(state), now);
    auto changes_json = [](const std::vector<PreviewedChange>& changes) {
      json list = json::array();
      for (const PreviewedChange& c : changes) {
        list.push_back({{"task_id", c.task_id},
                        {"map_index", c.map_index},
                        {"from", to_string(c.from)},
                        {"to", to_string(c.to)}});
      }
      return list;
    };
    send_json(res, 200,
              {{"dry_run", true},
               {"changes", changes_json(preview.changes)},
               {"left_as_they_are", changes_json(preview.left_as_they_are)},
               {"run_state_before", to_string(preview.run_before)},
               {"run_state_after", to_string(preview.run_after)}});
    return;
  }
  store_.mark_task_instance(ti.id, *parse_task_state(state), "api: " + req.remote_addr,
                            make_decider(dags_.get(run.version_id), now), now);
  send_json(res, 200, task_json(*store_.get_task_instance(ti.id), secrets_, false));
}

void Api::get_logs(const httplib::Request& req, httplib::Response& res) {
  RunRecord run = find_run(req.matches[1], req.matches[2]);
  TaskInstanceRecord ti = find_task(run, req.matches[3], req);
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
  // The worker's note on a cut log is its last line: look for it in the tail.
  // A slice that reaches the end holds that tail already; others read it.
  bool truncated = false;
  if (complete && around.size > 0) {
    constexpr size_t kTail = 512;
    bool holds_tail = around.next_offset >= around.size &&
                      (around.data.size() >= kTail || offset - before == 0);
    std::string tail =
        holds_tail ? around.data.substr(around.data.size() - std::min(kTail, around.data.size()))
                   : store_.read_log(ti.id, try_number,
                                     std::max<int64_t>(0, around.size - int64_t{kTail}), kTail)
                         .data;
    truncated = tail.find(kLogTruncatedNote) != std::string::npos;
  }
  send_json(res, 200,
            {{"data", slice.data},
             {"offset", offset},
             {"next_offset", slice.next_offset},
             {"try_number", try_number},
             {"tries", ti.try_number},
             {"state", to_string(ti.state)},
             {"complete", complete},
             {"size", around.size},
             {"truncated", truncated}});
}

}  // namespace sluice
