#pragma once
// The variables templates see when a task's try starts (SPEC section 6).

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sluice {

struct Config;
struct Dag;
struct Task;
struct RunRecord;

/// Every string of `task` that is rendered as a template, in a stable order.
std::vector<std::string> templated_strings(const Task& task);

/// Builds the context for rendering `task`'s templates in `run` at try
/// `try_number`. `upstream_outputs` maps task id -> outputs object and is
/// only called when a template reads `outputs`. Only the `env` and `conn`
/// names the task's templates use are looked up, so no other secret enters it.
nlohmann::json build_template_context(
    const Dag& dag, const Task& task, const RunRecord& run, int try_number,
    const Config& config, const std::function<nlohmann::json()>& upstream_outputs);

}  // namespace sluice
