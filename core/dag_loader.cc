#include "core/dag_loader.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "core/template.h"
#include "core/text.h"

namespace sluice {

std::string Diagnostic::to_string() const {
  std::string out = file;
  if (line > 0) {
    out += ":" + std::to_string(line);
    if (column > 0) out += ":" + std::to_string(column);
  }
  out += ": ";
  out += message;
  return out;
}

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// ---------------------------------------------------------------------------
// The keys each level of a DAG file accepts.

// clang-format off
const std::vector<std::string> kDagKeys = {
    "dag", "description", "schedule", "timezone", "start_date", "end_date", "catchup",
    "max_active_runs", "max_active_tasks", "paused", "tags", "params", "defaults", "sla",
    "alerts", "tasks"};

const std::vector<std::string> kTaskTypes = {
    "shell", "extract", "sql", "check", "spark_submit", "file_sensor", "sql_sensor",
    "http_sensor", "external_task_sensor", "time_sensor"};

const std::vector<std::string> kCommonTaskKeys = {
    "id", "type", "depends_on", "trigger_rule", "depends_on_past", "retries", "retry_delay",
    "retry_backoff", "max_retry_delay", "timeout", "pool", "priority", "queue", "sla", "cwd",
    "map", "max_map_concurrency"};

const std::vector<std::string> kSensorKeys = {"poke_interval", "mode", "soft_fail"};

const std::map<std::string, std::vector<std::string>, std::less<>> kTypeKeys = {
    {"shell", {"command", "env"}},
    {"extract", {"source", "target", "on_bad_row"}},
    {"sql", {"conn", "sql", "transaction"}},
    {"check", {"conn", "checks"}},
    {"spark_submit", {"application", "master", "deploy_mode", "name", "class", "conf", "jars",
                      "py_files", "files", "packages", "args", "env", "spark_submit"}},
    {"file_sensor", {"path", "min_size"}},
    {"sql_sensor", {"conn", "sql"}},
    {"http_sensor", {"url", "status", "contains"}},
    {"external_task_sensor", {"dag", "task", "offset", "fail_on_failed"}},
    {"time_sensor", {"after"}},
};

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

bool is_sensor_type(std::string_view type) { return ends_with(type, "_sensor"); }

/// Every key a task of `type` accepts, built once per type.
const std::vector<std::string>* allowed_task_keys(std::string_view type) {
  static const std::map<std::string, std::vector<std::string>, std::less<>> all = [] {
    std::map<std::string, std::vector<std::string>, std::less<>> out;
    for (const auto& [type_name, keys] : kTypeKeys) {
      std::vector<std::string> list = kCommonTaskKeys;
      if (is_sensor_type(type_name))
        list.insert(list.end(), kSensorKeys.begin(), kSensorKeys.end());
      list.insert(list.end(), keys.begin(), keys.end());
      out[type_name] = std::move(list);
    }
    return out;
  }();
  auto it = all.find(type);
  return it == all.end() ? nullptr : &it->second;
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
    for (const auto& [type_name, keys] : kTypeKeys) add(keys);
    return out;
  }();
  return keys;
}

// Ids name folders and files (logs) and appear in URLs: "..", "." and "-"
// must not be ids.
constexpr size_t kMaxIdLength = 100;
constexpr const char* kIdRule =
    "may only contain letters, digits, '_', '.' and '-', must start with a letter, digit or '_', "
    "and may have at most 100 characters";

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

/// One key of a mapping with its value; `label` is the dotted path used in messages.
struct Entry {
  std::string key;
  std::string label;
  YAML::Node key_node;
  YAML::Node value;
};

/// The entries of one mapping, in file order. Duplicate keys keep the first
/// (as yaml-cpp does); they are reported separately.
struct Fields {
  std::vector<Entry> entries;
  YAML::Node node;

  const Entry* find(std::string_view key) const {
    for (const Entry& e : entries) {
      if (e.key == key) return &e;
    }
    return nullptr;
  }
};

/// A `{{ name }}` found in a value, checked once every task is known.
struct TemplateUse {
  YAML::Mark mark;
  int task = -1;  // index into the task list; -1 for DAG-level values
  std::string name;
  bool has_default = false;
  std::string label;  // what held the template, for the message
};

/// What the graph checks need to know about a task besides the model.
struct TaskInfo {
  YAML::Node node;
  YAML::Mark id_mark;
  bool has_id = false;
  std::vector<std::pair<std::string, YAML::Mark>> deps;
};

