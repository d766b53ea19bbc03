// Reading a DAG file's values: the keys each level accepts, typed readers
// that report what is wrong where, and small helpers.
#include "core/dag_loader_impl.h"

namespace sluice::loader {

// ---------------------------------------------------------------------------
// The keys each level of a DAG file accepts.

// clang-format off
const std::vector<std::string> kDagKeys = {
    "dag", "description", "schedule", "timezone", "start_date", "end_date", "catchup",
    "max_active_runs", "max_active_tasks", "paused", "tags", "params", "defaults", "sla",
    "alerts", "tasks"};

const std::vector<std::string> kCommonTaskKeys = {
    "id", "type", "depends_on", "trigger_rule", "depends_on_past", "retries", "retry_delay",
    "retry_backoff", "max_retry_delay", "timeout", "pool", "priority", "queue", "sla", "cwd",
    "map", "max_map_concurrency"};

const std::vector<std::string> kSensorKeys = {"poke_interval", "mode", "soft_fail"};

// Template names that stand alone, and the roots that take a dotted path.
const std::vector<std::string> kPlainTemplateNames = {
    "ds", "ds_nodash", "ts", "data_interval_start", "data_interval_end", "logical_date",
    "run_id", "run_type", "dag_id", "task_id", "try_number"};
const std::vector<std::string> kTemplateRoots = {
    "ds", "ds_nodash", "ts", "data_interval_start", "data_interval_end", "logical_date",
    "run_id", "run_type", "dag_id", "task_id", "try_number", "params", "outputs", "env", "conn",
    "watermark"};

// clang-format on

bool contains(const std::vector<std::string>& list, std::string_view item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

/// Every task type's name, in the registry's order (for messages).
const std::vector<std::string>& task_type_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const TaskType& type : task_types()) out.emplace_back(type.name);
    return out;
  }();
  return names;
}

/// Every key a task of `type` accepts, built once per type.
const std::vector<std::string>* allowed_task_keys(std::string_view type) {
  static const std::map<std::string, std::vector<std::string>, std::less<>> all = [] {
    std::map<std::string, std::vector<std::string>, std::less<>> out;
    for (const TaskType& type : task_types()) {
      std::vector<std::string> list = kCommonTaskKeys;
      if (type.is_sensor) list.insert(list.end(), kSensorKeys.begin(), kSensorKeys.end());
      list.insert(list.end(), type.keys.begin(), type.keys.end());
      out[std::string(type.name)] = std::move(list);
    }
    return out;
  }();
  auto it = all.find(type);
  return it == all.end() ? nullptr : &it->second;
}

/// Every type's own keys, the types ordered by name (for messages), repeats kept.
std::vector<std::string> every_type_key() {
  std::vector<const TaskType*> types;
  for (const TaskType& type : task_types()) types.push_back(&type);
  std::sort(types.begin(), types.end(),
            [](const TaskType* a, const TaskType* b) { return a->name < b->name; });
  std::vector<std::string> out;
  for (const TaskType* type : types) out.insert(out.end(), type->keys.begin(), type->keys.end());
  return out;
}

/// Keys `defaults:` accepts: any task key except the ones that name a task.
const std::vector<std::string>& default_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> out;
    auto add = [&out](const std::vector<std::string>& list) {
      for (const auto& key : list) {
        if (key != "id" && key != "depends_on" && !contains(out, key)) out.push_back(key);
      }
    };
    add(kCommonTaskKeys);
    add(kSensorKeys);
    add(every_type_key());
    return out;
  }();
  return keys;
}

// Ids name folders and files (logs) and appear in URLs: "..", "." and "-"
// must not be ids.

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdLength || id[0] == '.' || id[0] == '-') return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}



bool looks_like_sql_path(std::string_view text) {
  if (text.size() < 5) return false;
  std::string_view ext = text.substr(text.size() - 4);
  if (ext != ".sql" && ext != ".SQL") return false;
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') return false;
  }
  return true;
}


/// Accepts "> 0", ">= 1.5", "= 3", "!= 0", "between 1 and 5".
bool valid_expect(std::string_view text) {
  text = trim(text);
  for (std::string_view op : {">=", "<=", "!=", "==", ">", "<", "="}) {
    if (starts_with(text, op)) return parse_number(text.substr(op.size()), nullptr);
  }
  std::string lowered = to_lower(text);
  if (!starts_with(lowered, "between ")) return false;
  size_t and_pos = lowered.find(" and ");
  if (and_pos == std::string::npos) return false;
  double low = 0, high = 0;
  return parse_number(std::string_view(lowered).substr(8, and_pos - 8), &low) &&
         parse_number(std::string_view(lowered).substr(and_pos + 5), &high) && low <= high;
}

std::string hex_sha256(const std::string& content, const std::vector<std::string>& extra) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  EVP_DigestUpdate(ctx, content.data(), content.size());
  for (const std::string& part : extra) EVP_DigestUpdate(ctx, part.data(), part.size());
  EVP_DigestFinal_ex(ctx, digest, &length);
  EVP_MD_CTX_free(ctx);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}


