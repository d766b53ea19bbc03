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
                                                  "sla_miss", "recovery",     "success"};
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

json pairs_to_json(const std::vector<std::pair<std::string, std::string>>& pairs) {
  json out = json::array();
  for (const auto& [name, value] : pairs) out.push_back(json::array({name, value}));
  return out;
}

std::vector<std::pair<std::string, std::string>> pairs_from_json(const json& j) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const json& item : j) {
    out.emplace_back(item.at(0).get<std::string>(), item.at(1).get<std::string>());
  }
  return out;
}

const char* check_kind_name(Check::Kind kind) {
  switch (kind) {
    case Check::Kind::kSqlExpect:
      return "sql";
    case Check::Kind::kNotNull:
      return "not_null";
    case Check::Kind::kUnique:
      return "unique";
    case Check::Kind::kRowCount:
      return "row_count";
  }
  return "sql";
}

Check::Kind check_kind_from(const std::string& name) {
  if (name == "sql") return Check::Kind::kSqlExpect;
  if (name == "not_null") return Check::Kind::kNotNull;
  if (name == "unique") return Check::Kind::kUnique;
  if (name == "row_count") return Check::Kind::kRowCount;
  throw UserError("unknown check kind '" + name + "' in a stored DAG");
}

json spec_to_json(const TaskSpec& spec) {
  json j = json::object();
  std::visit(
      [&j](const auto& s) {
        using T = std::decay_t<decltype(s)>;
        if constexpr (std::is_same_v<T, ShellTask>) {
          j["command"] = s.command;
        } else if constexpr (std::is_same_v<T, ExtractTask>) {
          json source = json::object();
          if (const auto* csv = std::get_if<CsvSource>(&s.source)) {
            source = {{"kind", "csv"},
                      {"path", csv->path},
                      {"delimiter", std::string(1, csv->delimiter)},
                      {"header", csv->header}};
          } else if (const auto* http = std::get_if<HttpSource>(&s.source)) {
            source = {{"kind", "http"},
                      {"url", http->url},
                      {"headers", http->headers},
                      {"records", http->records},
                      {"next", http->next}};
          } else if (const auto* query = std::get_if<QuerySource>(&s.source)) {
            source = {{"kind", "query"}, {"conn", query->conn}, {"sql", query->sql}};
          }
          j["source"] = source;
          j["target"] = {{"conn", s.target.conn},
                         {"table", s.target.table},
                         {"mode", s.target.mode},
                         {"key", s.target.key},
                         {"partition_column", s.target.partition_column},
                         {"partition_value", s.target.partition_value},
                         {"columns", pairs_to_json(s.target.columns)}};
          j["on_bad_row"] = s.on_bad_row;
        } else if constexpr (std::is_same_v<T, SqlTask>) {
          j["conn"] = s.conn;
          j["sql"] = s.sql;
          j["sql_file"] = s.sql_file;
          j["transaction"] = s.transaction;
        } else if constexpr (std::is_same_v<T, CheckTask>) {
          j["conn"] = s.conn;
          json checks = json::array();
          for (const Check& c : s.checks) {
            checks.push_back({{"kind", check_kind_name(c.kind)},
                              {"sql", c.sql},
                              {"expect", c.expect},
                              {"table", c.table},
                              {"columns", c.columns},
                              {"min", c.min ? json(*c.min) : json(nullptr)},
                              {"max", c.max ? json(*c.max) : json(nullptr)}});
          }
          j["checks"] = checks;
        } else if constexpr (std::is_same_v<T, SparkSubmitTask>) {
          j["application"] = s.application;
          j["master"] = s.master;
          j["deploy_mode"] = s.deploy_mode;
          j["name"] = s.name;
          j["class"] = s.main_class;
          j["conf"] = pairs_to_json(s.conf);
          j["jars"] = s.jars;
          j["py_files"] = s.py_files;
          j["files"] = s.files;
          j["packages"] = s.packages;
          j["args"] = s.args;
          j["spark_submit"] = s.spark_submit;
        } else if constexpr (std::is_same_v<T, FileSensorTask>) {
          j["path"] = s.path;
          j["min_size"] = s.min_size;
        } else if constexpr (std::is_same_v<T, SqlSensorTask>) {
          j["conn"] = s.conn;
          j["sql"] = s.sql;
        } else if constexpr (std::is_same_v<T, HttpSensorTask>) {
          j["url"] = s.url;
          j["status"] = s.status;
          j["contains"] = s.contains;
        } else if constexpr (std::is_same_v<T, ExternalTaskSensorTask>) {
          j["dag"] = s.dag;
          j["task"] = s.task;
          j["offset_ms"] = s.offset.count();
          j["fail_on_failed"] = s.fail_on_failed;
        } else if constexpr (std::is_same_v<T, TimeSensorTask>) {
          j["after_ms"] = s.after.count();
        }
      },
      spec);
  return j;
}

