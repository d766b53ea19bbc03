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
    "run_id", "run_type", "dag_id", "task_id", "try_number", "params", "outputs", "env", "conn"};

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

/// `text` in single quotes for a message, cut after 60 bytes (on a character
/// boundary), so that a huge value does not make a huge message.
std::string quote_value(std::string_view text) {
  constexpr size_t kMaxShown = 60;
  if (text.size() <= kMaxShown) return "'" + std::string(text) + "'";
  size_t cut = kMaxShown;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return "'" + std::string(text.substr(0, cut)) + "...' (" + std::to_string(text.size()) +
         " bytes)";
}

/// `message` on one line: control characters written as escapes, so that a
/// value quoted in it cannot break the FILE:LINE: message format.
std::string one_line(std::string message) {
  if (std::none_of(message.begin(), message.end(),
                   [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    return message;
  }
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (char c : message) {
    unsigned char b = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (b < 0x20 || b == 0x7f) {
      out += std::string("\\x") + kHex[b >> 4] + kHex[b & 15];
    } else {
      out += c;
    }
  }
  return out;
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

bool parse_number(std::string_view text, double* out) {
  text = trim(text);
  if (text.empty()) return false;
  std::string copy(text);
  char* end = nullptr;
  errno = 0;
  double value = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size() || errno != 0) return false;
  if (out) *out = value;
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

/// "0xC3" for a byte.
std::string hex_byte(char c) {
  static const char* kHex = "0123456789ABCDEF";
  unsigned char b = static_cast<unsigned char>(c);
  return std::string("0x") + kHex[b >> 4] + kHex[b & 15];
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

void Loader::error(const YAML::Mark& mark, std::string message) {
  int line = mark.line >= 0 ? mark.line + 1 : 0;
  int column = mark.column >= 0 ? mark.column + 1 : 0;
  // Defaults are checked once per task that uses them; say each problem once.
  message = one_line(std::move(message));
  if (!seen_errors_.emplace(line, column, message).second) return;
  errors_.push_back(Diagnostic{file_, line, column, std::move(message)});
}

Fields Loader::fields_of(const YAML::Node& map, const std::string& prefix) {
  Fields fields;
  fields.node = map;
  fields.entries.reserve(map.size());
  std::unordered_set<std::string_view> names;  // views of the document's text
  for (auto it = map.begin(); it != map.end(); ++it) {
    const YAML::Node key = it->first;  // a copy: `it->` points into a temporary
    if (!key.IsScalar()) {
      error(key, "keys must be plain names, not " + describe(key));
      continue;
    }
    const std::string& name = key.Scalar();
    if (!names.insert(name).second) continue;
    fields.entries.push_back(
        Entry{name, prefix.empty() ? name : prefix + "." + name, key, it->second});
  }
  return fields;
}

void Loader::check_unknown_keys(const Fields& fields, const std::vector<std::string>& allowed,
                                const std::string& where) {
  for (const Entry& e : fields.entries) {
    if (contains(allowed, e.key)) continue;
    std::string hint = did_you_mean(e.key, allowed);
    if (hint.empty()) hint = "; allowed keys: " + join(allowed, ", ");
    error(e.key_node, "unknown key " + quote_value(e.key) + " " + where + hint);
  }
}

// yaml-cpp passes any bytes through; stored and shown as JSON, invalid UTF-8
// would fail every later step that touches this DAG.
bool Loader::check_encoding() {
  if (find_invalid_utf8(file_) != std::string::npos) {
    error(YAML::Mark::null_mark(), "the file's name is not valid UTF-8; rename it");
    return false;
  }
  size_t bad = find_invalid_utf8(text_);
  if (bad == std::string::npos) return true;
  error(mark_at(bad), "invalid UTF-8 (byte " + hex_byte(text_[bad]) +
                          "); a DAG file must be UTF-8 text");
  return false;
}

YAML::Mark Loader::mark_at(size_t pos) const {
  YAML::Mark mark;
  mark.pos = static_cast<int>(pos);
  size_t newline = pos == 0 ? std::string::npos : text_.rfind('\n', pos - 1);
  size_t line_start = newline == std::string::npos ? 0 : newline + 1;
  mark.line = static_cast<int>(std::count(text_.begin(), text_.begin() + line_start, '\n'));
  mark.column = static_cast<int>(pos - line_start);
  return mark;
}

// yaml-cpp shares an anchored node with every alias of it, so the document
// is a graph: an alias inside its own anchor makes a cycle, and a few lines of
// aliases of aliases stand for billions of nodes. Every later pass walks the
// document as a tree, so this one walks it first, with every alias followed,
// and stops at the first bound crossed.
bool Loader::check_shape(const YAML::Node& node, std::vector<YAML::Node>& path, size_t& nodes) {
  if (++nodes > kMaxYamlNodes) {
    error(node, "the file holds more than " + std::to_string(kMaxYamlNodes) +
                    " YAML nodes (an alias counts all the nodes it stands for, each time it "
                    "is used); use fewer aliases or split the DAG");
    return false;
  }
  if (!node.IsMap() && !node.IsSequence()) {
    // The file is UTF-8 (check_encoding), but yaml-cpp reads the escapes \N
    // and \_ of a double-quoted string as the single bytes 0x85 and 0xA0.
    if (node.IsScalar()) {
      const std::string& text = node.Scalar();
      if (size_t bad = find_invalid_utf8(text); bad != std::string::npos) {
        error(node, "this value is not UTF-8 once its escapes are read (byte " +
                        hex_byte(text[bad]) +
                        "): \\N and \\_ come out as single bytes; write the character itself");
      }
    }
    return true;
  }
  for (const YAML::Node& outer : path) {
    if (outer.is(node)) {
      error(node, "recursive alias: this anchored node contains an alias of itself");
      return false;
    }
  }
  if (path.size() >= static_cast<size_t>(kMaxYamlDepth)) {
    error(node, "mappings and lists nested more than " + std::to_string(kMaxYamlDepth) +
                    " levels deep");
    return false;
  }
  path.push_back(node);
  bool ok = true;
  for (auto it = node.begin(); ok && it != node.end(); ++it) {
    if (node.IsMap()) {
      const YAML::Node key = it->first;  // copies: `it->` points into a temporary
      const YAML::Node value = it->second;
      ok = check_shape(key, path, nodes) && check_shape(value, path, nodes);
    } else {
      ok = check_shape(*it, path, nodes);
    }
  }
  path.pop_back();
  return ok;
}

void Loader::find_duplicate_keys(const YAML::Node& node) {
  if (node.IsMap()) {
    std::unordered_map<std::string_view, int> seen;  // key -> line
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node key = it->first;  // a copy: `it->` points into a temporary
      if (key.IsScalar()) {
        // The node's text lives as long as the document.
        const std::string& name = key.Scalar();
        auto [found, inserted] = seen.emplace(name, key.Mark().line + 1);
        if (!inserted) {
          error(key, "duplicate key " + quote_value(name) + " (first at line " +
                         std::to_string(found->second) + "); remove one of them");
        }
      } else {
        find_duplicate_keys(key);
      }
      find_duplicate_keys(it->second);
    }
  } else if (node.IsSequence()) {
    for (auto it = node.begin(); it != node.end(); ++it) find_duplicate_keys(*it);
  }
}

std::string Loader::describe(const YAML::Node& node) const {
  if (node.IsMap()) return "a mapping";
  if (node.IsSequence()) return "a list";
  if (node.IsScalar()) return quote_value(node.Scalar());
  return "nothing";
}

// YAML reads an unquoted `{{ ds }}` as a mapping inside a mapping; the source
// text at the node tells that apart from a mapping written on purpose.
bool Loader::from_unquoted_template(const YAML::Node& node) const {
  if (!node.IsMap() && !node.IsSequence()) return false;
  int pos = node.Mark().pos;
  if (pos < 0 || static_cast<size_t>(pos) + 1 >= text_.size()) return false;
  return text_[pos] == '{' && text_[pos + 1] == '{';
}

std::string Loader::type_problem(const Entry& e, const std::string& expected) const {
  if (from_unquoted_template(e.value)) {
    return e.label +
           " holds {{ }} without quotes, which YAML reads as a mapping; quote values that "
           "contain {{ }}, e.g. " +
           e.key + ": \"{{ ds }}\"";
  }
  return e.label + " must be " + expected + ", got " + describe(e.value);
}

std::optional<std::string> Loader::as_string(const Entry& e) {
  if (!e.value.IsScalar()) {
    error(e.value.IsNull() ? e.key_node : e.value, type_problem(e, "a string"));
    return std::nullopt;
  }
  return e.value.Scalar();
}

std::optional<std::string> Loader::as_template(const Entry& e, int task) {
  auto text = as_string(e);
  if (text) check_template(e.value, *text, task, e.label);
  return text;
}

std::optional<int64_t> Loader::as_int(const Entry& e, int64_t min, int64_t max) {
  int64_t value = 0;
  bool ok = false;
  if (e.value.IsScalar()) {
    const std::string& s = e.value.Scalar();
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    ok = ec == std::errc() && ptr == s.data() + s.size() && !s.empty();
  }
  if (!ok) {
    error(e.value.IsNull() ? e.key_node : e.value, type_problem(e, "a whole number"));
    return std::nullopt;
  }
  if (value < min || value > max) {
    std::string range = max == std::numeric_limits<int64_t>::max()
                            ? "at least " + std::to_string(min)
                            : "between " + std::to_string(min) + " and " + std::to_string(max);
    error(e.value, e.label + " must be " + range + ", got " + std::to_string(value));
    return std::nullopt;
  }
  return value;
}

std::optional<bool> Loader::as_bool(const Entry& e) {
  if (e.value.IsScalar()) {
    std::string s = to_lower(e.value.Scalar());
    if (s == "true" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "no" || s == "off") return false;
  }
  error(e.value.IsNull() ? e.key_node : e.value, type_problem(e, "true or false"));
  return std::nullopt;
}

std::optional<Millis> Loader::as_duration(const Entry& e, bool allow_negative) {
  if (!e.value.IsScalar()) {
    error(e.value.IsNull() ? e.key_node : e.value,
          type_problem(e, "a duration such as 30s, 5m, 2h or 1d"));
    return std::nullopt;
  }
  std::string_view text = trim(e.value.Scalar());
  bool negative = false;
  if (allow_negative && !text.empty() && text[0] == '-') {
    negative = true;
    text.remove_prefix(1);
  }
  auto parsed = parse_duration(text);
  if (!parsed) {
    std::string hint = "use a number with a unit: 500ms, 30s, 5m, 2h, 1d (or combined: 1h30m)";
    double number = 0;
    if (parse_number(text, &number)) hint = "add a unit, e.g. " + std::string(text) + "s";
    error(e.value, "bad duration '" + e.value.Scalar() + "' for " + e.label + "; " + hint);
    return std::nullopt;
  }
  return negative ? -*parsed : *parsed;
}

std::optional<std::string> Loader::as_choice(const Entry& e,
                                             const std::vector<std::string>& choices) {
  auto text = as_string(e);
  if (!text) return std::nullopt;
  if (contains(choices, *text)) return text;
  error(e.value, "unknown " + e.label + " '" + *text + "'" + did_you_mean(*text, choices) +
                     "; use one of: " + join(choices, ", "));
  return std::nullopt;
}

std::optional<std::vector<std::string>> Loader::as_string_list(const Entry& e, int task,
                                                               bool templated) {
  if (!e.value.IsSequence() || from_unquoted_template(e.value)) {
    error(e.value.IsNull() ? e.key_node : e.value, type_problem(e, "a list of strings"));
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  size_t i = 0;
  for (auto it = e.value.begin(); it != e.value.end(); ++it, ++i) {
    Entry item{e.key, e.label + "[" + std::to_string(i) + "]", e.key_node, *it};
    auto text = templated ? as_template(item, task) : as_string(item);
    if (text) {
      out.push_back(*text);
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return out;
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

std::optional<Fields> Loader::as_mapping(const Entry& e, const std::vector<std::string>& allowed,
                                         const std::string& where) {
  if (!e.value.IsMap() || from_unquoted_template(e.value)) {
    error(e.value.IsNull() ? e.key_node : e.value, type_problem(e, "a mapping"));
    return std::nullopt;
  }
  Fields fields = fields_of(e.value, e.label);
  check_unknown_keys(fields, allowed, where);
  return fields;
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
  check_template(e.value, content, task, e.label + " (" + *text + ")");
  return content;
}

void Loader::check_template(const YAML::Node& node, std::string_view text, int task,
                            const std::string& label) {
  if (text.find("{{") == std::string_view::npos) return;
  try {
    Template parsed = Template::parse(text);
    for (const TemplateReference& ref : parsed.references()) {
      template_uses_.push_back(TemplateUse{node.Mark(), task, ref.name, ref.has_default, label});
    }
  } catch (const TemplateError& e) {
    error(node, label + ": bad template: " + e.what());
  }
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
