#include "core/task_types.h"

#include <algorithm>
#include <iterator>

namespace sluice {

namespace {

template <typename Spec>
TaskType table_of() {
  return TaskType{Spec::kType,
                  Spec::kIsSensor,
                  {std::begin(Spec::kKeys), std::end(Spec::kKeys)},
                  [](SpecReader& reader) -> TaskSpec { return Spec::parse(reader); },
                  [](const nlohmann::json& j) -> TaskSpec { return Spec::from_json(j); }};
}

template <size_t... I>
std::vector<TaskType> tables_of(std::index_sequence<I...>) {
  return {table_of<std::variant_alternative_t<I, TaskSpec>>()...};
}

}  // namespace

const std::vector<TaskType>& task_types() {
  static const std::vector<TaskType> types =
      tables_of(std::make_index_sequence<std::variant_size_v<TaskSpec>>{});
  return types;
}

const TaskType* find_task_type(std::string_view name) {
  const std::vector<TaskType>& types = task_types();
  auto it = std::find_if(types.begin(), types.end(),
                         [&](const TaskType& type) { return type.name == name; });
  return it == types.end() ? nullptr : &*it;
}

nlohmann::json spec_to_json(const TaskSpec& spec) {
  return std::visit([](const auto& s) { return s.to_json(); }, spec);
}

void for_each_templated(const TaskSpec& spec, const StringVisitor& visit) {
  std::visit([&](const auto& s) { s.for_each_templated(visit); }, spec);
}

nlohmann::json pairs_to_json(const std::vector<std::pair<std::string, std::string>>& pairs) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [name, value] : pairs) out.push_back(nlohmann::json::array({name, value}));
  return out;
}

std::vector<std::pair<std::string, std::string>> pairs_from_json(const nlohmann::json& j) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const nlohmann::json& item : j) {
    out.emplace_back(item.at(0).get<std::string>(), item.at(1).get<std::string>());
  }
  return out;
}

}  // namespace sluice
