#pragma once
// The `spark_submit` task type: builds a spark-submit command line, streams
// its log and records the Spark application id (worker/spark_executor).

#include <string>
#include <utility>
#include <vector>

#include "core/task_types/task_type.h"

namespace sluice {

/// A Spark application and the spark-submit options to start it with.
struct SparkSubmitTask {
  static constexpr std::string_view kType = "spark_submit";
  static constexpr bool kIsSensor = false;
  static constexpr std::string_view kKeys[] = {
      "application", "master", "deploy_mode", "name", "class", "conf",        "jars",
      "py_files",    "files",  "packages",    "args", "env",   "spark_submit"};

  std::string application;
  std::string master;
  std::string deploy_mode;
  std::string name;
  std::string main_class;
  std::vector<std::pair<std::string, std::string>> conf;  // in file order
  std::vector<std::string> jars;
  std::vector<std::string> py_files;
  std::vector<std::string> files;
  std::vector<std::string> packages;
  std::vector<std::string> args;
  std::string spark_submit;  // binary; empty = from config

  static SparkSubmitTask parse(SpecReader& reader);
  static SparkSubmitTask from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
  void for_each_templated(const StringVisitor& visit) const;
  bool operator==(const SparkSubmitTask&) const = default;
};

}  // namespace sluice
