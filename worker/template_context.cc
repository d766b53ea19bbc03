#include "worker/template_context.h"

#include <algorithm>
#include <cstdlib>
#include <set>

#include "core/config.h"
#include "core/dag.h"
#include "core/store.h"
#include "core/template.h"

namespace sluice {
namespace {

/// "2026-02-03T02:00:00+01:00": ISO-8601 in the DAG's zone, as Airflow shows `ts`.
std::string local_iso(Timestamp t, const date::time_zone* zone) {
  std::string offset = format_local(t, zone, "%z");  // +0100
  if (offset.size() == 5) offset.insert(3, ":");
  return format_local(t, zone, "%Y-%m-%dT%H:%M:%S") + offset;
}

/// Every string of `task` that the worker renders: its type's
/// (core/task_types/), then the ones every task has.
void for_each_string(const Task& task, const StringVisitor& add) {
  for_each_templated(task.spec, add);
  for (const auto& [k, v] : task.env) add(v);
  add(task.cwd);
  if (task.map) {
    for (const nlohmann::json& item : task.map->items) {
      if (item.is_string()) add(item.get_ref<const std::string&>());
    }
    add(task.map->items_template);
    add(task.map->dates_from);
    add(task.map->dates_to);
  }
}

}  // namespace

std::vector<std::string> templated_strings(const Task& task) {
  std::vector<std::string> out;
  for_each_string(task, [&](const std::string& s) {
    if (Template::has_expressions(s)) out.push_back(s);
  });
  return out;
}

nlohmann::json build_template_context(
    const Dag& dag, const Task& task, const RunRecord& run, int try_number,
    const Config& config, const std::function<nlohmann::json()>& upstream_outputs) {
  const date::time_zone* zone = dag.schedule.zone();
  if (!zone) zone = find_zone(dag.timezone.empty() ? "UTC" : dag.timezone);
  nlohmann::json ctx = nlohmann::json::object();
  // Formatting in a zone is slow: the start once, its date cut out of it.
  const std::string start = local_iso(run.interval.start, zone);  // 2026-02-03T02:00:00+01:00
  std::string ds = start.substr(0, 10);
  ctx["ds"] = ds;
  ds.erase(std::remove(ds.begin(), ds.end(), '-'), ds.end());
  ctx["ds_nodash"] = ds;
  ctx["ts"] = start;
  ctx["data_interval_start"] = start;
  ctx["data_interval_end"] = local_iso(run.interval.end, zone);
  ctx["logical_date"] = start;
  ctx["run_id"] = run.run_id;
  ctx["run_type"] = to_string(run.type);
  ctx["dag_id"] = dag.id;
  ctx["task_id"] = task.id;
  ctx["try_number"] = try_number;
  nlohmann::json params = dag.params.is_object() ? dag.params : nlohmann::json::object();
  if (run.conf.is_object()) {
    for (auto it = run.conf.begin(); it != run.conf.end(); ++it) params[it.key()] = it.value();
  }
  ctx["params"] = std::move(params);

  // Only what the templates name: no other variable or secret enters the context.
  std::set<std::string> env_names;
  std::set<std::string> conn_names;
  bool wants_outputs = false;
  for (const std::string& text : templated_strings(task)) {
    Template tpl = Template::parse(text);
    for (const TemplateReference& ref : tpl.references()) {
      auto dot = ref.name.find('.');
      std::string root = ref.name.substr(0, dot);
      std::string rest = dot == std::string::npos ? "" : ref.name.substr(dot + 1);
      std::string first = rest.substr(0, rest.find('.'));
      if (root == "env" && !first.empty()) env_names.insert(first);
      if (root == "conn" && !first.empty()) conn_names.insert(first);
      if (root == "outputs") wants_outputs = true;
    }
  }
  nlohmann::json env = nlohmann::json::object();
  for (const std::string& name : env_names) {
    if (const char* value = std::getenv(name.c_str())) env[name] = value;
  }
  ctx["env"] = std::move(env);
  nlohmann::json conn = nlohmann::json::object();
  for (const std::string& name : conn_names) {
    auto it = config.connections.find(name);
    if (it != config.connections.end()) conn[name] = it->second.template_fields();
  }
  ctx["conn"] = std::move(conn);
  ctx["outputs"] = wants_outputs && upstream_outputs ? upstream_outputs() : nlohmann::json::object();
  return ctx;
}

}  // namespace sluice
