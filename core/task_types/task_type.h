#pragma once
// What every task type provides. A task type is one file pair in this folder:
// the header holds its spec struct with its table (name, whether it is a
// sensor, its own YAML keys) and declares the functions below; the .cc reads
// its keys, writes it to JSON and back, and names its templated strings.
// core/task_types.h lists the types (the alternatives of TaskSpec) and checks
// each against TaskTypeSpec at compile time. The worker's half, its executor
// (or a sensor's check), is registered in worker/executor.cc
// (worker/sensor_executor.cc), which fails to compile without it.

#include <concepts>
#include <functional>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice {

class SpecReader;

/// Called with each string of a spec that the worker renders as a template.
using StringVisitor = std::function<void(const std::string&)>;

/// A task type's spec struct, with everything the loader, the store and the
/// worker need to know about it:
/// - `kType`: its name in a DAG file (`type: shell`);
/// - `kIsSensor`: whether it takes the sensor keys and runs as a sensor;
/// - `kKeys`: its own keys, besides the keys every task (and every sensor) takes;
/// - `parse(reader)`: reads those keys (core/task_types/spec_reader.h);
/// - `to_json()` and `from_json(j)`: the store's form, an exact round trip;
/// - `for_each_templated(visit)`: every string the worker renders, so that the
///   `env.` and `conn.` names they use reach the template context;
/// - `==`: the round trip is checked by value (tests/core/task_types_test.cc).
template <typename T>
concept TaskTypeSpec = std::equality_comparable<T> &&
    requires(const T& spec, SpecReader& reader, const nlohmann::json& j,
             const StringVisitor& visit) {
  { T::kType } -> std::convertible_to<std::string_view>;
  { T::kIsSensor } -> std::convertible_to<bool>;
  { std::size(T::kKeys) } -> std::convertible_to<size_t>;
  { T::parse(reader) } -> std::same_as<T>;
  { T::from_json(j) } -> std::same_as<T>;
  { spec.to_json() } -> std::same_as<nlohmann::json>;
  spec.for_each_templated(visit);
};

/// Ordered NAME: value pairs as a JSON list of [name, value], and back.
nlohmann::json pairs_to_json(const std::vector<std::pair<std::string, std::string>>& pairs);
std::vector<std::pair<std::string, std::string>> pairs_from_json(const nlohmann::json& j);

}  // namespace sluice