std::string too_large_message(uint64_t size) {
  return "the file has " + std::to_string(size) + " bytes; DAG and SQL files are limited to " +
         std::to_string(kMaxDagFileBytes) + " bytes, so split it";
}

/// Reads a DAG or SQL file into `out`; returns "" or what went wrong. The file is
/// opened without blocking and checked once open, so a FIFO or a device (even
/// one swapped in after the folder was listed) is refused instead of blocking
/// or streaming forever, and at most kMaxDagFileBytes are read.
std::string read_dag_file(const std::string& path, std::string* out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return std::string("cannot read the file: ") + std::strerror(errno);
  std::string problem;
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    problem = std::string("cannot read the file: ") + std::strerror(errno);
  } else if (!S_ISREG(st.st_mode)) {
    problem = "not a regular file; a DAG file must be one";
  } else if (static_cast<uint64_t>(st.st_size) > kMaxDagFileBytes) {
    problem = too_large_message(static_cast<uint64_t>(st.st_size));
  } else {
    std::string text(static_cast<size_t>(st.st_size), '\0');
    size_t used = 0;
    while (problem.empty()) {
      // One byte past the limit tells a file that grew since fstat.
      if (used == text.size()) text.resize(std::min(text.size() * 2 + 4096, kMaxDagFileBytes + 1));
      ssize_t n = ::read(fd, text.data() + used, text.size() - used);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        problem = std::string("cannot read the file: ") + std::strerror(errno);
      } else if (n == 0) {
        break;
      } else if ((used += static_cast<size_t>(n)) > kMaxDagFileBytes) {
        problem = too_large_message(used);
      }
    }
    text.resize(used);
    *out = std::move(text);
  }
  ::close(fd);
  return problem;
}












std::optional<std::string> Loader::as_template(const Entry& e, int task) {
  auto text = as_string(e);
  if (text) check_template(e.value, *text, task, e.label);
  return text;
}





std::optional<std::vector<std::string>> Loader::as_string_list(const Entry& e, int task,
                                                               bool templated) {
  if (!templated) return Reader::as_string_list(e);
  return Reader::as_string_list(e, [&](const Entry& item) { return as_template(item, task); });
}

