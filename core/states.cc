#include "core/states.h"

#include <array>
#include <string_view>

namespace sluice {
namespace {

constexpr std::array<const char*, 3> kRunTypes = {"scheduled", "manual", "backfill"};
constexpr std::array<const char*, 5> kRunStates = {"queued", "running", "success", "failed",
                                                   "canceled"};
constexpr std::array<const char*, 11> kTaskStates = {
    "none",    "scheduled",  "queued",          "running", "success",        "failed",
    "up_for_retry", "up_for_reschedule", "skipped", "upstream_failed", "canceled"};

template <typename E, size_t N>
std::optional<E> parse_name(const std::array<const char*, N>& names, std::string_view text) {
  for (size_t i = 0; i < N; ++i) {
    if (text == names[i]) return static_cast<E>(i);
  }
  return std::nullopt;
}

}  // namespace

const char* to_string(RunType t) { return kRunTypes[static_cast<size_t>(t)]; }
const char* to_string(RunState s) { return kRunStates[static_cast<size_t>(s)]; }
const char* to_string(TaskState s) { return kTaskStates[static_cast<size_t>(s)]; }

std::optional<RunType> parse_run_type(std::string_view text) {
  return parse_name<RunType>(kRunTypes, text);
}
std::optional<RunState> parse_run_state(std::string_view text) {
  return parse_name<RunState>(kRunStates, text);
}
std::optional<TaskState> parse_task_state(std::string_view text) {
  return parse_name<TaskState>(kTaskStates, text);
}

bool is_finished(TaskState s) {
  switch (s) {
    case TaskState::kSuccess:
    case TaskState::kFailed:
    case TaskState::kSkipped:
    case TaskState::kUpstreamFailed:
    case TaskState::kCanceled:
      return true;
    default:
      return false;
  }
}

bool is_finished(RunState s) {
  return s == RunState::kSuccess || s == RunState::kFailed || s == RunState::kCanceled;
}

std::optional<RunState> run_state_after_mark(RunState run, const std::vector<TaskState>& tasks) {
  if (run != RunState::kSuccess && run != RunState::kFailed) return std::nullopt;
  bool any_failed = false;
  for (TaskState t : tasks) {
    if (!is_finished(t)) return std::nullopt;
    any_failed |= t == TaskState::kFailed || t == TaskState::kUpstreamFailed ||
                  t == TaskState::kCanceled;
  }
  return any_failed ? RunState::kFailed : RunState::kSuccess;
}

}  // namespace sluice