/// Finds a task key's entry (own value or default); `require` also reports its absence.
using KeyLookup = std::function<const Entry*(std::string_view)>;

/// Turns one DAG file's text into a Dag, collecting every problem on the way.
class Loader {
 public:
  Loader(const std::string& file, const std::string& text) : file_(file), text_(text) {}

  LoadResult load();

 private:
  void error(const YAML::Mark& mark, std::string message);
  void error(const YAML::Node& node, std::string message) {
    error(node.Mark(), std::move(message));
  }

  Fields fields_of(const YAML::Node& map, const std::string& prefix);
  void check_unknown_keys(const Fields& fields, const std::vector<std::string>& allowed,
                          const std::string& where);
  bool check_encoding();
  YAML::Mark mark_at(size_t pos) const;
  bool check_shape(const YAML::Node& node, std::vector<YAML::Node>& path, size_t& nodes);
  void find_duplicate_keys(const YAML::Node& node);

  std::string describe(const YAML::Node& node) const;
  bool from_unquoted_template(const YAML::Node& node) const;
  std::string type_problem(const Entry& e, const std::string& expected) const;

  std::optional<std::string> as_string(const Entry& e);
  std::optional<std::string> as_template(const Entry& e, int task);
  std::optional<int64_t> as_int(const Entry& e, int64_t min, int64_t max);
  std::optional<bool> as_bool(const Entry& e);
  std::optional<Millis> as_duration(const Entry& e, bool allow_negative = false);
  std::optional<std::string> as_choice(const Entry& e, const std::vector<std::string>& choices);
  std::optional<std::vector<std::string>> as_string_list(const Entry& e, int task, bool templated);
  std::optional<std::vector<std::pair<std::string, std::string>>> as_string_pairs(const Entry& e,
                                                                                  int task,
                                                                                  bool templated);
  std::optional<Fields> as_mapping(const Entry& e, const std::vector<std::string>& allowed,
                                   const std::string& where);
  std::optional<std::string> as_sql(const Entry& e, int task, std::string* file_out);
  void check_template(const YAML::Node& node, std::string_view text, int task,
                      const std::string& label);
  json to_json(const YAML::Node& node);

  void parse_dag_settings(const Fields& root);
  void parse_tasks(const Fields& root);
  void parse_task(const YAML::Node& node, size_t position, const Fields* defaults);
  void parse_spec(Task& task, int index, const KeyLookup& get, const KeyLookup& require);
  ExtractTask parse_extract(int index, const KeyLookup& get, const KeyLookup& require);
  CheckTask parse_check(int index, const KeyLookup& require);
  void check_graph();
  void check_templates();

  std::string file_;
  const std::string& text_;
  std::string dir_;      // the DAG file's folder as given ("" for the current one)
  std::string abs_dir_;  // the same, absolute
  std::vector<Diagnostic> errors_;
  std::vector<Diagnostic> warnings_;
  std::set<std::tuple<int, int, std::string>> seen_errors_;
  std::vector<std::string> sql_contents_;
  std::vector<TemplateUse> template_uses_;
  std::vector<TaskInfo> infos_;
  std::unordered_map<std::string, int> task_index_;
  Dag dag_;
};

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

// ---------------------------------------------------------------------------

