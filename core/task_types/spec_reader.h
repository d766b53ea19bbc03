#pragma once
// How a task type's parser (core/task_types/*.cc) reads its keys from a DAG
// file: the task's own value of a key or its `defaults:` value, and typed
// readers that report what is wrong where (file, line, column and the fix).
// The loader implements it (core/dag_loader_tasks.cc).

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/time.h"
#include "core/yaml_reader.h"

namespace sluice {
namespace loader {

class Loader;

using yaml::Entry;
using yaml::Fields;
using yaml::quote_value;

/// Finds a task key's entry (own value or default); `require` also reports its absence.
using KeyLookup = std::function<const Entry*(std::string_view)>;

// Checks of values that parsers share with the loader (dag_loader_values.cc).
bool valid_id(std::string_view id);
bool valid_expect(std::string_view text);

}  // namespace loader

/// Reads one task's type-specific keys for its type's `parse`. Every reader
/// reports a wrong value as an error and returns nothing; templates are
/// checked against the DAG once every task is known.
class SpecReader {
 public:
  using Entry = loader::Entry;
  using Fields = loader::Fields;

  SpecReader(loader::Loader& loader, int task, const loader::KeyLookup& get,
             const loader::KeyLookup& require)
      : loader_(loader), task_(task), get_(get), require_(require) {}

  /// The task's value of `key`, or its default; null when neither is set.
  const Entry* get(std::string_view key) const { return get_(key); }
  /// The same, and an error naming the key when it is missing.
  const Entry* require(std::string_view key) const { return require_(key); }

  std::optional<std::string> as_string(const Entry& e);
  /// A string that may hold templates.
  std::optional<std::string> as_template(const Entry& e);
  std::optional<int64_t> as_int(const Entry& e, int64_t min, int64_t max);
  std::optional<bool> as_bool(const Entry& e);
  std::optional<Millis> as_duration(const Entry& e, bool allow_negative = false);
  std::optional<std::string> as_choice(const Entry& e, const std::vector<std::string>& choices);
  std::optional<std::vector<std::string>> as_string_list(const Entry& e, bool templated);
  std::optional<std::vector<std::pair<std::string, std::string>>> as_string_pairs(const Entry& e,
                                                                                  bool templated);
  /// A mapping whose keys must be among `allowed` (`where` says where, for the message).
  std::optional<Fields> as_mapping(const Entry& e, const std::vector<std::string>& allowed,
                                   const std::string& where);
  /// Inline SQL, or the contents of the .sql file it names (relative to the
  /// DAG file); `file_out`, when given, receives the path as written.
  std::optional<std::string> as_sql(const Entry& e, std::string* file_out);

  Fields fields_of(const YAML::Node& map, const std::string& prefix);
  void check_unknown_keys(const Fields& fields, const std::vector<std::string>& allowed,
                          const std::string& where);
  /// "LABEL must be EXPECTED, got ...", or the hint to quote an unquoted template.
  std::string type_problem(const Entry& e, const std::string& expected) const;
  void error(const YAML::Node& node, std::string message);

 private:
  loader::Loader& loader_;
  int task_;
  const loader::KeyLookup& get_;
  const loader::KeyLookup& require_;
};

}  // namespace sluice
