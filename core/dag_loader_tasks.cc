// Reading a DAG file's tasks: the keys every task has, and each type's own.
#include "core/dag_loader_impl.h"

namespace sluice::loader {

void Loader::parse_tasks(const Fields& root) {
  std::optional<Fields> defaults;
  if (const Entry* e = root.find("defaults")) {
    if (!e->value.IsNull()) {
      if (e->value.IsMap()) {
        defaults = fields_of(e->value, "");
        for (const Entry& d : defaults->entries) {
          if (d.key == "id" || d.key == "depends_on") {
            error(d.key_node, "'" + d.key + "' cannot be set in defaults; set it on each task");
          }
        }
        Fields rest;
        for (const Entry& d : defaults->entries) {
          if (d.key != "id" && d.key != "depends_on") rest.entries.push_back(d);
        }
        check_unknown_keys(rest, default_keys(), "in defaults");
      } else {
        error(e->value, type_problem(*e, "a mapping of task keys"));
      }
    }
  }

  const Entry* e = root.find("tasks");
  if (!e) {
    error(root.node, "the DAG has no `tasks:`; add a list of tasks (- id: ..., type: ...)");
    return;
  }
  if (!e->value.IsSequence()) {
    error(e->value.IsNull() ? e->key_node : e->value, type_problem(*e, "a list of tasks"));
    return;
  }
  if (e->value.size() == 0) {
    error(e->value, "tasks is empty; a DAG needs at least one task");
    return;
  }
  dag_.tasks.reserve(e->value.size());
  infos_.reserve(e->value.size());
  size_t position = 0;
  for (auto it = e->value.begin(); it != e->value.end(); ++it) {
    parse_task(*it, ++position, defaults ? &*defaults : nullptr);
  }
}

void Loader::parse_task(const YAML::Node& node, size_t position, const Fields* defaults) {
  const int index = static_cast<int>(dag_.tasks.size());
  Task task;
  TaskInfo info;
  info.node = node;
  task.line = node.Mark().line + 1;
  task.cwd = abs_dir_;
  if (!node.IsMap()) {
    error(node, "task #" + std::to_string(position) +
                    " must be a mapping (id: ..., type: ...), got " + describe(node));
    return;
  }
  Fields own = fields_of(node, "");

  std::string name = "task #" + std::to_string(position);
  if (const Entry* e = own.find("id")) {
    if (auto id = as_string(*e)) {
      task.id = *id;
      name = "task " + quote_value(*id);
      if (!valid_id(*id)) {
        error(e->value, "task id " + quote_value(*id) + " " + kIdRule);
      }
      auto [it, inserted] = task_index_.emplace(*id, index);
      if (inserted) {
        info.has_id = true;
        info.id_mark = e->value.Mark();
      } else {
        error(e->value, "duplicate task id '" + *id + "' (first defined at line " +
                            std::to_string(dag_.tasks[it->second].line) + "); rename one");
      }
    }
  } else {
    error(node, name + " has no id; add `id: NAME`");
  }

  const Entry* type_entry = own.find("type");
  if (!type_entry && defaults) type_entry = defaults->find("type");
  const std::vector<std::string>* allowed = nullptr;
  if (!type_entry) {
    error(node, name + " has no type; add `type:` (one of " + join(kTaskTypes, ", ") + ")");
  } else if (auto type = as_string(*type_entry)) {
    allowed = allowed_task_keys(*type);
    if (allowed) {
      task.type = *type;
    } else {
      error(type_entry->value, "unknown task type '" + *type + "'" +
                                   did_you_mean(*type, kTaskTypes) +
                                   "; use one of: " + join(kTaskTypes, ", "));
    }
  }

  if (allowed) {
    check_unknown_keys(own, *allowed, "in " + name + " (type " + task.type + ")");
  } else {
    // Without a known type only the common keys can be judged.
    std::vector<std::string> any;
    for (const auto& [t, keys] : kTypeKeys) any.insert(any.end(), keys.begin(), keys.end());
    any.insert(any.end(), kCommonTaskKeys.begin(), kCommonTaskKeys.end());
    any.insert(any.end(), kSensorKeys.begin(), kSensorKeys.end());
    check_unknown_keys(own, any, "in " + name);
  }

  // The task's own value wins; a default applies only where the type takes the key.
  auto get = [&](std::string_view key) -> const Entry* {
    if (allowed && !contains(*allowed, key)) return nullptr;
    if (const Entry* e = own.find(key)) return e;
    if (defaults && key != "id" && key != "depends_on") return defaults->find(key);
    return nullptr;
  };
  const std::string type_name = task.type;
  auto require = [&](std::string_view key) -> const Entry* {
    const Entry* e = get(key);
    if (!e) {
      error(node,
            name + " (type " + type_name + ") is missing required key '" + std::string(key) + "'");
    }
    return e;
  };

  if (const Entry* e = own.find("depends_on")) {
    if (e->value.IsScalar()) {
      error(e->value,
            "depends_on must be a list of task ids, e.g. depends_on: [" + e->value.Scalar() + "]");
    } else if (auto deps = as_string_list(*e, -1, false)) {
      size_t i = 0;
      for (auto it = e->value.begin(); it != e->value.end(); ++it, ++i) {
        info.deps.emplace_back((*deps)[i], it->Mark());
      }
      task.depends_on = *deps;
    }
  }
  if (const Entry* e = get("trigger_rule")) {
    if (auto rule = as_choice(*e, trigger_rule_names())) {
      task.trigger_rule = *parse_trigger_rule(*rule);
    }
  }
  if (const Entry* e = get("depends_on_past")) {
    if (auto b = as_bool(*e)) task.depends_on_past = *b;
  }
  if (const Entry* e = get("retries")) {
    if (auto n = as_int(*e, 0, 1000)) task.retry.retries = static_cast<int>(*n);
  }
  if (const Entry* e = get("retry_delay")) {
    if (auto d = as_duration(*e)) task.retry.delay = *d;
  }
  if (const Entry* e = get("retry_backoff")) {
    if (auto b = as_choice(*e, {"fixed", "exponential"})) {
      task.retry.backoff = *b == "exponential" ? RetryBackoff::kExponential : RetryBackoff::kFixed;
    }
  }
  if (const Entry* e = get("max_retry_delay")) {
    if (auto d = as_duration(*e)) task.retry.max_delay = *d;
  }
  if (const Entry* e = get("timeout")) {
    if (!e->value.IsNull()) task.timeout = as_duration(*e);
  }
  if (const Entry* e = get("pool")) {
    if (auto s = as_string(*e)) task.pool = *s;
  }
  if (const Entry* e = get("queue")) {
    if (auto s = as_string(*e)) task.queue = *s;
  }
  if (const Entry* e = get("priority")) {
    if (auto n = as_int(*e, -1000000, 1000000)) task.priority = static_cast<int>(*n);
  }
  if (const Entry* e = get("sla")) {
    if (e->value.IsMap()) {
      if (auto sla = as_mapping(*e, {"max_duration"}, "in a task's sla")) {
        if (const Entry* d = sla->find("max_duration")) task.sla = as_duration(*d);
      }
    } else if (!e->value.IsNull()) {
      task.sla = as_duration(*e);
    }
  }
  if (const Entry* e = get("cwd")) {
    if (auto s = as_template(*e, index)) {
      fs::path p(*s);
      task.cwd = p.is_absolute() ? *s : (fs::path(abs_dir_) / p).lexically_normal().string();
    }
  }
  if (allowed && contains(*allowed, "env")) {
    if (const Entry* e = get("env")) {
      if (auto pairs = as_string_pairs(*e, index, true)) {
        task.env = std::map<std::string, std::string>(pairs->begin(), pairs->end());
      }
    }
  }
  if (allowed && is_sensor_type(task.type)) {
    SensorSettings sensor;
    if (const Entry* e = get("poke_interval")) {
      if (auto d = as_duration(*e)) {
        if (d->count() <= 0) {
          error(e->value, "poke_interval must be longer than 0s");
        } else {
          sensor.poke_interval = *d;
        }
      }
    }
    if (const Entry* e = get("mode")) {
      if (auto m = as_choice(*e, {"poke", "reschedule"})) {
        sensor.mode = *m == "reschedule" ? SensorMode::kReschedule : SensorMode::kPoke;
      }
    }
    if (const Entry* e = get("soft_fail")) {
      if (auto b = as_bool(*e)) sensor.soft_fail = *b;
    }
    task.sensor = sensor;
  }

  if (const Entry* e = own.find("map")) {
    if (auto map = as_mapping(*e, {"items", "dates"}, "in the map of " + name)) {
      const Entry* items = map->find("items");
      const Entry* dates = map->find("dates");
      if (items && dates) {
        error(e->value, name + ": map takes either `items:` or `dates:`, not both");
      } else if (!items && !dates) {
        error(e->value, name + ": map needs `items:` (a list, or a template giving a JSON "
                               "array) or `dates: {from: ..., to: ...}`");
      } else if (items && items->value.IsSequence()) {
        MapSpec spec;
        spec.kind = MapSpec::Kind::kItems;
        spec.items = to_json(items->value);
        for (auto it = items->value.begin(); it != items->value.end(); ++it) {
          if (it->IsScalar()) check_template(*it, it->Scalar(), index, items->label);
        }
        task.map = std::move(spec);
      } else if (items) {
        if (auto text = as_template(*items, index)) {
          MapSpec spec;
          spec.kind = MapSpec::Kind::kItemsTemplate;
          spec.items_template = *text;
          task.map = std::move(spec);
        }
      } else if (auto range = as_mapping(*dates, {"from", "to"}, "in map.dates of " + name)) {
        const Entry* from = range->find("from");
        const Entry* to = range->find("to");
        if (!from || !to) {
          error(dates->value, name + ": map.dates needs both `from:` and `to:` (YYYY-MM-DD "
                                     "or a template such as \"{{ ds }}\")");
        } else {
          auto from_text = as_template(*from, index);
          auto to_text = as_template(*to, index);
          if (from_text && to_text) {
            MapSpec spec;
            spec.kind = MapSpec::Kind::kDates;
            spec.dates_from = *from_text;
            spec.dates_to = *to_text;
            task.map = std::move(spec);
          }
        }
      }
    }
  }
  if (const Entry* e = own.find("max_map_concurrency")) {
    if (auto n = as_int(*e, 0, 100000)) task.max_map_concurrency = static_cast<int>(*n);
    if (!own.find("map")) {
      error(e->key_node, name + ": max_map_concurrency applies to mapped tasks only; add `map:`");
    }
  }

  // The task joins the list before its spec is read so that template uses can
  // refer to it by index.
  dag_.tasks.push_back(std::move(task));
  infos_.push_back(std::move(info));
  if (allowed) parse_spec(dag_.tasks.back(), index, get, require);
}

void Loader::parse_spec(Task& task, int index, const KeyLookup& get, const KeyLookup& require) {
  const std::string& type = task.type;
  if (type == "shell") {
    ShellTask spec;
    if (const Entry* e = require("command")) {
      if (auto s = as_template(*e, index)) spec.command = *s;
    }
    task.spec = spec;
  } else if (type == "extract") {
    task.spec = parse_extract(index, get, require);
  } else if (type == "sql") {
    SqlTask spec;
    if (const Entry* e = require("conn")) {
      if (auto s = as_string(*e)) spec.conn = *s;
    }
    if (const Entry* e = require("sql")) {
      if (auto s = as_sql(*e, index, &spec.sql_file)) spec.sql = *s;
    }
    if (const Entry* e = get("transaction")) {
      if (auto b = as_bool(*e)) spec.transaction = *b;
    }
    task.spec = spec;
  } else if (type == "check") {
    task.spec = parse_check(index, require);
  } else if (type == "spark_submit") {
    SparkSubmitTask spec;
    if (const Entry* e = require("application")) {
      if (auto s = as_template(*e, index)) spec.application = *s;
    }
    if (const Entry* e = get("master")) {
      if (auto s = as_string(*e)) spec.master = *s;
    }
    if (const Entry* e = get("deploy_mode")) {
      if (auto s = as_choice(*e, {"client", "cluster"})) spec.deploy_mode = *s;
    }
    if (const Entry* e = get("name")) {
      if (auto s = as_template(*e, index)) spec.name = *s;
    }
    if (const Entry* e = get("class")) {
      if (auto s = as_string(*e)) spec.main_class = *s;
    }
    if (const Entry* e = get("conf")) {
      if (auto pairs = as_string_pairs(*e, index, true)) spec.conf = *pairs;
    }
    const std::pair<const char*, std::vector<std::string>*> lists[] = {{"jars", &spec.jars},
                                                                       {"py_files", &spec.py_files},
                                                                       {"files", &spec.files},
                                                                       {"packages", &spec.packages},
                                                                       {"args", &spec.args}};
    for (const auto& [key, target] : lists) {
      if (const Entry* e = get(key)) {
        if (auto list = as_string_list(*e, index, true)) *target = *list;
      }
    }
    if (const Entry* e = get("spark_submit")) {
      if (auto s = as_string(*e)) spec.spark_submit = *s;
    }
    task.spec = spec;
  } else if (type == "file_sensor") {
    FileSensorTask spec;
    if (const Entry* e = require("path")) {
      if (auto s = as_template(*e, index)) spec.path = *s;
    }
    if (const Entry* e = get("min_size")) {
      if (auto n = as_int(*e, 0, std::numeric_limits<int64_t>::max())) spec.min_size = *n;
    }
    task.spec = spec;
  } else if (type == "sql_sensor") {
    SqlSensorTask spec;
    if (const Entry* e = require("conn")) {
      if (auto s = as_string(*e)) spec.conn = *s;
    }
    if (const Entry* e = require("sql")) {
      if (auto s = as_sql(*e, index, nullptr)) spec.sql = *s;
    }
    task.spec = spec;
  } else if (type == "http_sensor") {
    HttpSensorTask spec;
    if (const Entry* e = require("url")) {
      if (auto s = as_template(*e, index)) spec.url = *s;
    }
    if (const Entry* e = get("status")) {
      if (auto n = as_int(*e, 100, 599)) spec.status = static_cast<int>(*n);
    }
    if (const Entry* e = get("contains")) {
      if (auto s = as_template(*e, index)) spec.contains = *s;
    }
    task.spec = spec;
  } else if (type == "external_task_sensor") {
    ExternalTaskSensorTask spec;
    if (const Entry* e = require("dag")) {
      if (auto s = as_string(*e)) {
        spec.dag = *s;
        if (!valid_id(*s)) error(e->value, quote_value(*s) + " is not a valid DAG id");
      }
    }
    if (const Entry* e = get("task")) {
      if (auto s = as_string(*e)) spec.task = *s;
    }
    if (const Entry* e = get("offset")) {
      if (auto d = as_duration(*e, /*allow_negative=*/true)) spec.offset = *d;
    }
    if (const Entry* e = get("fail_on_failed")) {
      if (auto b = as_bool(*e)) spec.fail_on_failed = *b;
    }
    task.spec = spec;
  } else if (type == "time_sensor") {
    TimeSensorTask spec;
    if (const Entry* e = require("after")) {
      if (auto d = as_duration(*e)) spec.after = *d;
    }
    task.spec = spec;
  }
}

ExtractTask Loader::parse_extract(int index, const KeyLookup& get, const KeyLookup& require) {
  ExtractTask spec;
  if (const Entry* e = require("source")) {
    if (auto src = as_mapping(*e, {"csv", "http", "query", "delimiter", "header"},
                              "in source (one of csv:, http:, query:)")) {
      const Entry* csv = src->find("csv");
      const Entry* http = src->find("http");
      const Entry* query = src->find("query");
      int kinds = (csv != nullptr) + (http != nullptr) + (query != nullptr);
      if (kinds == 0) {
        error(e->value, "source needs one of csv: PATH, http: {url: ...} or query: {conn, sql}");
      } else if (kinds > 1) {
        error(e->value, "source takes only one of csv, http or query");
      }
      if (!csv) {
        for (const char* key : {"delimiter", "header"}) {
          if (const Entry* extra = src->find(key)) {
            error(extra->key_node, std::string(key) + " applies only to csv sources");
          }
        }
      }
      if (csv) {
        CsvSource source;
        if (auto s = as_template(*csv, index)) source.path = *s;
        if (const Entry* d = src->find("delimiter")) {
          if (auto s = as_string(*d)) {
            if (s->size() == 1) {
              source.delimiter = (*s)[0];
            } else {
              error(d->value, "delimiter must be one character, got '" + *s + "'");
            }
          }
        }
        if (const Entry* h = src->find("header")) {
          if (auto b = as_bool(*h)) source.header = *b;
        }
        spec.source = source;
      } else if (http) {
        HttpSource source;
        if (auto f = as_mapping(*http, {"url", "headers", "records", "next"}, "in source.http")) {
          if (const Entry* u = f->find("url")) {
            if (auto s = as_template(*u, index)) source.url = *s;
          } else {
            error(http->value, "source.http is missing required key 'url'");
          }
          if (const Entry* h = f->find("headers")) {
            if (auto pairs = as_string_pairs(*h, index, true)) {
              source.headers = std::map<std::string, std::string>(pairs->begin(), pairs->end());
            }
          }
          if (const Entry* r = f->find("records")) {
            if (auto s = as_string(*r)) source.records = *s;
          }
          if (const Entry* n = f->find("next")) {
            if (auto s = as_string(*n)) source.next = *s;
          }
        }
        spec.source = source;
      } else if (query) {
        QuerySource source;
        if (auto f = as_mapping(*query, {"conn", "sql"}, "in source.query")) {
          if (const Entry* c = f->find("conn")) {
            if (auto s = as_string(*c)) source.conn = *s;
          } else {
            error(query->value, "source.query is missing required key 'conn'");
          }
          if (const Entry* q = f->find("sql")) {
            if (auto s = as_sql(*q, index, nullptr)) source.sql = *s;
          } else {
            error(query->value, "source.query is missing required key 'sql'");
          }
        }
        spec.source = source;
      }
    }
  }
  if (const Entry* e = require("target")) {
    if (auto f =
            as_mapping(*e, {"conn", "table", "mode", "key", "partition", "columns"}, "in target")) {
      ExtractTarget& target = spec.target;
      for (const char* key : {"conn", "table"}) {
        if (const Entry* v = f->find(key)) {
          if (auto s = as_string(*v))
            (std::string(key) == "conn" ? target.conn : target.table) = *s;
        } else {
          error(e->value, "target is missing required key '" + std::string(key) + "'");
        }
      }
      if (const Entry* m = f->find("mode")) {
        if (auto s = as_choice(*m, {"append", "replace", "replace_partition", "upsert"})) {
          target.mode = *s;
        }
      }
      if (const Entry* k = f->find("key")) {
        if (k->value.IsScalar()) {
          target.key = {k->value.Scalar()};
        } else if (auto list = as_string_list(*k, index, false)) {
          target.key = *list;
        }
      }
      if (const Entry* p = f->find("partition")) {
        if (auto part = as_mapping(*p, {"column", "value"}, "in target.partition")) {
          if (const Entry* c = part->find("column")) {
            if (auto s = as_string(*c)) target.partition_column = *s;
          } else {
            error(p->value, "target.partition is missing required key 'column'");
          }
          if (const Entry* v = part->find("value")) {
            if (auto s = as_template(*v, index)) target.partition_value = *s;
          } else {
            error(p->value, "target.partition is missing required key 'value'");
          }
        }
      }
      if (const Entry* c = f->find("columns")) {
        if (auto pairs = as_string_pairs(*c, index, false)) target.columns = *pairs;
      }
      if (target.mode == "upsert" && target.key.empty() && !f->find("key")) {
        error(e->value, "target mode upsert needs key: the columns that identify a row");
      }
      if (target.mode == "replace_partition" && !f->find("partition")) {
        error(e->value,
              "target mode replace_partition needs partition: {column: NAME, value: \"{{ ds }}\"}");
      }
    }
  }
  if (const Entry* e = get("on_bad_row")) {
    if (auto s = as_choice(*e, {"fail", "skip", "reject"})) spec.on_bad_row = *s;
  }
  return spec;
}

CheckTask Loader::parse_check(int index, const KeyLookup& require) {
  CheckTask spec;
  if (const Entry* e = require("conn")) {
    if (auto s = as_string(*e)) spec.conn = *s;
  }
  if (const Entry* e = require("checks")) {
    if (!e->value.IsSequence() || e->value.size() == 0) {
      error(e->value.IsNull() ? e->key_node : e->value,
            e->value.IsSequence() ? "checks is empty; add at least one check"
                                  : type_problem(*e, "a list of checks"));
    } else {
      size_t i = 0;
      for (auto it = e->value.begin(); it != e->value.end(); ++it, ++i) {
        Entry item{"checks", "checks[" + std::to_string(i) + "]", e->key_node, *it};
        if (!it->IsMap()) {
          error(*it, type_problem(item, "a mapping such as {sql: ..., expect: \"> 0\"}"));
          continue;
        }
        Fields f = fields_of(*it, item.label);
        check_unknown_keys(f, {"sql", "expect", "not_null", "unique", "row_count"}, "in a check");
        Check check;
        int kinds = 0;
        for (const char* key : {"sql", "not_null", "unique", "row_count"}) {
          if (f.find(key)) ++kinds;
        }
        if (kinds != 1) {
          error(*it, kinds == 0 ? "a check needs one of sql (with expect), not_null, unique "
                                  "or row_count"
                                : "a check takes only one of sql, not_null, unique or "
                                  "row_count; split it into several checks");
          continue;
        }
        if (const Entry* s = f.find("sql")) {
          check.kind = Check::Kind::kSqlExpect;
          if (auto text = as_template(*s, index)) check.sql = *text;
          if (const Entry* x = f.find("expect")) {
            if (auto text = as_string(*x)) {
              if (valid_expect(*text)) {
                check.expect = *text;
              } else {
                error(x->value, "bad expect '" + *text +
                                    "'; use > N, >= N, < N, <= N, = N, != N or between A and B");
              }
            }
          } else {
            error(*it, "a sql check needs expect, e.g. expect: \"> 0\"");
          }
        } else if (f.find("expect")) {
          error(f.find("expect")->key_node, "expect applies only to sql checks");
        } else if (const Entry* n = f.find("not_null")) {
          check.kind = Check::Kind::kNotNull;
          if (auto m = as_mapping(*n, {"table", "column"}, "in not_null")) {
            if (const Entry* t = m->find("table")) {
              if (auto v = as_string(*t)) check.table = *v;
            } else {
              error(n->value, "not_null needs table");
            }
            if (const Entry* c = m->find("column")) {
              if (auto v = as_string(*c)) check.columns = {*v};
            } else {
              error(n->value, "not_null needs column");
            }
          }
        } else if (const Entry* u = f.find("unique")) {
          check.kind = Check::Kind::kUnique;
          if (auto m = as_mapping(*u, {"table", "columns", "column"}, "in unique")) {
            if (const Entry* t = m->find("table")) {
              if (auto v = as_string(*t)) check.table = *v;
            } else {
              error(u->value, "unique needs table");
            }
            if (const Entry* c = m->find("columns")) {
              if (auto v = as_string_list(*c, index, false)) {
                if (v->empty()) error(c->value, "unique.columns needs at least one column");
                check.columns = *v;
              }
            } else if (const Entry* c1 = m->find("column")) {
              if (auto v = as_string(*c1)) check.columns = {*v};
            } else {
              error(u->value, "unique needs columns: [NAME, ...]");
            }
          }
        } else if (const Entry* r = f.find("row_count")) {
          check.kind = Check::Kind::kRowCount;
          if (auto m = as_mapping(*r, {"table", "min", "max"}, "in row_count")) {
            if (const Entry* t = m->find("table")) {
              if (auto v = as_string(*t)) check.table = *v;
            } else {
              error(r->value, "row_count needs table");
            }
            if (const Entry* v = m->find("min")) {
              check.min = as_int(*v, 0, std::numeric_limits<int64_t>::max());
            }
            if (const Entry* v = m->find("max")) {
              check.max = as_int(*v, 0, std::numeric_limits<int64_t>::max());
            }
            if (!m->find("min") && !m->find("max")) {
              error(r->value, "row_count needs min, max or both");
            } else if (check.min && check.max && *check.min > *check.max) {
              error(r->value, "row_count min is larger than max");
            }
          }
        }
        spec.checks.push_back(std::move(check));
      }
    }
  }
  return spec;
}

}  // namespace sluice::loader