TaskSpec spec_from_json(const std::string& type, const json& j) {
  if (type == "shell") return ShellTask{j.at("command").get<std::string>()};
  if (type == "extract") {
    ExtractTask t;
    const json& source = j.at("source");
    const std::string kind = source.at("kind").get<std::string>();
    if (kind == "csv") {
      CsvSource csv;
      csv.path = source.at("path").get<std::string>();
      const std::string delimiter = source.at("delimiter").get<std::string>();
      csv.delimiter = delimiter.empty() ? ',' : delimiter[0];
      csv.header = source.at("header").get<bool>();
      t.source = csv;
    } else if (kind == "http") {
      HttpSource http;
      http.url = source.at("url").get<std::string>();
      http.headers = source.at("headers").get<std::map<std::string, std::string>>();
      http.records = source.at("records").get<std::string>();
      http.next = source.at("next").get<std::string>();
      t.source = http;
    } else if (kind == "query") {
      t.source =
          QuerySource{source.at("conn").get<std::string>(), source.at("sql").get<std::string>()};
    } else {
      throw UserError("unknown extract source '" + kind + "' in a stored DAG");
    }
    const json& target = j.at("target");
    t.target.conn = target.at("conn").get<std::string>();
    t.target.table = target.at("table").get<std::string>();
    t.target.mode = target.at("mode").get<std::string>();
    t.target.key = target.at("key").get<std::vector<std::string>>();
    t.target.partition_column = target.at("partition_column").get<std::string>();
    t.target.partition_value = target.at("partition_value").get<std::string>();
    t.target.columns = pairs_from_json(target.at("columns"));
    t.on_bad_row = j.at("on_bad_row").get<std::string>();
    return t;
  }
  if (type == "sql") {
    SqlTask t;
    t.conn = j.at("conn").get<std::string>();
    t.sql = j.at("sql").get<std::string>();
    t.sql_file = j.at("sql_file").get<std::string>();
    t.transaction = j.at("transaction").get<bool>();
    return t;
  }
  if (type == "check") {
    CheckTask t;
    t.conn = j.at("conn").get<std::string>();
    for (const json& c : j.at("checks")) {
      Check check;
      check.kind = check_kind_from(c.at("kind").get<std::string>());
      check.sql = c.at("sql").get<std::string>();
      check.expect = c.at("expect").get<std::string>();
      check.table = c.at("table").get<std::string>();
      check.columns = c.at("columns").get<std::vector<std::string>>();
      if (!c.at("min").is_null()) check.min = c.at("min").get<int64_t>();
      if (!c.at("max").is_null()) check.max = c.at("max").get<int64_t>();
      t.checks.push_back(std::move(check));
    }
    return t;
  }
  if (type == "spark_submit") {
    SparkSubmitTask t;
    t.application = j.at("application").get<std::string>();
    t.master = j.at("master").get<std::string>();
    t.deploy_mode = j.at("deploy_mode").get<std::string>();
    t.name = j.at("name").get<std::string>();
    t.main_class = j.at("class").get<std::string>();
    t.conf = pairs_from_json(j.at("conf"));
    t.jars = j.at("jars").get<std::vector<std::string>>();
    t.py_files = j.at("py_files").get<std::vector<std::string>>();
    t.files = j.at("files").get<std::vector<std::string>>();
    t.packages = j.at("packages").get<std::vector<std::string>>();
    t.args = j.at("args").get<std::vector<std::string>>();
    t.spark_submit = j.at("spark_submit").get<std::string>();
    return t;
  }
  if (type == "file_sensor") {
    return FileSensorTask{j.at("path").get<std::string>(), j.at("min_size").get<int64_t>()};
  }
  if (type == "sql_sensor") {
    return SqlSensorTask{j.at("conn").get<std::string>(), j.at("sql").get<std::string>()};
  }
  if (type == "http_sensor") {
    return HttpSensorTask{j.at("url").get<std::string>(), j.at("status").get<int>(),
                          j.at("contains").get<std::string>()};
  }
  if (type == "external_task_sensor") {
    ExternalTaskSensorTask t;
    t.dag = j.at("dag").get<std::string>();
    t.task = j.at("task").get<std::string>();
    t.offset = Millis{j.at("offset_ms").get<int64_t>()};
    t.fail_on_failed = j.at("fail_on_failed").get<bool>();
    return t;
  }
  if (type == "time_sensor") return TimeSensorTask{Millis{j.at("after_ms").get<int64_t>()}};
  throw UserError("unknown task type '" + type + "' in a stored DAG");
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
  task.spec = spec_from_json(task.type, j.at("spec"));
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
    for (const json& task : j.at("tasks")) dag.tasks.push_back(task_from_json(task));
    return dag;
  } catch (const nlohmann::json::exception& e) {
    throw UserError(std::string("stored DAG definition is malformed: ") + e.what());
  }
}

}  // namespace sluice
