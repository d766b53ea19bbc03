// The API's data check results: one task instance's (every try), and a DAG's
// history of each check over its intervals (the check page's chart).

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/store.h"
#include "core/text.h"
#include "web/api.h"
#include "web/api_params.h"

namespace sluice {

using nlohmann::json;

namespace {

json check_result_json(const CheckResultRecord& c, const std::string& timezone) {
  return {{"dag_id", c.dag_id},
          {"run_id", c.run_id},
          {"task_id", c.task_id},
          {"map_index", c.map_index},
          {"try_number", c.try_number},
          {"name", c.name},
          {"kind", c.kind},
          {"severity", c.severity},
          {"status", c.status},
          {"actual", c.actual},
          {"value", c.value ? json(*c.value) : json(nullptr)},
          {"threshold", c.threshold},
          {"data_interval_start", format_iso(c.interval_start)},
          {"data_interval_end", format_iso(c.interval_end)},
          {"recorded_at", format_iso(c.recorded_at)},
          {"timezone", timezone}};
}

/// The results `filter` selects, as the API lists them.
json check_results_json(Store& store, const CheckResultFilter& filter, const std::string& timezone) {
  json list = json::array();
  for (const CheckResultRecord& c : store.list_check_results(filter)) {
    list.push_back(check_result_json(c, timezone));
  }
  return list;
}

}  // namespace

void Api::get_task_checks(const httplib::Request& req, httplib::Response& res) {
  RunRecord run = find_run(req.matches[1], req.matches[2]);
  CheckResultFilter filter;
  filter.dag_id = run.dag_id;
  filter.ti_id = find_task(run, req.matches[3], req).id;
  filter.limit = kMaxPageSize;
  send_json(res, 200,
            masked_json(check_results_json(store_, filter, dag_timezone(run.dag_id))));
}

void Api::get_checks(const httplib::Request& req, httplib::Response& res) {
  DagRecord dag = find_dag(req.matches[1]);
  CheckResultFilter filter;
  filter.dag_id = dag.dag_id;
  if (req.has_param("task_id")) filter.task_id = req.get_param_value("task_id");
  if (req.has_param("name")) filter.name = req.get_param_value("name");
  filter.limit = int_param(req, "limit", 100, 1, kMaxPageSize);
  filter.offset = int_param(req, "offset", 0, 0, 1 << 30);
  send_json(res, 200,
            masked_json(check_results_json(store_, filter, dag_timezone(dag.dag_id))));
}

}  // namespace sluice
