#pragma once
// The `extract` task type: loads rows from a CSV file, an HTTP API or a query
// into a warehouse table, in one transaction (worker/extract_executor).

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/task_types/task_type.h"

namespace sluice {

struct CsvSource {
  std::string path;
  char delimiter = ',';
  bool header = true;
  bool operator==(const CsvSource&) const = default;
};
struct HttpSource {
  std::string url;
  std::map<std::string, std::string> headers;
  std::string records;  // JSON path to the records array, "" for the root
  std::string next;     // JSON path to the next page link or cursor
  bool operator==(const HttpSource&) const = default;
};
struct QuerySource {
  std::string conn;
  std::string sql;
  bool operator==(const QuerySource&) const = default;
};
struct ExtractTarget {
  std::string conn;
  std::string table;
  std::string mode = "append";  // append | replace | replace_partition | upsert
  std::vector<std::string> key;
  std::string partition_column;
  std::string partition_value;
  /// Declared SQL types by column, in order: they override the types
  /// inferred from a CSV file; a list of every column (old form) still
  /// defines the table in that order.
  std::vector<std::pair<std::string, std::string>> columns;
  bool operator==(const ExtractTarget&) const = default;
};
/// `incremental:`: each run reads only the source rows whose `column` is
/// above the high-water mark the last successful run reached (less `lookback`).
struct IncrementalSpec {
  std::string column;
  std::string lookback;  // "": none; a duration ("1h") for timestamps, a number for numbers
  bool operator==(const IncrementalSpec&) const = default;
};

/// Where rows come from, where they go, and what a bad row does.
struct ExtractTask {
  static constexpr std::string_view kType = "extract";
  static constexpr bool kIsSensor = false;
  static constexpr std::string_view kKeys[] = {"source", "target", "on_bad_row", "on_schema_change",
                                               "incremental"};

  std::variant<CsvSource, HttpSource, QuerySource> source;
  ExtractTarget target;
  std::string on_bad_row = "fail";  // fail | skip | reject
  /// What a source column the existing table lacks, or whose values its
  /// column's type does not take, does: fail | add_columns | ignore.
  std::string on_schema_change = "fail";
  std::optional<IncrementalSpec> incremental;  // query and http sources

  static ExtractTask parse(SpecReader& reader);
  static ExtractTask from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
  void for_each_templated(const StringVisitor& visit) const;
  bool operator==(const ExtractTask&) const = default;
};

}  // namespace sluice
