#include "core/yaml_reader.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <unordered_map>
#include <unordered_set>

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

namespace yaml {

std::string quote_value(std::string_view text) {
  constexpr size_t kMaxShown = 60;
  if (text.size() <= kMaxShown) return "'" + std::string(text) + "'";
  size_t cut = kMaxShown;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return "'" + std::string(text.substr(0, cut)) + "...' (" + std::to_string(text.size()) +
         " bytes)";
}

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

std::string hex_byte(char c) {
  static const char* kHex = "0123456789ABCDEF";
  unsigned char b = static_cast<unsigned char>(c);
  return std::string("0x") + kHex[b >> 4] + kHex[b & 15];
}

void Reader::error(const YAML::Mark& mark, std::string message) {
  int line = mark.line >= 0 ? mark.line + 1 : 0;
  int column = mark.column >= 0 ? mark.column + 1 : 0;
  // Defaults are checked once per task that uses them; say each problem once.
  message = one_line(std::move(message));
  if (!seen_errors_.emplace(line, column, message).second) return;
  errors_.push_back(Diagnostic{file_, line, column, std::move(message)});
}

void Reader::error_in(const std::string& file, int line, int column, std::string message) {
  message = one_line(std::move(message));
  if (!seen_errors_.emplace(line, column, file + ": " + message).second) return;
  errors_.push_back(Diagnostic{file, line, column, std::move(message)});
}

Fields Reader::fields_of(const YAML::Node& map, const std::string& prefix) {
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

void Reader::check_unknown_keys(const Fields& fields, const std::vector<std::string>& allowed,
                                const std::string& where) {
  for (const Entry& e : fields.entries) {
    if (std::find(allowed.begin(), allowed.end(), e.key) != allowed.end()) continue;
    std::string hint = did_you_mean(e.key, allowed);
    if (hint.empty()) hint = "; allowed keys: " + join(allowed, ", ");
    error(e.key_node, "unknown key " + quote_value(e.key) + " " + where + hint);
  }
}

// yaml-cpp passes any bytes through; stored and shown as JSON, invalid UTF-8
// would fail every later step that touches this DAG.
bool Reader::check_encoding() {
  if (find_invalid_utf8(file_) != std::string::npos) {
    error(YAML::Mark::null_mark(), "the file's name is not valid UTF-8; rename it");
    return false;
  }
  size_t bad = find_invalid_utf8(text_);
  if (bad == std::string::npos) return true;
  error(mark_at(bad),
        "invalid UTF-8 (byte " + hex_byte(text_[bad]) + "); a DAG file must be UTF-8 text");
  return false;
}

YAML::Mark Reader::mark_at(size_t pos) const {
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
bool Reader::check_shape(const YAML::Node& node, std::vector<YAML::Node>& path, size_t& nodes) {
  if (++nodes > kMaxYamlNodes) {
    error(node, "the file holds more than " + std::to_string(kMaxYamlNodes) +
                    " YAML nodes (an alias counts all the nodes it stands for, each time it "
                    "is used); use fewer aliases or split the file");
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
    error(node,
          "mappings and lists nested more than " + std::to_string(kMaxYamlDepth) + " levels deep");
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

void Reader::find_duplicate_keys(const YAML::Node& node) {
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

std::string Reader::describe(const YAML::Node& node) const {
  if (node.IsMap()) return "a mapping";
  if (node.IsSequence()) return "a list";
  if (node.IsScalar()) return quote_value(node.Scalar());
  return "nothing";
}

// YAML reads an unquoted `{{ ds }}` as a mapping inside a mapping; the source
// text at the node tells that apart from a mapping written on purpose.
bool Reader::from_unquoted_template(const YAML::Node& node) const {
  if (!node.IsMap() && !node.IsSequence()) return false;
  int pos = node.Mark().pos;
  if (pos < 0 || static_cast<size_t>(pos) + 1 >= text_.size()) return false;
  return text_[pos] == '{' && text_[pos + 1] == '{';
}

std::string Reader::type_problem(const Entry& e, const std::string& expected) const {
  if (from_unquoted_template(e.value)) {
    return e.label +
           " holds {{ }} without quotes, which YAML reads as a mapping; quote values that "
           "contain {{ }}, e.g. " +
           e.key + ": \"{{ ds }}\"";
  }
  return e.label + " must be " + expected + ", got " + describe(e.value);
}

std::optional<std::string> Reader::as_string(const Entry& e) {
  if (!e.value.IsScalar()) {
    error(e.value.IsNull() ? e.key_node : e.value, type_problem(e, "a string"));
    return std::nullopt;
  }
  return e.value.Scalar();
}

std::optional<int64_t> Reader::as_int(const Entry& e, int64_t min, int64_t max) {
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

std::optional<bool> Reader::as_bool(const Entry& e) {
  if (e.value.IsScalar()) {
    std::string s = to_lower(e.value.Scalar());
    if (s == "true" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "no" || s == "off") return false;
  }
  error(e.value.IsNull() ? e.key_node : e.value, type_problem(e, "true or false"));
  return std::nullopt;
}

std::optional<Millis> Reader::as_duration(const Entry& e, bool allow_negative) {
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

std::optional<std::string> Reader::as_choice(const Entry& e,
                                             const std::vector<std::string>& choices) {
  auto text = as_string(e);
  if (!text) return std::nullopt;
  if (std::find(choices.begin(), choices.end(), *text) != choices.end()) return text;
  error(e.value, "unknown " + e.label + " '" + *text + "'" + did_you_mean(*text, choices) +
                     "; use one of: " + join(choices, ", "));
  return std::nullopt;
}

std::optional<Fields> Reader::as_mapping(const Entry& e, const std::vector<std::string>& allowed,
                                         const std::string& where) {
  if (!e.value.IsMap() || from_unquoted_template(e.value)) {
    error(e.value.IsNull() ? e.key_node : e.value, type_problem(e, "a mapping"));
    return std::nullopt;
  }
  Fields fields = fields_of(e.value, e.label);
  check_unknown_keys(fields, allowed, where);
  return fields;
}

std::optional<YAML::Node> Reader::parse() {
  if (!check_encoding()) return std::nullopt;
  YAML::Node doc;
  try {
    doc = YAML::Load(text_);
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
    return std::nullopt;
  }
  std::vector<YAML::Node> path;
  size_t nodes = 0;
  if (!check_shape(doc, path, nodes)) return std::nullopt;
  find_duplicate_keys(doc);
  return doc;
}

std::string Reader::errors_text() const {
  std::vector<Diagnostic> sorted = errors_;
  std::stable_sort(sorted.begin(), sorted.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
  std::string out;
  for (const Diagnostic& d : sorted) {
    if (!out.empty()) out += "\n";
    out += d.to_string();
  }
  return out;
}

std::optional<std::vector<std::string>> Reader::as_string_list(
    const Entry& e, const std::function<std::optional<std::string>(const Entry&)>& read_item) {
  if (!e.value.IsSequence() || from_unquoted_template(e.value)) {
    error(e.value.IsNull() ? e.key_node : e.value, type_problem(e, "a list of strings"));
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  size_t i = 0;
  for (auto it = e.value.begin(); it != e.value.end(); ++it, ++i) {
    Entry item{e.key, e.label + "[" + std::to_string(i) + "]", e.key_node, *it};
    auto text = read_item ? read_item(item) : as_string(item);
    if (text) {
      out.push_back(*text);
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return out;
}

}  // namespace yaml
}  // namespace sluice
