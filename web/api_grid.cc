#include "web/api_grid.h"

#include "web/api_routes.h"

#include <httplib.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/dag.h"
#include "core/error.h"
#include "core/record_json.h"
#include "core/secrets.h"
#include "core/store.h"
#include "core/text.h"
#include "core/time.h"
#include "engine/dag_cache.h"
#include "web/api.h"
#include "web/api_params.h"

namespace sluice {

using nlohmann::json;

namespace {

std::string dump(const json& part) {
  return part.dump(-1, ' ', false, json::error_handler_t::replace);
}

/// A short fingerprint of a part of the grid: FNV-1a over its JSON text.
std::string digest(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  char out[17];
  std::snprintf(out, sizeof(out), "%016llx", static_cast<unsigned long long>(h));
  return out;
}

std::set<std::string> split_marker(const std::string& marker) {
  std::set<std::string> parts;
  size_t start = 0;
  while (start <= marker.size()) {
    size_t dot = marker.find('.', start);
    if (dot == std::string::npos) dot = marker.size();
    if (dot > start) parts.insert(marker.substr(start, dot - start));
    start = dot + 1;
  }
  return parts;
}

void append_time(std::string& out, const char* key, const std::optional<Timestamp>& t) {
  out += key;
  out += t ? "\"" + format_iso(*t) + "\"" : std::string("null");
}

/// A task instance's cell, written as JSON text directly: a grid page has
/// hundreds, and building a JSON object for each costs more than the rest.
void append_cell(std::string& out, const TaskInstanceRecord& ti) {
  out += "{\"state\":\"";
  out += to_string(ti.state);
  out += "\",\"try_number\":" + std::to_string(ti.try_number);
  out += ",\"max_tries\":" + std::to_string(ti.max_tries);
  append_time(out, ",\"queued_at\":", ti.queued_at);
  append_time(out, ",\"started_at\":", ti.started_at);
  append_time(out, ",\"ended_at\":", ti.ended_at);
  out += '}';
}

/// The cell of a mapped task: the worst state of its instances, a count per
/// state, the earliest start and (once every instance ended) the last end.
json mapped_cell(const std::vector<const TaskInstanceRecord*>& instances) {
  std::string worst = "success";
  std::map<std::string, int> counts;
  std::optional<Timestamp> queued, started, ended;
  bool all_ended = true;
  int tries = 0, max_tries = 1;
  for (const TaskInstanceRecord* ti : instances) {
    std::string state = to_string(ti->state);
    ++counts[state];
    if (task_state_severity(state) > task_state_severity(worst)) worst = state;
    if (ti->queued_at && (!queued || *ti->queued_at < *queued)) queued = ti->queued_at;
    if (ti->started_at && (!started || *ti->started_at < *started)) started = ti->started_at;
    if (!ti->ended_at) all_ended = false;
    if (ti->ended_at && (!ended || *ti->ended_at > *ended)) ended = ti->ended_at;
    tries = std::max(tries, ti->try_number);
    max_tries = std::max(max_tries, ti->max_tries);
  }
  return {{"state", worst},
          {"mapped", instances.size()},
          {"counts", counts},
          {"try_number", tries},
          {"max_tries", max_tries},
          {"queued_at", iso_or_null(queued)},
          {"started_at", iso_or_null(started)},
          {"ended_at", all_ended ? iso_or_null(ended) : json(nullptr)}};
}

/// The task ids of the grid's rows, in order: the DAG's, then those only
/// older versions had.
struct TaskRows {
  json ids = json::array();
  std::set<std::string> known;
  void add(const std::string& id) {
    if (known.insert(id).second) ids.push_back(id);
  }
};

/// One run's column as JSON text: the run and a cell per task id.
std::string column_of(Store& store, const RunRecord& run, const std::vector<std::string>& secrets,
                      TaskRows& rows) {
  std::string out = dump(run_json(run, secrets));
  out.pop_back();  // the closing brace: the cells follow
  out += ",\"tasks\":{";
  std::map<std::string, std::vector<const TaskInstanceRecord*>> by_task;
  std::vector<TaskInstanceRecord> instances = store.list_task_instances(run.id);
  for (const TaskInstanceRecord& ti : instances) by_task[ti.task_id].push_back(&ti);
  bool first = true;
  for (const auto& [task_id, list] : by_task) {
    out += first ? "" : ",";
    first = false;
    out += dump(task_id) + ":";
    bool mapped = list.size() > 1 || list.front()->map_index >= 0;
    if (mapped) {
      out += dump(mapped_cell(list));
    } else {
      append_cell(out, *list.front());
    }
    rows.add(task_id);  // tasks of older versions still get a row
  }
  return out + "}}";
}

const char* run_state_worst_first[] = {"failed", "running", "queued", "canceled", "success"};

}  // namespace

int task_state_severity(const std::string& state) {
  static const std::vector<std::string> best_first = {
      "success",           "skipped",      "none",     "scheduled",       "queued", "running",
      "up_for_reschedule", "up_for_retry", "canceled", "upstream_failed", "failed"};
  auto it = std::find(best_first.begin(), best_first.end(), state);
  return it == best_first.end() ? 0 : static_cast<int>(it - best_first.begin());
}

std::string grid_text(Store& store, DagCache& dags, const DagRecord& record, const json& summary,
                      const std::vector<std::string>& secrets, const GridQuery& query) {
  RunFilter filter;
  filter.dag_id = record.dag_id;
  filter.limit = query.limit + 1;  // one more tells of an older page
  filter.offset = query.offset;
  std::vector<RunRecord> runs = store.list_runs(filter);
  bool has_more = static_cast<int>(runs.size()) == filter.limit;
  if (has_more) runs.pop_back();
  TaskRows rows;
  json graph = json::array();  // the DAG's tasks and their edges, for the page's graph
  if (record.version_id) {
    try {
      for (const Task& task : dags.get(*record.version_id)->tasks) {
        rows.add(task.id);
        graph.push_back({{"id", task.id}, {"type", task.type}, {"depends_on", task.depends_on}});
      }
    } catch (const UserError&) {
    }
  }
  // Each column is written once: its text gives its digest and goes into
  // the answer as it is.
  std::vector<std::pair<std::string, std::string>> columns;  // run id, JSON text
  for (const RunRecord& run : runs) {
    columns.emplace_back(run.run_id, column_of(store, run, secrets, rows));
  }

  // The marker: the header's digest, then one per run in page order.
  const std::set<std::string> known = split_marker(query.since);
  // The header leaves out updated_at, which a re-read of an unchanged file moves.
  json header = summary;
  header.erase("updated_at");
  std::string marker = digest(dump(json{rows.ids, header, has_more, graph}));
  const bool header_known = known.count(marker) > 0;
  std::string body;
  for (const auto& [run_id, text] : columns) {
    std::string d = digest(text);
    marker += "." + d;
    body += body.empty() ? "[" : ",";
    if (known.count(d)) {
      body += dump(json{{"run_id", run_id}, {"digest", d}, {"unchanged", true}});
    } else {
      body += text.substr(0, text.size() - 1) + ",\"digest\":\"" + d + "\"}";
    }
  }
  body += body.empty() ? "[]" : "]";
  if (!query.since.empty() && marker == query.since) {
    return dump({{"unchanged", true}, {"marker", marker}, {"offset", query.offset}});
  }
  json rest = {{"offset", query.offset}, {"has_more", has_more}, {"marker", marker}};
  if (!header_known) {
    rest["tasks"] = std::move(rows.ids);
    rest["graph"] = std::move(graph);
    rest["dag"] = summary;
  }
  std::string tail = dump(rest);
  return "{\"runs\":" + body + "," + tail.substr(1);
}

void install_grid_api(RouteTable& routes, Store& store, DagCache& dags, const Clock& clock,
                      const std::vector<std::string>& secrets) {
  // The DAG list's "last run" columns: each DAG's newest run with its times.
  routes.add("GET", "/api/v1/last-runs",
             [&store, &secrets](const httplib::Request& req, httplib::Response& res) {
               answer_guarded(
                   req, res,
                   [&] {
                     json list = json::array();
                     for (const DagRecord& record : store.list_dags()) {
                       RunFilter filter;
                       filter.dag_id = record.dag_id;
                       filter.limit = 1;
                       for (const RunRecord& run : store.list_runs(filter)) {
                         json j = run_json(run, secrets);
                         j.erase("conf");
                         list.push_back(std::move(j));
                       }
                     }
                     send_json(res, 200, list);
                   },
                   [&secrets](const std::string& text) { return mask_secrets(text, secrets); });
             },
             Paging::kSliced);
  routes.add("GET", "/api/v1/dags/{dag_id}/calendar", [&store, &dags, &clock, &secrets](
                                                     const httplib::Request& req,
                                                     httplib::Response& res) {
    answer_guarded(
        req, res,
        [&] {
          const std::string dag_id = req.matches[1];
          std::optional<DagRecord> record = store.get_dag(dag_id);
          if (!record) {
            std::vector<std::string> ids;
            for (const DagRecord& r : store.list_dags()) ids.push_back(r.dag_id);
            throw NotFoundError("no DAG '" + dag_id + "'" + did_you_mean(dag_id, ids));
          }
          std::string zone_name = "UTC";
          if (record->version_id) {
            try {
              zone_name = dags.get(*record->version_id)->timezone;
            } catch (const UserError&) {
            }
          }
          const date::time_zone* zone = find_zone(zone_name);
          if (!zone) zone_name = "UTC";
          int this_year = std::stoi(format_local(clock.now(), zone, "%Y"));
          int year = int_param(req, "year", this_year, 1970, 9998);
          Timestamp from = *parse_timestamp(std::to_string(year) + "-01-01", zone);
          Timestamp to = *parse_timestamp(std::to_string(year + 1) + "-01-01", zone) - Millis(1);
          // Scheduled and backfill runs by their interval, manual ones too.
          std::vector<RunRecord> runs = store.list_interval_runs(dag_id, from, to);
          RunFilter manual;
          manual.dag_id = dag_id;
          manual.type = RunType::kManual;
          manual.limit = kMaxPageSize;
          for (RunRecord& run : store.list_runs(manual)) {
            if (run.interval.start >= from && run.interval.start <= to) runs.push_back(run);
          }
          std::map<std::string, std::map<std::string, int>> days;
          for (const RunRecord& run : runs) {
            ++days[format_local(run.interval.start, zone, "%Y-%m-%d")][to_string(run.state)];
          }
          json list = json::array();
          for (const auto& [day, counts] : days) {
            std::string worst = "success";
            int total = 0;
            for (const auto& [state, n] : counts) total += n;
            for (const char* state : run_state_worst_first) {
              if (counts.count(state)) {
                worst = state;
                break;
              }
            }
            list.push_back({{"date", day}, {"state", worst}, {"total", total}, {"counts", counts}});
          }
          send_json(res, 200,
                    {{"dag_id", dag_id}, {"year", year}, {"timezone", zone_name}, {"days", list}});
        },
        [&secrets](const std::string& text) { return mask_secrets(text, secrets); });
  });
}

}  // namespace sluice
