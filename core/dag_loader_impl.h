#pragma once
// The DAG loader's insides, shared by its three files: dag_loader.cc (a
// file as a whole: DAG settings, the graph and template checks, folders),
// dag_loader_values.cc (the keys each level accepts, reading YAML values and
// small helpers) and dag_loader_tasks.cc (tasks, and the SpecReader through
// which each task type (core/task_types/) reads its own keys). Nothing
// outside core/dag_loader*.cc includes it.

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

#include "core/dag.h"
#include "core/dag_loader.h"
#include "core/task_types/spec_reader.h"

namespace sluice::loader {

namespace fs = std::filesystem;
using nlohmann::json;

// The keys each level of a DAG file accepts, and helpers for values
// (dag_loader_values.cc).
extern const std::vector<std::string> kDagKeys;
extern const std::vector<std::string> kCommonTaskKeys;
extern const std::vector<std::string> kSensorKeys;
extern const std::vector<std::string> kPlainTemplateNames;
extern const std::vector<std::string> kTemplateRoots;
bool contains(const std::vector<std::string>& list, std::string_view item);
const std::vector<std::string>& task_type_names();
const std::vector<std::string>* allowed_task_keys(std::string_view type);
std::vector<std::string> every_type_key();
const std::vector<std::string>& default_keys();
bool looks_like_sql_path(std::string_view text);
std::string hex_sha256(const std::string& content, const std::vector<std::string>& extra);
std::string too_large_message(uint64_t size);
std::string read_dag_file(const std::string& path, std::string* out);

constexpr size_t kMaxIdLength = 100;
constexpr const char* kIdRule =
    "may only contain letters, digits, '_', '.' and '-', must start with a letter, digit or '_', "
    "and may have at most 100 characters";

using yaml::hex_byte;
using yaml::one_line;
using yaml::parse_number;

/// A `{{ name }}` found in a value, checked once every task is known.
struct TemplateUse {
  YAML::Mark mark;  // in the DAG file, when `file` is empty
  int task = -1;    // index into the task list; -1 for DAG-level values
  std::string name;
  bool has_default = false;
  std::string label;  // what held the template, for the message
  std::string file;   // the SQL file that holds it, if not the DAG file
  int line = 0;       // in `file` (1-based)
  int column = 0;
  std::string excerpt;  // the template's line, when it has several
};

/// What the graph checks need to know about a task besides the model.
struct TaskInfo {
  YAML::Node node;
  YAML::Mark id_mark;
  bool has_id = false;
  std::vector<std::pair<std::string, YAML::Mark>> deps;
};

/// Turns one DAG file's text into a Dag, collecting every problem on the way.
class Loader : public yaml::Reader {
 public:
  friend class sluice::SpecReader;  // reads a task type's keys with the readers below

  Loader(const std::string& file, const std::string& text) : Reader(file, text) {}

  LoadResult load();

 private:
  std::optional<std::string> as_template(const Entry& e, int task);
  std::optional<std::vector<std::string>> as_string_list(const Entry& e, int task, bool templated);
  std::optional<std::vector<std::pair<std::string, std::string>>> as_string_pairs(const Entry& e,
                                                                                  int task,
                                                                                  bool templated);
  std::optional<std::string> as_sql(const Entry& e, int task, std::string* file_out);
  /// Parses a templated value (or the text of SQL file `file`) and records
  /// the names it reads; a syntax error points into the value or the file.
  void check_template(const YAML::Node& node, std::string_view text, int task,
                      const std::string& label, const std::string& file = "");
  /// Where line `line`, column `column` of the text of string `node` is in
  /// the DAG file, when the value is written as is (one line, or a `|`
  /// block); nullopt when it cannot be told (escapes, folded lines).
  /// `value_line` is line `line` of the value's text.
  std::optional<YAML::Mark> mark_in_value(const YAML::Node& node, std::string_view value_line,
                                          int line, int column) const;
  /// Where each line of the DAG file starts, found on first use.
  mutable std::vector<size_t> file_line_starts_;
  /// Records `message` about `use` where its name is.
  void template_error(const TemplateUse& use, const std::string& message);
  json to_json(const YAML::Node& node);

  void parse_dag_settings(const Fields& root);
  void parse_tasks(const Fields& root);
  void parse_task(const YAML::Node& node, size_t position, const Fields* defaults);
  void check_graph();
  void check_templates();

  std::string dir_;      // the DAG file's folder as given ("" for the current one)
  std::string abs_dir_;  // the same, absolute
  std::vector<Diagnostic> warnings_;
  std::vector<std::string> sql_contents_;
  std::vector<TemplateUse> template_uses_;
  std::vector<TaskInfo> infos_;
  std::unordered_map<std::string, int> task_index_;
  Dag dag_;
};

}  // namespace sluice::loader
