#pragma once
// The `shell` task type: `/bin/sh -c COMMAND` in its own process group.

#include "worker/executor.h"

namespace sluice {

/// Runs a shell task's command; `::output key=value` lines become outputs.
class ShellExecutor : public TaskExecutor {
 public:
  TaskOutcome execute(TaskContext& ctx) override;
};

/// The SLUICE_* variables every task process gets: the run's context.
std::map<std::string, std::string> task_environment(const TaskContext& ctx);

/// Runs `spec` for a task: streams output to the log, collects outputs, and
/// fills exit code, timeout and cancel in `outcome`.
struct ProcessSpec;
void run_task_process(TaskContext& ctx, const ProcessSpec& spec, TaskOutcome& outcome);

}  // namespace sluice
