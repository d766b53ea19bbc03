#pragma once
// The `shell` task type: runs its command with /bin/sh -c in its own process
// group (worker/shell_executor).

#include <string>

#include "core/task_types/task_type.h"

namespace sluice {

/// A shell command; the task's `env` and `cwd` apply to it.
struct ShellTask {
  static constexpr std::string_view kType = "shell";
  static constexpr bool kIsSensor = false;
  static constexpr std::string_view kKeys[] = {"command", "env"};

  std::string command;

  static ShellTask parse(SpecReader& reader);
  static ShellTask from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
  void for_each_templated(const StringVisitor& visit) const;
  bool operator==(const ShellTask&) const = default;
};

}  // namespace sluice
