#include "core/dag.h"

#include <algorithm>

#include "core/error.h"

namespace sluice {

namespace {

struct TriggerRuleName {
  TriggerRule rule;
  const char* name;
};

constexpr TriggerRuleName kTriggerRules[] = {
    {TriggerRule::kAllSuccess, "all_success"},
    {TriggerRule::kAllFailed, "all_failed"},
    {TriggerRule::kAllDone, "all_done"},
    {TriggerRule::kOneSuccess, "one_success"},
    {TriggerRule::kOneFailed, "one_failed"},
    {TriggerRule::kNoneFailed, "none_failed"},
    {TriggerRule::kNoneFailedMinOneSuccess, "none_failed_min_one_success"},
    {TriggerRule::kNoneSkipped, "none_skipped"},
    {TriggerRule::kAlways, "always"},
};

}  // namespace

const char* to_string(TriggerRule rule) {
  for (const auto& entry : kTriggerRules) {
    if (entry.rule == rule) return entry.name;
  }
  return "all_success";
}

std::optional<TriggerRule> parse_trigger_rule(std::string_view text) {
  for (const auto& entry : kTriggerRules) {
    if (text == entry.name) return entry.rule;
  }
  return std::nullopt;
}

const std::vector<std::string>& trigger_rule_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& entry : kTriggerRules) out.emplace_back(entry.name);
    return out;
  }();
  return names;
}

const std::vector<std::string>& alert_event_names() {
  static const std::vector<std::string> events = {"failure",  "task_failure", "retry",
                                                  "sla_miss", "recovery",     "success",
                                                  "check_warning"};
  return events;
}

