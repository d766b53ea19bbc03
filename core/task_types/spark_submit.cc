#include "core/task_types/spark_submit.h"

#include "core/task_types/spec_reader.h"

namespace sluice {

SparkSubmitTask SparkSubmitTask::parse(SpecReader& r) {
  SparkSubmitTask spec;
  if (const auto* e = r.require("application")) {
    if (auto s = r.as_template(*e)) spec.application = *s;
  }
  if (const auto* e = r.get("master")) {
    if (auto s = r.as_string(*e)) spec.master = *s;
  }
  if (const auto* e = r.get("deploy_mode")) {
    if (auto s = r.as_choice(*e, {"client", "cluster"})) spec.deploy_mode = *s;
  }
  if (const auto* e = r.get("name")) {
    if (auto s = r.as_template(*e)) spec.name = *s;
  }
  if (const auto* e = r.get("class")) {
    if (auto s = r.as_string(*e)) spec.main_class = *s;
  }
  if (const auto* e = r.get("conf")) {
    if (auto pairs = r.as_string_pairs(*e, true)) spec.conf = *pairs;
  }
  const std::pair<const char*, std::vector<std::string>*> lists[] = {{"jars", &spec.jars},
                                                                     {"py_files", &spec.py_files},
                                                                     {"files", &spec.files},
                                                                     {"packages", &spec.packages},
                                                                     {"args", &spec.args}};
  for (const auto& [key, target] : lists) {
    if (const auto* e = r.get(key)) {
      if (auto list = r.as_string_list(*e, true)) *target = *list;
    }
  }
  if (const auto* e = r.get("spark_submit")) {
    if (auto s = r.as_string(*e)) spec.spark_submit = *s;
  }
  return spec;
}

SparkSubmitTask SparkSubmitTask::from_json(const nlohmann::json& j) {
  SparkSubmitTask t;
  t.application = j.at("application").get<std::string>();
  t.master = j.at("master").get<std::string>();
  t.deploy_mode = j.at("deploy_mode").get<std::string>();
  t.name = j.at("name").get<std::string>();
  t.main_class = j.at("class").get<std::string>();
  t.conf = pairs_from_json(j.at("conf"));
  t.jars = j.at("jars").get<std::vector<std::string>>();
  t.py_files = j.at("py_files").get<std::vector<std::string>>();
  t.files = j.at("files").get<std::vector<std::string>>();
  t.packages = j.at("packages").get<std::vector<std::string>>();
  t.args = j.at("args").get<std::vector<std::string>>();
  t.spark_submit = j.at("spark_submit").get<std::string>();
  return t;
}

nlohmann::json SparkSubmitTask::to_json() const {
  return {{"application", application},
          {"master", master},
          {"deploy_mode", deploy_mode},
          {"name", name},
          {"class", main_class},
          {"conf", pairs_to_json(conf)},
          {"jars", jars},
          {"py_files", py_files},
          {"files", files},
          {"packages", packages},
          {"args", args},
          {"spark_submit", spark_submit}};
}

void SparkSubmitTask::for_each_templated(const StringVisitor& visit) const {
  visit(application);
  visit(name);
  for (const auto& [key, value] : conf) visit(value);
  for (const std::string& arg : args) visit(arg);
}

}  // namespace sluice
