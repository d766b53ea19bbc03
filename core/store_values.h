#pragma once
// Values both stores keep in the same form.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sluice {

/// A worker's queues as both stores keep them (a JSON array of names);
/// anything else in it is ignored.
std::vector<std::string> queue_names(const nlohmann::json& stored);

}  // namespace sluice