LoadResult Loader::load() {
  LoadResult result;
  result.content = text_;
  dir_ = fs::path(file_).parent_path().string();
  std::error_code ec;
  fs::path abs = fs::absolute(dir_.empty() ? fs::path(".") : fs::path(dir_), ec);
  abs_dir_ = (ec ? fs::path(dir_) : abs).lexically_normal().string();
  if (abs_dir_.size() > 1 && abs_dir_.back() == '/') abs_dir_.pop_back();

  YAML::Node doc;
  bool parsed = false;
  try {
    if (check_encoding()) {
      doc = YAML::Load(text_);
      parsed = true;
    }
  } catch (const YAML::Exception& e) {
    std::string message = "YAML syntax error: " + e.msg;
    // The usual cause: {{ }} unquoted inside a flow mapping or list.
    int line_start = 0;
    for (int line = 0, pos = 0; pos < static_cast<int>(text_.size()) && line < e.mark.line; ++pos) {
      if (text_[pos] == '\n') {
        ++line;
        line_start = pos + 1;
      }
    }
    size_t line_end = text_.find('\n', line_start);
    std::string_view line_text = std::string_view(text_).substr(
        line_start, line_end == std::string::npos ? std::string::npos : line_end - line_start);
    char at = e.mark.pos >= 0 && static_cast<size_t>(e.mark.pos) < text_.size() ? text_[e.mark.pos]
                                                                                : '\0';
    if (e.mark.line >= 0 && line_text.find("{{") != std::string_view::npos) {
      message += "; quote values that contain {{ }}, e.g. value: \"{{ ds }}\"";
    } else if (at == '@' || at == '`') {
      message +=
          std::string("; quote values that start with ") + at + ", e.g. schedule: \"@daily\"";
    } else if (e.msg == "illegal map value") {
      message += "; quote values that contain ': ', e.g. command: \"echo a: b\"";
    }
    error(e.mark, message);
  }

  if (parsed) {
    if (doc.IsNull()) {
      error(YAML::Mark(), "the file is empty; a DAG file needs at least `tasks:`");
    } else if (!doc.IsMap()) {
      error(doc, "a DAG file must be a mapping of keys (dag:, schedule:, tasks:, ...), got " +
                     describe(doc));
    } else {
      std::vector<YAML::Node> path;
      size_t nodes = 0;
      if (check_shape(doc, path, nodes)) {
        find_duplicate_keys(doc);
        Fields root = fields_of(doc, "");
        check_unknown_keys(root, kDagKeys, "at the top level of the DAG");
        parse_dag_settings(root);
        parse_tasks(root);
        check_graph();
        check_templates();
      }
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
        error(use.mark,
              where + "unknown template variable '" + name + "'; '" + root + "' has no fields");
      }
    } else if (root == "params") {
      if (parts.size() < 2) {
        error(use.mark, where + "use {{ params.NAME }} to read one param");
      } else if (!dag_.params.contains(parts[1]) && !use.has_default) {
        std::vector<std::string> names;
        for (const auto& [key, value] : dag_.params.items()) names.push_back(key);
        error(use.mark, where + "unknown param '" + parts[1] + "'" + did_you_mean(parts[1], names) +
                            "; declare it under params: (" + "or add | default('...'))");
      }
    } else if (root == "outputs") {
      auto up = task_index_.find(parts.size() > 1 ? parts[1] : std::string());
      const bool mapped_upstream = up != task_index_.end() && dag_.tasks[up->second].map;
      if (mapped_upstream && parts.size() >= 2 && use.task >= 0 &&
          upstream_of(use.task).count(parts[1])) {
        // A mapped task's outputs are a list, one object per instance in map order.
      } else if (parts.size() != 3) {
        error(use.mark, where + "outputs are read as {{ outputs.TASK.KEY }}, got '" + name + "'");
      } else if (use.task < 0) {
        error(use.mark, where + "outputs.* is only available in task values");
      } else if (task_index_.find(parts[1]) == task_index_.end()) {
        error(use.mark, where + "outputs." + parts[1] + ": no task '" + parts[1] + "' in this DAG" +
                            did_you_mean(parts[1], ids));
      } else if (!upstream_of(use.task).count(parts[1])) {
        const std::string& me = dag_.tasks[use.task].id;
        error(use.mark, where + "outputs." + parts[1] + ": task " + parts[1] +
                            " is not upstream of " + me + "; add it to depends_on of " + me);
      }
    } else if (root == "env") {
      if (parts.size() != 2) {
        error(use.mark,
              where + "environment variables are read as {{ env.NAME }}, got '" + name + "'");
      }
    } else if (root == "conn") {
      if (parts.size() != 3 || !contains({"host", "port", "schema", "login"}, parts[2])) {
        error(use.mark, where +
                            "connections are read as {{ conn.NAME.host }} (or .port, "
                            ".schema, .login), got '" +
                            name + "'");
      }
    } else if (root == "item" || root == "map_index") {
      if (use.task < 0 || !dag_.tasks[use.task].map) {
        error(use.mark, where + "'" + root +
                            "' is only available in mapped tasks; add `map: {items: [...]}` "
                            "to this task");
      } else if (root == "map_index" && parts.size() != 1) {
        error(use.mark, where + "'map_index' has no fields");
      }
    } else {
      error(use.mark, where + "unknown template variable '" + name + "'" +
                          did_you_mean(root, kTemplateRoots) +
                          "; known: " + join(kPlainTemplateNames, ", ") +
                          ", params.NAME, outputs.TASK.KEY, env.NAME, conn.NAME.host");
    }
  }
}

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
