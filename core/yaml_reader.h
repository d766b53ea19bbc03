#pragma once
// Reading one of Sluice's YAML files (a DAG file, sluice.yaml): the document
// checked whole first (UTF-8, size, depth, aliases, duplicate keys), then read
// mapping by mapping, each problem recorded as a Diagnostic at the line and
// column that has it, with the fix. The DAG loader and the configuration both
// read through it, so that both say the same thing about the same mistake.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "core/time.h"

namespace sluice {

/// Mappings and lists inside each other, the document itself being level 1.
inline constexpr int kMaxYamlDepth = 64;
/// YAML nodes (keys, values, list items), an alias counting every node it
/// stands for each time it is used.
inline constexpr size_t kMaxYamlNodes = 200000;

/// One problem found in a file, printed as FILE:LINE:COL: message.
struct Diagnostic {
  std::string file;
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based; 0 when unknown
  std::string message;
  std::string to_string() const;
};

namespace yaml {

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

/// `text` in single quotes for a message, cut after 60 bytes (on a character
/// boundary), so that a huge value does not make a huge message.
std::string quote_value(std::string_view text);
/// `message` on one line: control characters written as escapes, so that a
/// value quoted in it cannot break the FILE:LINE: message format.
std::string one_line(std::string message);
/// A plain decimal number (for hints such as "add a unit").
bool parse_number(std::string_view text, double* out);
/// "0xC3" for a byte.
std::string hex_byte(char c);

/// Reads one file's text. Each as_* reads a value, or records why it cannot
/// and returns nullopt, so that one pass reports every problem.
class Reader {
 public:
  Reader(std::string file, const std::string& text) : file_(std::move(file)), text_(text) {}

  /// The document, checked whole; nullopt when it cannot be read (the
  /// problems are recorded). An empty document is a null node.
  std::optional<YAML::Node> parse();

  void error(const YAML::Mark& mark, std::string message);
  void error(const YAML::Node& node, std::string message) {
    error(node.Mark(), std::move(message));
  }
  /// A problem in another file that this one names (a task's SQL file);
  /// `line` and `column` are 1-based.
  void error_in(const std::string& file, int line, int column, std::string message);
  const std::vector<Diagnostic>& errors() const { return errors_; }
  /// The problems in line order, every one on a line of its own.
  std::string errors_text() const;

  /// The entries of `map` (whose dotted path is `prefix`).
  Fields fields_of(const YAML::Node& map, const std::string& prefix);
  /// Records each key of `fields` not in `allowed`, with the closest one.
  void check_unknown_keys(const Fields& fields, const std::vector<std::string>& allowed,
                          const std::string& where);

  /// "a mapping", "a list", "nothing" or the quoted scalar.
  std::string describe(const YAML::Node& node) const;
  /// YAML reads an unquoted `{{ ds }}` as a mapping inside a mapping.
  bool from_unquoted_template(const YAML::Node& node) const;
  /// "LABEL must be EXPECTED, got WHAT", or how to quote a template.
  std::string type_problem(const Entry& e, const std::string& expected) const;

  std::optional<std::string> as_string(const Entry& e);
  std::optional<int64_t> as_int(const Entry& e, int64_t min, int64_t max);
  std::optional<bool> as_bool(const Entry& e);
  std::optional<Millis> as_duration(const Entry& e, bool allow_negative = false);
  std::optional<std::string> as_choice(const Entry& e, const std::vector<std::string>& choices);
  /// A list of strings, each item read by `read_item` (as_string when unset).
  std::optional<std::vector<std::string>> as_string_list(
      const Entry& e,
      const std::function<std::optional<std::string>(const Entry&)>& read_item = {});
  std::optional<Fields> as_mapping(const Entry& e, const std::vector<std::string>& allowed,
                                   const std::string& where);

 protected:
  std::string file_;
  const std::string& text_;
  std::vector<Diagnostic> errors_;

 private:
  bool check_encoding();
  YAML::Mark mark_at(size_t pos) const;
  bool check_shape(const YAML::Node& node, std::vector<YAML::Node>& path, size_t& nodes);
  void find_duplicate_keys(const YAML::Node& node);

  std::set<std::tuple<int, int, std::string>> seen_errors_;
};

}  // namespace yaml
}  // namespace sluice
