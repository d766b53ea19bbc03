// Reading a DAG file's tasks: the keys every task has; each type reads its own
// (core/task_types/) through SpecReader, defined at the end.
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
  const TaskType* task_type = nullptr;
  const std::vector<std::string>* allowed = nullptr;
  if (!type_entry) {
    error(node,
          name + " has no type; add `type:` (one of " + join(task_type_names(), ", ") + ")");
  } else if (auto type = as_string(*type_entry)) {
    task_type = find_task_type(*type);
    if (task_type) {
      task.type = *type;
      allowed = allowed_task_keys(*type);
    } else {
      error(type_entry->value, "unknown task type '" + *type + "'" +
                                   did_you_mean(*type, task_type_names()) +
                                   "; use one of: " + join(task_type_names(), ", "));
    }
  }

  if (allowed) {
    check_unknown_keys(own, *allowed, "in " + name + " (type " + task.type + ")");
  } else {
    // Without a known type only the common keys can be judged.
    std::vector<std::string> any = every_type_key();
    any.insert(any.end(), kCommonTaskKeys.begin(), kCommonTaskKeys.end());
    any.insert(any.end(), kSensorKeys.begin(), kSensorKeys.end());
    check_unknown_keys(own, any, "in " + name);
  }

  // The task's own value wins; a default applies only where the type takes the key.
  const KeyLookup get = [&](std::string_view key) -> const Entry* {
    if (allowed && !contains(*allowed, key)) return nullptr;
    if (const Entry* e = own.find(key)) return e;
    if (defaults && key != "id" && key != "depends_on") return defaults->find(key);
    return nullptr;
  };
  const std::string type_name = task.type;
  const KeyLookup require = [&](std::string_view key) -> const Entry* {
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
  if (task_type && task_type->is_sensor) {
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
  if (task_type) {
    SpecReader reader(*this, index, get, require);
    dag_.tasks.back().spec = task_type->parse(reader);
  }
}

}  // namespace sluice::loader

// ---------------------------------------------------------------------------
// SpecReader: a task type's view of the loader's readers, bound to one task.

namespace sluice {

std::optional<std::string> SpecReader::as_string(const Entry& e) { return loader_.as_string(e); }

std::optional<std::string> SpecReader::as_template(const Entry& e) {
  return loader_.as_template(e, task_);
}

std::optional<int64_t> SpecReader::as_int(const Entry& e, int64_t min, int64_t max) {
  return loader_.as_int(e, min, max);
}

std::optional<bool> SpecReader::as_bool(const Entry& e) { return loader_.as_bool(e); }

std::optional<Millis> SpecReader::as_duration(const Entry& e, bool allow_negative) {
  return loader_.as_duration(e, allow_negative);
}

std::optional<std::string> SpecReader::as_choice(const Entry& e,
                                                 const std::vector<std::string>& choices) {
  return loader_.as_choice(e, choices);
}

std::optional<std::vector<std::string>> SpecReader::as_string_list(const Entry& e,
                                                                   bool templated) {
  return loader_.as_string_list(e, task_, templated);
}

std::optional<std::vector<std::pair<std::string, std::string>>> SpecReader::as_string_pairs(
    const Entry& e, bool templated) {
  return loader_.as_string_pairs(e, task_, templated);
}

std::optional<SpecReader::Fields> SpecReader::as_mapping(const Entry& e,
                                                         const std::vector<std::string>& allowed,
                                                         const std::string& where) {
  return loader_.as_mapping(e, allowed, where);
}

std::optional<std::string> SpecReader::as_sql(const Entry& e, std::string* file_out) {
  return loader_.as_sql(e, task_, file_out);
}

SpecReader::Fields SpecReader::fields_of(const YAML::Node& map, const std::string& prefix) {
  return loader_.fields_of(map, prefix);
}

void SpecReader::check_unknown_keys(const Fields& fields, const std::vector<std::string>& allowed,
                                    const std::string& where) {
  loader_.check_unknown_keys(fields, allowed, where);
}

std::string SpecReader::type_problem(const Entry& e, const std::string& expected) const {
  return loader_.type_problem(e, expected);
}

void SpecReader::error(const YAML::Node& node, std::string message) {
  loader_.error(node, std::move(message));
}

}  // namespace sluice
