// The task-type registry, checked type by type: each has a valid fixture that
// sets every one of its keys, survives the store's round trip field for
// field, and names every string it renders. A new type that forgets one of
// its parts fails here (what does not compile is checked by the compiler).
#include "core/task_types.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "core/dag.h"
#include "core/dag_loader.h"
#include "core/template.h"
#include "tests/test_util.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;

const std::string kValidDir = sluice::testing::source_dir() + "/tests/dags/valid";

std::vector<std::string> valid_fixture_files() {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(kValidDir)) {
    if (entry.path().extension() == ".yaml") files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<Dag> valid_fixtures() {
  std::vector<Dag> dags;
  for (const std::string& file : valid_fixture_files()) {
    LoadResult loaded = load_dag_file(file);
    EXPECT_TRUE(loaded.dag) << file;
    if (loaded.dag) dags.push_back(std::move(*loaded.dag));
  }
  return dags;
}

/// Type name -> every key that some fixture's task of that type sets.
std::map<std::string, std::set<std::string>> keys_set_by_fixtures() {
  std::map<std::string, std::set<std::string>> out;
  for (const std::string& file : valid_fixture_files()) {
    YAML::Node root = YAML::LoadFile(file);
    for (const YAML::Node& task : root["tasks"]) {
      std::set<std::string>& keys = out[task["type"].as<std::string>()];
      for (const auto& entry : task) keys.insert(entry.first.as<std::string>());
    }
  }
  return out;
}

/// Every string value in `j`, at any depth (object keys left out).
void strings_in(const nlohmann::json& j, std::vector<std::string>& out) {
  if (j.is_string()) out.push_back(j.get<std::string>());
  if (j.is_structured()) {
    for (const nlohmann::json& item : j) strings_in(item, out);
  }
}

TEST(TaskTypeRegistry, ListsEachTypeOnceInTheOrderOfTaskSpec) {
  const std::vector<TaskType>& types = task_types();
  ASSERT_EQ(types.size(), std::variant_size_v<TaskSpec>);
  std::set<std::string_view> names;
  for (const TaskType& type : types) {
    EXPECT_TRUE(names.insert(type.name).second) << type.name;
    EXPECT_EQ(find_task_type(type.name), &type);
  }
  EXPECT_EQ(find_task_type("shel"), nullptr);
  EXPECT_EQ(types[TaskSpec(ShellTask{}).index()].name, "shell");
  EXPECT_EQ(types[TaskSpec(TimeSensorTask{}).index()].name, "time_sensor");
}

TEST(TaskTypeRegistry, EveryTypeHasAValidFixtureSettingEachOfItsKeys) {
  std::map<std::string, std::set<std::string>> used = keys_set_by_fixtures();
  for (const TaskType& type : task_types()) {
    auto it = used.find(std::string(type.name));
    ASSERT_NE(it, used.end()) << "no fixture in tests/dags/valid/ has a task of type " << type.name
                              << "; add one that sets each of its keys";
    for (const std::string& key : type.keys) {
      // A key no fixture sets is a field whose loss in the store's round trip
      // nothing would notice.
      EXPECT_TRUE(it->second.count(key))
          << "no fixture in tests/dags/valid/ sets key '" << key << "' of type " << type.name;
    }
  }
}

TEST(TaskTypeRegistry, FixturesSurviveTheStoresRoundTripFieldForField) {
  for (const Dag& dag : valid_fixtures()) {
    SCOPED_TRACE(dag.file);
    Dag restored = dag_from_json(nlohmann::json::parse(dag_to_json(dag).dump()));
    ASSERT_EQ(restored.tasks.size(), dag.tasks.size());
    for (size_t i = 0; i < dag.tasks.size(); ++i) {
      const Task& task = dag.tasks[i];
      const TaskType& type = task_types()[task.spec.index()];
      EXPECT_EQ(type.name, task.type) << "task " << task.id << " holds another type's spec";
      EXPECT_EQ(task.is_sensor(), type.is_sensor) << task.id;
      // A field that to_json or from_json leaves out comes back as its default.
      EXPECT_TRUE(restored.tasks[i].spec == task.spec)
          << "task " << task.id << " (type " << task.type
          << ") loses a field in the store's round trip: its to_json or from_json leaves one "
             "out of "
          << spec_to_json(task.spec).dump();
    }
  }
}

TEST(TaskTypeRegistry, EveryTemplateInAFixturesSpecIsRendered) {
  for (const Dag& dag : valid_fixtures()) {
    SCOPED_TRACE(dag.file);
    for (const Task& task : dag.tasks) {
      std::set<std::string> rendered;
      for_each_templated(task.spec, [&](const std::string& s) { rendered.insert(s); });
      std::vector<std::string> strings;
      strings_in(spec_to_json(task.spec), strings);
      for (const std::string& s : strings) {
        if (!Template::has_expressions(s)) continue;
        // Unnamed, it would reach the worker unrendered, its env. and conn.
        // values missing from the template context.
        EXPECT_TRUE(rendered.count(s)) << "type " << task.type << ": '" << s
                                       << "' holds a template that its for_each_templated "
                                          "does not name";
      }
    }
  }
}

}  // namespace
}  // namespace sluice