std::optional<std::vector<std::pair<std::string, std::string>>> Loader::as_string_pairs(
    const Entry& e, int task, bool templated) {
  if (!e.value.IsMap() || from_unquoted_template(e.value)) {
    error(e.value.IsNull() ? e.key_node : e.value, type_problem(e, "a mapping of NAME: value"));
    return std::nullopt;
  }
  Fields fields = fields_of(e.value, e.label);
  std::vector<std::pair<std::string, std::string>> out;
  bool ok = true;
  for (const Entry& item : fields.entries) {
    auto text = templated ? as_template(item, task) : as_string(item);
    if (text) {
      out.emplace_back(item.key, *text);
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return out;
}


// `sql:` holds either SQL or the path of a .sql file next to the DAG file.
std::optional<std::string> Loader::as_sql(const Entry& e, int task, std::string* file_out) {
  auto text = as_string(e);
  if (!text) return std::nullopt;
  if (!looks_like_sql_path(*text)) {
    check_template(e.value, *text, task, e.label);
    return text;
  }
  fs::path path(*text);
  std::string resolved =
      path.is_absolute() || dir_.empty() ? *text : (fs::path(dir_) / path).string();
  std::string content;
  if (std::string problem = read_dag_file(resolved, &content); !problem.empty()) {
    std::error_code ec;
    if (fs::exists(resolved, ec)) {
      error(e.value, "SQL file '" + *text + "': " + problem);
    } else {
      error(e.value, "SQL file '" + *text + "' not found (looked for " + resolved +
                         "); create it, fix the path (relative to the DAG file), or write the "
                         "SQL inline");
    }
    return std::nullopt;
  }
  if (size_t bad = find_invalid_utf8(content); bad != std::string::npos) {
    error(e.value, "SQL file '" + *text + "' is not valid UTF-8 (byte " + hex_byte(content[bad]) +
                       " at offset " + std::to_string(bad) + ")");
    return std::nullopt;
  }
  sql_contents_.push_back(content);
  if (file_out) *file_out = *text;
  check_template(e.value, content, task, e.label + " (" + *text + ")", resolved);
  return content;
}

void Loader::check_template(const YAML::Node& node, std::string_view text, int task,
                            const std::string& label, const std::string& file) {
  if (!Template::has_expressions(text)) return;
  bool multi_line = text.find('\n') != std::string_view::npos;
  // The text's lines, found once: a value or SQL file may hold many names.
  std::vector<std::string_view> lines;
  auto line_of = [&](int line) -> std::string_view {
    if (lines.empty()) {
      for (size_t start = 0;;) {
        size_t nl = text.find('\n', start);
        lines.push_back(text.substr(start, nl == std::string_view::npos ? nl : nl - start));
        if (nl == std::string_view::npos) break;
        start = nl + 1;
      }
    }
    return line >= 1 && static_cast<size_t>(line) <= lines.size() ? lines[line - 1]
                                                                   : std::string_view();
  };
  // Where a line and column of the text are, and the line's text when the
  // value has several lines (a one-line value is in view at its position).
  auto locate = [&](int line, int column, YAML::Mark* mark, std::string* excerpt) {
    std::optional<YAML::Mark> found;
    if (file.empty()) found = mark_in_value(node, line_of(line), line, column);
    *mark = found ? *found : node.Mark();
    if (!multi_line) return;
    *excerpt = file.empty() && !found ? "; line " + std::to_string(line) + " of the value reads: "
                                      : "; the line reads: ";
    *excerpt += line_excerpt(line_of(line), 1, column);
  };
  try {
    Template parsed = Template::parse(text);
    for (const TemplateReference& ref : parsed.references()) {
      TemplateUse use;
      use.task = task;
      use.name = ref.name;
      use.has_default = ref.has_default;
      use.label = label;
      use.file = file;
      use.line = ref.line;
      use.column = ref.column;
      locate(ref.line, ref.column, &use.mark, &use.excerpt);
      template_uses_.push_back(std::move(use));
    }
  } catch (const TemplateError& e) {
    if (e.line() == 0) {
      error(node, label + ": bad template: " + e.what());
      return;
    }
    YAML::Mark mark;
    std::string excerpt;
    locate(e.line(), e.column(), &mark, &excerpt);
    std::string message = label + ": bad template: " + e.problem() + excerpt;
    if (file.empty()) {
      error(mark, message);
    } else {
      error_in(file, e.line(), e.column(), message);
    }
  }
}

std::optional<YAML::Mark> Loader::mark_in_value(const YAML::Node& node,
                                                std::string_view value_line, int line,
                                                int column) const {
  const YAML::Mark start = node.Mark();
  if (start.line < 0 || line < 1) return std::nullopt;
  std::string_view wanted = value_line;
  if (!wanted.empty() && wanted.back() == '\r') wanted.remove_suffix(1);
  if (wanted.empty()) return std::nullopt;
  if (file_line_starts_.empty()) {
    file_line_starts_.push_back(0);
    for (size_t nl = text_.find('\n'); nl != std::string::npos; nl = text_.find('\n', nl + 1)) {
      file_line_starts_.push_back(nl + 1);
    }
  }
  // The DAG file's lines where the value's line may be: the value's own line
  // (a one-line value) or, in a `|` block, the lines under it.
  for (int candidate : {start.line + line - 1, start.line + line}) {
    if (candidate < 0 || static_cast<size_t>(candidate) >= file_line_starts_.size()) continue;
    size_t begin = file_line_starts_[candidate];
    size_t end = text_.find('\n', begin);
    std::string_view yaml_line = std::string_view(text_).substr(
        begin, end == std::string::npos ? std::string::npos : end - begin);
    if (!yaml_line.empty() && yaml_line.back() == '\r') yaml_line.remove_suffix(1);
    size_t at = std::string_view::npos;
    if (candidate == start.line && line == 1) {
      at = yaml_line.find(wanted, static_cast<size_t>(std::max(start.column, 0)));
    } else if (yaml_line.size() >= wanted.size() &&
               yaml_line.substr(yaml_line.size() - wanted.size()) == wanted &&
               yaml_line.find_first_not_of(' ') >= yaml_line.size() - wanted.size()) {
      at = yaml_line.size() - wanted.size();
    }
    if (at == std::string_view::npos) continue;
    YAML::Mark mark;
    mark.line = candidate;
    mark.column = position_in(yaml_line, at).column - 1 + column - 1;
    mark.pos = static_cast<int>(begin + at);
    return mark;
  }
  return std::nullopt;
}

json Loader::to_json(const YAML::Node& node) {
  if (node.IsMap()) {
    json out = json::object();
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!it->first.IsScalar()) continue;
      const std::string key = it->first.Scalar();
      if (!out.contains(key)) out[key] = to_json(it->second);
    }
    return out;
  }
  if (node.IsSequence()) {
    json out = json::array();
    for (auto it = node.begin(); it != node.end(); ++it) out.push_back(to_json(*it));
    return out;
  }
  if (!node.IsScalar()) return nullptr;
  const std::string& s = node.Scalar();
  // Quoted scalars carry the "!" tag: they stay strings even when they look like numbers.
  if (node.Tag() == "!") return s;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  int64_t integer = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), integer);
  if (ec == std::errc() && ptr == s.data() + s.size() && !s.empty()) return integer;
  double number = 0;
  if (!s.empty() &&
      (std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-' || s[0] == '.') &&
      parse_number(s, &number)) {
    return number;
  }
  return s;
}

}  // namespace sluice::loader
