#pragma once
// The `shell` task type: `/bin/sh -c COMMAND` in its own process group.

#include "worker/executor.h"

namespace sluice {

/// Runs a shell task's command; `::output key=value` lines become outputs.
class ShellExecutor : public TaskExecutor {
 public:
  TaskOutcome execute(TaskContext& ctx) override;
};

struct ProcessSpec;

/// The SLUICE_* variables every task process gets: the run's context.
std::map<std::string, std::string> task_environment(const TaskContext& ctx);

/// The process of a task that runs `argv`: the SLUICE_* variables and the
/// task's rendered `env:`, its rendered `cwd:` and its timeout. The rendered
/// `env:` also goes to `rendered_env`, to be shown with the try.
ProcessSpec task_process(const TaskContext& ctx, std::vector<std::string> argv,
                         nlohmann::json& rendered_env);

/// Runs `spec` for a task: streams output to the log, collects outputs, and
/// fills exit code, timeout and cancel in `outcome`.
void run_task_process(TaskContext& ctx, const ProcessSpec& spec, TaskOutcome& outcome);

}  // namespace sluice
