#include "core/dag_loader.h"

#include "core/dag_loader_impl.h"

namespace sluice {

namespace loader {

// ---------------------------------------------------------------------------

LoadResult Loader::load() {
  LoadResult result;
  result.content = text_;
  dir_ = fs::path(file_).parent_path().string();
  std::error_code ec;
  fs::path abs = fs::absolute(dir_.empty() ? fs::path(".") : fs::path(dir_), ec);
  abs_dir_ = (ec ? fs::path(dir_) : abs).lexically_normal().string();
  if (abs_dir_.size() > 1 && abs_dir_.back() == '/') abs_dir_.pop_back();

  if (std::optional<YAML::Node> parsed = parse()) {
    const YAML::Node& doc = *parsed;
    if (doc.IsNull()) {
      error(YAML::Mark(), "the file is empty; a DAG file needs at least `tasks:`");
    } else if (!doc.IsMap()) {
      error(doc, "a DAG file must be a mapping of keys (dag:, schedule:, tasks:, ...), got " +
                     describe(doc));
    } else {
      Fields root = fields_of(doc, "");
      check_unknown_keys(root, kDagKeys, "at the top level of the DAG");
      parse_dag_settings(root);
      parse_tasks(root);
      check_graph();
      check_templates();
    }
  }

  result.content_hash = hex_sha256(text_, sql_contents_);
  std::stable_sort(errors_.begin(), errors_.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
  result.errors = std::move(errors_);
  result.warnings = std::move(warnings_);
  if (result.errors.empty()) result.dag = std::move(dag_);
  return result;
}

void Loader::parse_dag_settings(const Fields& root) {
  dag_.file = file_;
  if (const Entry* e = root.find("dag")) {
    if (auto id = as_string(*e)) {
      dag_.id = *id;
      if (!valid_id(*id)) {
        error(e->value, "DAG id " + quote_value(*id) + " " + kIdRule + "; rename it");
      }
    }
  } else {
    dag_.id = fs::path(file_).stem().string();
    if (!valid_id(dag_.id)) {
      error(YAML::Mark(), "DAG id " + quote_value(dag_.id) + " (from the file name) " + kIdRule +
                              "; add `dag: NAME` or rename the file");
    }
  }
  if (const Entry* e = root.find("description")) {
    if (!e->value.IsNull()) {
      if (auto s = as_string(*e)) dag_.description = *s;
    }
  }

  bool zone_ok = true;
  if (const Entry* e = root.find("timezone")) {
    if (auto tz = as_string(*e)) {
      if (find_zone(*tz)) {
        dag_.timezone = *tz;
      } else {
        zone_ok = false;
        error(e->value, "unknown timezone '" + *tz +
                            "'; use an IANA name such as UTC, Europe/Berlin or America/New_York");
      }
    } else {
      zone_ok = false;
    }
  }

  const Entry* schedule_entry = root.find("schedule");
  std::string expression;
  bool blank = false;
  if (schedule_entry && !schedule_entry->value.IsNull()) {
    if (auto s = as_string(*schedule_entry)) {
      expression = *s;
      // Only null (or no schedule key) means no schedule: a blank string is
      // more likely a value left out by mistake.
      blank = std::all_of(expression.begin(), expression.end(),
                          [](unsigned char c) { return std::isspace(c); });
    }
  }
  constexpr const char* kScheduleForms =
      "a 5-field cron (\"0 2 * * *\"), @hourly, @daily, @weekly, @monthly, @yearly, @once or null";
  if (blank) {
    error(schedule_entry->value,
          std::string("blank schedule; use ") + kScheduleForms + " (for manual runs only)");
  } else {
    std::string problem;
    auto schedule = Schedule::parse(expression, zone_ok ? dag_.timezone : "UTC", &problem);
    if (schedule) {
      dag_.schedule = *schedule;
    } else {
      // The problem names the expression.
      error(schedule_entry ? schedule_entry->value : YAML::Node(),
            problem + "; use " + kScheduleForms);
    }
  }
  const date::time_zone* zone = zone_ok ? find_zone(dag_.timezone) : nullptr;

  bool has_start = false;
  if (const Entry* e = root.find("start_date")) {
    if (!e->value.IsNull()) {
      if (auto s = as_string(*e)) {
        if (auto t = parse_timestamp(*s, zone)) {
          dag_.start_date = *t;
          has_start = true;
        } else {
          error(e->value, "bad start_date '" + *s +
                              "'; use a date (2026-01-01) or a timestamp (2026-01-01T02:00:00Z)");
        }
      } else {
        has_start = true;  // already reported
      }
    }
  }
  if (!has_start && (dag_.schedule.kind() == Schedule::Kind::kCron ||
                     dag_.schedule.kind() == Schedule::Kind::kOnce)) {
    if (!root.find("start_date") || root.find("start_date")->value.IsNull()) {
      error(schedule_entry ? schedule_entry->key_node : root.node,
            "a scheduled DAG needs start_date; add e.g. start_date: 2026-01-01");
    }
  }
  if (const Entry* e = root.find("end_date")) {
    if (!e->value.IsNull()) {
      if (auto s = as_string(*e)) {
        if (auto t = parse_timestamp(*s, zone)) {
          dag_.end_date = *t;
          if (has_start && *t < dag_.start_date) {
            error(e->value, "end_date " + *s + " is before start_date; fix one of them");
          }
        } else {
          error(e->value,
                "bad end_date '" + *s + "'; use a date (2026-12-31), a timestamp or null");
        }
      }
    }
  }
  if (const Entry* e = root.find("catchup")) {
    if (auto b = as_bool(*e)) dag_.catchup = *b;
  }
  if (const Entry* e = root.find("paused")) {
    if (auto b = as_bool(*e)) dag_.paused = *b;
  }
  if (const Entry* e = root.find("max_active_runs")) {
    if (auto n = as_int(*e, 1, 1000000)) dag_.max_active_runs = static_cast<int>(*n);
  }
  if (const Entry* e = root.find("max_active_tasks")) {
    if (auto n = as_int(*e, 1, 1000000)) dag_.max_active_tasks = static_cast<int>(*n);
  }
  if (const Entry* e = root.find("tags")) {
    if (!e->value.IsNull()) {
      if (auto tags = as_string_list(*e, -1, false)) dag_.tags = *tags;
    }
  }
  if (const Entry* e = root.find("params")) {
    if (e->value.IsMap() && !from_unquoted_template(e->value)) {
      dag_.params = to_json(e->value);
    } else if (!e->value.IsNull()) {
      error(e->value, type_problem(*e, "a mapping of NAME: value"));
    }
  }
  if (const Entry* e = root.find("sla")) {
    if (auto sla = as_mapping(*e, {"max_duration", "deadline", "freshness"}, "in sla")) {
      if (const Entry* d = sla->find("max_duration")) dag_.sla.max_duration = as_duration(*d);
      if (const Entry* d = sla->find("deadline")) dag_.sla.deadline = as_duration(*d);
      if (const Entry* d = sla->find("freshness")) dag_.sla.freshness = as_duration(*d);
    }
  }
  if (const Entry* e = root.find("alerts")) {
    if (auto alerts = as_mapping(*e, {"webhook", "secret", "on"}, "in alerts")) {
      if (const Entry* w = alerts->find("webhook")) {
        if (auto s = as_template(*w, -1)) dag_.alerts.webhook = *s;
      }
      if (const Entry* w = alerts->find("secret")) {
        if (auto s = as_template(*w, -1)) dag_.alerts.secret = *s;
        if (!literal_secrets(dag_).empty()) {
          const YAML::Mark mark = w->value.Mark();
          warnings_.push_back(Diagnostic{
              file_, mark.line + 1, mark.column + 1,
              "alerts.secret holds the key itself, so it is stored with the DAG; put it in "
              "sluice.yaml (alerts: {secret: ...}) or the environment "
              "(secret: \"{{ env.NAME }}\")"});
        }
      }
      if (const Entry* w = alerts->find("on")) {
        if (auto events = as_string_list(*w, -1, false)) {
          size_t i = 0;
          for (auto it = w->value.begin(); it != w->value.end(); ++it, ++i) {
            const std::string& event = (*events)[i];
            if (!contains(alert_event_names(), event)) {
              error(*it, "unknown alert event '" + event + "'" +
                             did_you_mean(event, alert_event_names()) +
                             "; use any of: " + join(alert_event_names(), ", "));
            }
          }
          dag_.alerts.on = *events;
        }
      }
    }
  }
}

void Loader::check_graph() {
  const int n = static_cast<int>(dag_.tasks.size());
  std::vector<std::vector<std::pair<int, YAML::Mark>>> downstream(n);
  std::vector<std::string> ids;
  ids.reserve(task_index_.size());
  for (const Task& t : dag_.tasks) {
    if (!t.id.empty()) ids.push_back(t.id);
  }
  for (int i = 0; i < n; ++i) {
    for (const auto& [dep, mark] : infos_[i].deps) {
      auto it = task_index_.find(dep);
      if (it == task_index_.end()) {
        error(mark, "task '" + dag_.tasks[i].id + "' depends on unknown task '" + dep + "'" +
                        did_you_mean(dep, ids));
        continue;
      }
      downstream[it->second].emplace_back(i, mark);
    }
  }

  // Depth-first search along downstream edges; an edge back into the current
  // path closes a cycle, printed in the order the tasks would run.
  enum Color { kWhite, kGray, kBlack };
  std::vector<Color> color(n, kWhite);
  std::vector<int> path;
  std::vector<size_t> next_edge;
  for (int start = 0; start < n; ++start) {
    if (color[start] != kWhite) continue;
    path = {start};
    next_edge = {0};
    color[start] = kGray;
    while (!path.empty()) {
      int u = path.back();
      if (next_edge.back() == downstream[u].size()) {
        color[u] = kBlack;
        path.pop_back();
        next_edge.pop_back();
        continue;
      }
      const auto& [v, mark] = downstream[u][next_edge.back()++];
      if (color[v] == kGray) {
        std::string cycle;
        auto from = std::find(path.begin(), path.end(), v);
        for (auto it = from; it != path.end(); ++it) cycle += dag_.tasks[*it].id + " -> ";
        cycle += dag_.tasks[v].id;
        error(mark, "dependency cycle: " + cycle + "; remove one of these dependencies");
      } else if (color[v] == kWhite) {
        color[v] = kGray;
        path.push_back(v);
        next_edge.push_back(0);
      }
    }
  }
}

void Loader::template_error(const TemplateUse& use, const std::string& message) {
  if (use.file.empty()) {
    error(use.mark, message + use.excerpt);
  } else {
    error_in(use.file, use.line, use.column, message + use.excerpt);
  }
}

void Loader::check_templates() {
  std::vector<std::string> ids;
  for (const Task& t : dag_.tasks) ids.push_back(t.id);
  std::map<int, std::set<std::string>> upstream_cache;
  auto upstream_of = [&](int task) -> const std::set<std::string>& {
    auto found = upstream_cache.find(task);
    if (found != upstream_cache.end()) return found->second;
    std::set<std::string>& out = upstream_cache[task];
    std::vector<int> stack = {task};
    std::vector<bool> seen(dag_.tasks.size(), false);
    while (!stack.empty()) {
      int t = stack.back();
      stack.pop_back();
      for (const auto& [dep, mark] : infos_[t].deps) {
        auto it = task_index_.find(dep);
        if (it == task_index_.end() || seen[it->second]) continue;
        seen[it->second] = true;
        out.insert(dep);
        stack.push_back(it->second);
      }
    }
    return out;
  };

  for (const TemplateUse& use : template_uses_) {
    const std::string& name = use.name;
    if (name.empty()) continue;
    std::vector<std::string> parts = split(name, '.');
    const std::string& root = parts[0];
    std::string where = use.label + ": ";
    if (contains(kPlainTemplateNames, root)) {
      if (parts.size() != 1) {
        template_error(use,
              where + "unknown template variable '" + name + "'; '" + root + "' has no fields");
      }
    } else if (root == "params") {
      if (parts.size() < 2) {
        template_error(use, where + "use {{ params.NAME }} to read one param");
      } else if (!dag_.params.contains(parts[1]) && !use.has_default) {
        std::vector<std::string> names;
        for (const auto& [key, value] : dag_.params.items()) names.push_back(key);
        template_error(use, where + "unknown param '" + parts[1] + "'" + did_you_mean(parts[1], names) +
                            "; declare it under params: (" + "or add | default('...'))");
      }
    } else if (root == "outputs") {
      auto up = task_index_.find(parts.size() > 1 ? parts[1] : std::string());
      const bool mapped_upstream = up != task_index_.end() && dag_.tasks[up->second].map;
      if (mapped_upstream && parts.size() >= 2 && use.task >= 0 &&
          upstream_of(use.task).count(parts[1])) {
        // A mapped task's outputs are a list, one object per instance in map order.
      } else if (parts.size() != 3) {
        template_error(use, where + "outputs are read as {{ outputs.TASK.KEY }}, got '" + name + "'");
      } else if (use.task < 0) {
        template_error(use, where + "outputs.* is only available in task values");
      } else if (task_index_.find(parts[1]) == task_index_.end()) {
        template_error(use, where + "outputs." + parts[1] + ": no task '" + parts[1] + "' in this DAG" +
                            did_you_mean(parts[1], ids));
      } else if (!upstream_of(use.task).count(parts[1])) {
        const std::string& me = dag_.tasks[use.task].id;
        template_error(use, where + "outputs." + parts[1] + ": task " + parts[1] +
                            " is not upstream of " + me + "; add it to depends_on of " + me);
      }
    } else if (root == "env") {
      if (parts.size() != 2) {
        template_error(use,
              where + "environment variables are read as {{ env.NAME }}, got '" + name + "'");
      }
    } else if (root == "conn") {
      if (parts.size() != 3 || !contains({"host", "port", "schema", "login"}, parts[2])) {
        template_error(use, where +
                            "connections are read as {{ conn.NAME.host }} (or .port, "
                            ".schema, .login), got '" +
                            name + "'");
      }
    } else if (root == "watermark") {
      const ExtractTask* extract =
          use.task < 0 ? nullptr : std::get_if<ExtractTask>(&dag_.tasks[use.task].spec);
      if (!extract || !extract->incremental) {
        error(use.mark, where +
                            "'watermark' is only available in extract tasks with "
                            "incremental: {column: ...}");
      } else if (parts.size() != 1) {
        error(use.mark, where + "'watermark' has no fields");
      } else if (!use.has_default) {
        error(use.mark, where +
                            "{{ watermark }} has no value before the first load: add a "
                            "default, e.g. {{ watermark | default('1970-01-01') }}");
      }
    } else if (root == "item" || root == "map_index") {
      if (use.task < 0 || !dag_.tasks[use.task].map) {
        template_error(use, where + "'" + root +
                            "' is only available in mapped tasks; add `map: {items: [...]}` "
                            "to this task");
      } else if (root == "map_index" && parts.size() != 1) {
        template_error(use, where + "'map_index' has no fields");
      }
    } else {
      template_error(use, where + "unknown template variable '" + name + "'" +
                          did_you_mean(root, kTemplateRoots) +
                          "; known: " + join(kPlainTemplateNames, ", ") +
                          ", params.NAME, outputs.TASK.KEY, env.NAME, conn.NAME.host");
    }
  }
}

}  // namespace loader

namespace {

using namespace loader;

/// The line and column of a top-level `dag:` key, for cross-file messages.
std::pair<int, int> dag_key_position(const std::string& content) {
  size_t pos = 0;
  int line = 1;
  while (pos < content.size()) {
    if (content.compare(pos, 4, "dag:") == 0) return {line, 1};
    size_t next = content.find('\n', pos);
    if (next == std::string::npos) break;
    pos = next + 1;
    ++line;
  }
  return {1, 1};  // a flow mapping, or an id from the file name
}

}  // namespace

LoadResult load_dag_text(const std::string& file, const std::string& text) {
  if (text.size() > kMaxDagFileBytes) {
    LoadResult result;
    result.errors.push_back(Diagnostic{file, 1, 0, too_large_message(text.size())});
    return result;
  }
  try {
    Loader loader(file, text);
    return loader.load();
  } catch (const std::exception& e) {
    // A bug here must cost one DAG, not the scheduler.
    LoadResult result;
    result.content = text;
    result.errors.push_back(
        Diagnostic{file, 1, 0, std::string("internal error while loading this DAG: ") + e.what()});
    return result;
  }
}

LoadResult load_dag_file(const std::string& file) {
  std::string text;
  std::string problem = read_dag_file(file, &text);
  if (!problem.empty()) {
    LoadResult result;
    result.errors.push_back(Diagnostic{file, 1, 0, problem});
    return result;
  }
  return load_dag_text(file, text);
}

std::string why_dag_file_is_skipped(const std::string& path) {
  // Paths are stored and shown as JSON, and Postgres takes only UTF-8 text.
  if (find_invalid_utf8(path) != std::string::npos) return "the name is not valid UTF-8";
  std::error_code ec;
  switch (fs::status(path, ec).type()) {
    case fs::file_type::regular: return "";
    case fs::file_type::not_found: return "a broken symlink, not a regular file";
    case fs::file_type::fifo: return "a FIFO, not a regular file";
    case fs::file_type::socket: return "a socket, not a regular file";
    case fs::file_type::character: return "a character device, not a regular file";
    case fs::file_type::block: return "a block device, not a regular file";
    default: return "not a regular file";
  }
}

std::vector<std::string> list_dag_files(const std::string& folder,
                                        std::vector<std::string>* skipped) {
  std::vector<std::string> files;
  std::error_code ec;
  fs::recursive_directory_iterator it(folder, fs::directory_options::skip_permission_denied, ec);
  if (ec) return files;
  for (auto end = fs::recursive_directory_iterator(); it != end; it.increment(ec)) {
    if (ec) break;
    const fs::path& path = it->path();
    std::string name = path.filename().string();
    // Hidden files and folders are editor and VCS droppings, not DAGs.
    if (!name.empty() && name[0] == '.') {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    std::string ext = path.extension().string();
    if (ext != ".yaml" && ext != ".yml") continue;
    // Follows symlinks: one to a regular file is a DAG file; one to /dev/zero
    // or a FIFO would stall whoever reads it.
    if (it->is_directory(ec)) continue;
    if (it->is_regular_file(ec) && find_invalid_utf8(path.string()) == std::string::npos) {
      files.push_back(path.string());
    } else if (skipped) {
      skipped->push_back(path.string());
    }
  }
  std::sort(files.begin(), files.end());
  if (skipped) std::sort(skipped->begin(), skipped->end());
  return files;
}

FolderLoadResult load_dag_folder(const std::string& folder) {
  FolderLoadResult out;
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) {
    out.errors.push_back(Diagnostic{folder, 0, 0,
                                    "the DAG folder does not exist or is not a folder; "
                                    "create it or pass --dags DIR"});
    return out;
  }
  std::vector<std::string> skipped;
  std::vector<std::string> paths = list_dag_files(folder, &skipped);
  for (const std::string& path : skipped) {
    out.warnings.push_back(
        Diagnostic{path, 0, 0, why_dag_file_is_skipped(path) + "; skipped"});
  }
  std::vector<LoadResult> results(paths.size());
  // Files are independent, so a big folder is read on every core; the merge
  // below stays in path order.
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < paths.size(); i = next++) results[i] = load_dag_file(paths[i]);
  };
  size_t workers = std::min<size_t>(
      {std::max(1u, std::thread::hardware_concurrency()), 8, paths.size() / 16 + 1});
  std::vector<std::thread> threads;
  for (size_t i = 1; i < workers; ++i) threads.emplace_back(work);
  work();
  for (std::thread& t : threads) t.join();

  std::unordered_map<std::string, std::string> owner;  // DAG id -> file
  for (size_t i = 0; i < paths.size(); ++i) {
    LoadResult& result = results[i];
    const std::string& file = paths[i];
    if (result.dag) {
      auto [it, inserted] = owner.emplace(result.dag->id, file);
      if (inserted) {
        out.dags.push_back(*result.dag);
      } else {
        auto [line, column] = dag_key_position(result.content);
        result.errors.push_back(Diagnostic{file, line, column,
                                           "DAG id '" + result.dag->id +
                                               "' is already defined in " + it->second +
                                               "; rename one"});
        result.dag.reset();
      }
    }
    out.errors.insert(out.errors.end(), result.errors.begin(), result.errors.end());
    out.warnings.insert(out.warnings.end(), result.warnings.begin(), result.warnings.end());
    out.files.push_back(std::move(result));
  }
  return out;
}

}  // namespace sluice
