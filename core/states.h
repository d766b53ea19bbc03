#pragma once
// Run types, run states and task states, with their names as stored.

#include <optional>
#include <string_view>

namespace sluice {

enum class RunType { kScheduled, kManual, kBackfill };
enum class RunState { kQueued, kRunning, kSuccess, kFailed, kCanceled };
enum class TaskState {
  kNone,
  kScheduled,
  kQueued,
  kRunning,
  kSuccess,
  kFailed,
  kUpForRetry,
  kUpForReschedule,
  kSkipped,
  kUpstreamFailed,
  kCanceled,
};

const char* to_string(RunType t);
const char* to_string(RunState s);
const char* to_string(TaskState s);
std::optional<RunType> parse_run_type(std::string_view text);
std::optional<RunState> parse_run_state(std::string_view text);
std::optional<TaskState> parse_task_state(std::string_view text);

/// success, failed, skipped, upstream_failed, canceled: no further change
/// unless cleared.
bool is_finished(TaskState s);
bool is_finished(RunState s);
/// The state of an ended run (success or failed) after one of its tasks was
/// marked by hand: with every task finished, failed when one failed, was
/// upstream_failed or canceled, else success. nullopt when the run has not
/// ended that way or a task is unfinished: the decider handles those.
std::optional<RunState> run_state_after_mark(RunState run, const std::vector<TaskState>& tasks);

}  // namespace sluice
