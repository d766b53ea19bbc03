#pragma once
// JSON views of the store's runs and task instances: one shape for the API
// and for the CLI's --json, with every value a secret could reach masked.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/schedule.h"
#include "core/store.h"
#include "core/time.h"

namespace sluice {

/// An ISO-8601 UTC time, or null.
nlohmann::json iso_or_null(const std::optional<Timestamp>& t);


/// A run: ids, type, state, data interval, conf (masked with `secrets`),
/// times in UTC and duration_ms (null until it has started and ended).
nlohmann::json run_json(const RunRecord& run, const std::vector<std::string>& secrets);

/// A task instance: state, try, pool, queue, times, worker, exit code and
/// error (masked). `full` adds its outputs, rendered values (masked) and the
/// start of its first try.
nlohmann::json task_json(const TaskInstanceRecord& ti, const std::vector<std::string>& secrets,
                         bool full);

}  // namespace sluice