std::set<std::string> with_downstream(const Dag& dag, std::set<std::string> selected) {
  // Tasks are listed in any order, so grow the set until a sweep adds nothing.
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

Millis RetryPolicy::delay_before_try(int next_try) const {
  if (next_try < 2) return Millis{0};
  if (backoff == RetryBackoff::kFixed) return delay;
  // Doubling stops as soon as the cap is reached, so large try numbers
  // cannot overflow.
  Millis result = delay;
  for (int i = 2; i < next_try && result < max_delay && result > Millis{0}; ++i) result *= 2;
  return std::min(result, max_delay);
}

const Task* Dag::find_task(std::string_view task_id) const {
  for (const Task& task : tasks) {
    if (task.id == task_id) return &task;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------
// JSON serialisation. Durations are milliseconds, instants epoch milliseconds.

namespace {

using nlohmann::json;

json optional_ms(const std::optional<Millis>& value) {
  return value ? json(value->count()) : json(nullptr);
}

std::optional<Millis> read_optional_ms(const json& j) {
  if (j.is_null()) return std::nullopt;
  return Millis{j.get<int64_t>()};
}

json assets_to_json(const std::vector<AssetRef>& assets) {
  json list = json::array();
  for (const AssetRef& a : assets) {
    list.push_back({{"name", a.name}, {"kind", to_string(a.kind)}, {"declared", a.declared}});
  }
  return list;
}

std::vector<AssetRef> assets_from_json(const json& j) {
  std::vector<AssetRef> assets;
  if (!j.is_array()) return assets;
  for (const json& a : j) {
    AssetRef ref;
    ref.name = a.at("name").get<std::string>();
    ref.kind = asset_kind_of(ref.name);
    ref.declared = a.value("declared", false);
    assets.push_back(std::move(ref));
  }
  return assets;
}

json task_to_json(const Task& task) {
  json j = {
      {"id", task.id},
      {"type", task.type},
      {"depends_on", task.depends_on},
      {"trigger_rule", to_string(task.trigger_rule)},
      {"depends_on_past", task.depends_on_past},
      {"retries", task.retry.retries},
      {"retry_delay_ms", task.retry.delay.count()},
      {"retry_backoff", task.retry.backoff == RetryBackoff::kExponential ? "exponential" : "fixed"},
      {"max_retry_delay_ms", task.retry.max_delay.count()},
      {"timeout_ms", optional_ms(task.timeout)},
      {"pool", task.pool},
      {"priority", task.priority},
      {"queue", task.queue},
      {"sla_ms", optional_ms(task.sla)},
      {"env", task.env},
      {"cwd", task.cwd},
      {"line", task.line}};
  if (task.sensor) {
    j["sensor"] = {{"poke_interval_ms", task.sensor->poke_interval.count()},
                   {"mode", task.sensor->mode == SensorMode::kReschedule ? "reschedule" : "poke"},
                   {"soft_fail", task.sensor->soft_fail}};
  } else {
    j["sensor"] = nullptr;
  }
  if (task.map) {
    const MapSpec& m = *task.map;
    json map = json::object();
    if (m.kind == MapSpec::Kind::kItems) map["items"] = m.items;
    if (m.kind == MapSpec::Kind::kItemsTemplate) map["items_template"] = m.items_template;
    if (m.kind == MapSpec::Kind::kDates) map["dates"] = {{"from", m.dates_from}, {"to", m.dates_to}};
    j["map"] = std::move(map);
    j["max_map_concurrency"] = task.max_map_concurrency;
  }
  j["spec"] = spec_to_json(task.spec);
  j["inputs"] = assets_to_json(task.inputs);
  j["outputs"] = assets_to_json(task.outputs);
  return j;
}

Task task_from_json(const json& j) {
  Task task;
  task.id = j.at("id").get<std::string>();
  task.type = j.at("type").get<std::string>();
  task.depends_on = j.at("depends_on").get<std::vector<std::string>>();
  const std::string rule = j.at("trigger_rule").get<std::string>();
  auto parsed_rule = parse_trigger_rule(rule);
  if (!parsed_rule) throw UserError("unknown trigger rule '" + rule + "' in a stored DAG");
  task.trigger_rule = *parsed_rule;
  task.depends_on_past = j.at("depends_on_past").get<bool>();
  task.retry.retries = j.at("retries").get<int>();
  task.retry.delay = Millis{j.at("retry_delay_ms").get<int64_t>()};
  task.retry.backoff = j.at("retry_backoff").get<std::string>() == "exponential"
                           ? RetryBackoff::kExponential
                           : RetryBackoff::kFixed;
  task.retry.max_delay = Millis{j.at("max_retry_delay_ms").get<int64_t>()};
  task.timeout = read_optional_ms(j.at("timeout_ms"));
  task.pool = j.at("pool").get<std::string>();
  task.priority = j.at("priority").get<int>();
  task.queue = j.at("queue").get<std::string>();
  task.sla = read_optional_ms(j.at("sla_ms"));
  task.env = j.at("env").get<std::map<std::string, std::string>>();
  task.cwd = j.at("cwd").get<std::string>();
  task.line = j.at("line").get<int>();
  const json& sensor = j.at("sensor");
  if (!sensor.is_null()) {
    SensorSettings s;
    s.poke_interval = Millis{sensor.at("poke_interval_ms").get<int64_t>()};
    s.mode = sensor.at("mode").get<std::string>() == "reschedule" ? SensorMode::kReschedule
                                                                  : SensorMode::kPoke;
    s.soft_fail = sensor.at("soft_fail").get<bool>();
    task.sensor = s;
  }
  if (j.contains("map") && j["map"].is_object()) {
    const json& map = j["map"];
    MapSpec m;
    if (map.contains("items")) {
      m.kind = MapSpec::Kind::kItems;
      m.items = map["items"];
    } else if (map.contains("items_template")) {
      m.kind = MapSpec::Kind::kItemsTemplate;
      m.items_template = map["items_template"].get<std::string>();
    } else if (map.contains("dates")) {
      m.kind = MapSpec::Kind::kDates;
      m.dates_from = map["dates"].at("from").get<std::string>();
      m.dates_to = map["dates"].at("to").get<std::string>();
    } else {
      throw UserError("task '" + task.id + "' has a map without items or dates in a stored DAG");
    }
    task.map = std::move(m);
    task.max_map_concurrency = j.value("max_map_concurrency", 0);
  }
  const TaskType* type = find_task_type(task.type);
  if (!type) throw UserError("unknown task type '" + task.type + "' in a stored DAG");
  task.spec = type->from_json(j.at("spec"));
  // Versions stored before assets existed have neither key.
  task.inputs = assets_from_json(j.value("inputs", json()));
  task.outputs = assets_from_json(j.value("outputs", json()));
  return task;
}

}  // namespace

std::vector<std::string> literal_secrets(const Dag& dag) {
  const std::string& secret = dag.alerts.secret;
  if (secret.empty() || secret.find("{{") != std::string::npos) return {};
  return {secret};
}

nlohmann::json dag_to_json(const Dag& dag) {
  json tasks = json::array();
  for (const Task& task : dag.tasks) tasks.push_back(task_to_json(task));
  return {
      {"id", dag.id},
      {"file", dag.file},
      {"description", dag.description},
      {"schedule", dag.schedule.kind() == Schedule::Kind::kNone ? json(nullptr)
                                                                : json(dag.schedule.expression())},
      {"timezone", dag.timezone},
      {"start_date_ms", to_epoch_ms(dag.start_date)},
      {"end_date_ms", dag.end_date ? json(to_epoch_ms(*dag.end_date)) : json(nullptr)},
      {"catchup", dag.catchup},
      {"max_active_runs", dag.max_active_runs},
      {"max_active_tasks", dag.max_active_tasks},
      {"paused", dag.paused},
      {"tags", dag.tags},
      {"params", dag.params},
      {"sla",
       {{"max_duration_ms", optional_ms(dag.sla.max_duration)},
        {"deadline_ms", optional_ms(dag.sla.deadline)},
        {"freshness_ms", optional_ms(dag.sla.freshness)}}},
      {"alerts",
       {{"webhook", dag.alerts.webhook}, {"secret", dag.alerts.secret}, {"on", dag.alerts.on}}},
      {"asset_schedule",
       dag.asset_schedule
           ? json{{"assets", dag.asset_schedule->assets},
                  {"when", dag.asset_schedule->when == AssetSchedule::When::kAny ? "any" : "all"}}
           : json(nullptr)},
      {"infer_dependencies", dag.infer_dependencies},
      {"tasks", tasks}};
}

Dag dag_from_json(const nlohmann::json& j) {
  try {
    Dag dag;
    dag.id = j.at("id").get<std::string>();
    dag.file = j.at("file").get<std::string>();
    dag.description = j.at("description").get<std::string>();
    dag.timezone = j.at("timezone").get<std::string>();
    const json& schedule = j.at("schedule");
    std::string expression = schedule.is_null() ? "" : schedule.get<std::string>();
    std::string error;
    auto parsed = Schedule::parse(expression, dag.timezone, &error);
    if (!parsed) throw UserError("stored DAG '" + dag.id + "': " + error);
    dag.schedule = *parsed;
    dag.start_date = from_epoch_ms(j.at("start_date_ms").get<int64_t>());
    if (!j.at("end_date_ms").is_null()) {
      dag.end_date = from_epoch_ms(j.at("end_date_ms").get<int64_t>());
    }
    dag.catchup = j.at("catchup").get<bool>();
    dag.max_active_runs = j.at("max_active_runs").get<int>();
    dag.max_active_tasks = j.at("max_active_tasks").get<int>();
    dag.paused = j.at("paused").get<bool>();
    dag.tags = j.at("tags").get<std::vector<std::string>>();
    dag.params = j.at("params");
    const json& sla = j.at("sla");
    dag.sla.max_duration = read_optional_ms(sla.at("max_duration_ms"));
    dag.sla.deadline = read_optional_ms(sla.at("deadline_ms"));
    dag.sla.freshness = read_optional_ms(sla.at("freshness_ms"));
    const json& alerts = j.at("alerts");
    dag.alerts.webhook = alerts.at("webhook").get<std::string>();
    dag.alerts.secret = alerts.at("secret").get<std::string>();
    dag.alerts.on = alerts.at("on").get<std::vector<std::string>>();
    // Versions stored before assets existed have neither key.
    if (const json schedule_on = j.value("asset_schedule", json()); schedule_on.is_object()) {
      AssetSchedule on;
      on.assets = schedule_on.at("assets").get<std::vector<std::string>>();
      on.when = schedule_on.value("when", "all") == "any" ? AssetSchedule::When::kAny
                                                         : AssetSchedule::When::kAll;
      dag.asset_schedule = std::move(on);
    }
    dag.infer_dependencies = j.value("infer_dependencies", false);
    for (const json& task : j.at("tasks")) dag.tasks.push_back(task_from_json(task));
    return dag;
  } catch (const nlohmann::json::exception& e) {
    throw UserError(std::string("stored DAG definition is malformed: ") + e.what());
  }
}

}  // namespace sluice
