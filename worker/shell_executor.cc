#include "worker/shell_executor.h"

#include <unistd.h>

#include "core/dag.h"
#include "core/error.h"
#include "core/store.h"
#include "core/template.h"
#include "worker/task_runner.h"

namespace sluice {

std::map<std::string, std::string> task_environment(const TaskContext& ctx) {
  const nlohmann::json& t = ctx.template_context;
  return {
      {"SLUICE_DAG_ID", ctx.dag.id},
      {"SLUICE_TASK_ID", ctx.task.id},
      {"SLUICE_RUN_ID", ctx.run.run_id},
      {"SLUICE_RUN_TYPE", to_string(ctx.run.type)},
      {"SLUICE_TRY_NUMBER", std::to_string(ctx.try_number)},
      // Lets a worker on this host find the processes of a dead worker's tries.
      {"SLUICE_WORKER_PID", std::to_string(getpid())},
      {"SLUICE_DS", t.value("ds", "")},
      {"SLUICE_TS", t.value("ts", "")},
      {"SLUICE_DATA_INTERVAL_START", t.value("data_interval_start", "")},
      {"SLUICE_DATA_INTERVAL_END", t.value("data_interval_end", "")},
  };
}

void run_task_process(TaskContext& ctx, const ProcessSpec& spec, TaskOutcome& outcome) {
  OutputParser parser;
  ProcessResult result = ctx.launcher.run(
      spec,
      [&](std::string_view chunk) {
        ctx.log.write(chunk);
        parser.feed(chunk);
      },
      ctx.cancel, ctx.on_process_start);
  parser.finish();
  for (const auto& [key, value] : parser.outputs()) outcome.outputs[key] = value;
  outcome.timed_out = result.timed_out;
  outcome.canceled = result.canceled;
  if (result.exit_code >= 0) outcome.exit_code = result.exit_code;
  if (!result.error.empty()) {
    outcome.status = TaskOutcome::Status::kFailed;
    outcome.error = result.error;
  } else if (result.timed_out) {
    outcome.status = TaskOutcome::Status::kFailed;
    outcome.error = "timed out after " + format_duration(spec.timeout.value_or(Millis(0)));
  } else if (result.canceled) {
    outcome.status = TaskOutcome::Status::kFailed;
    outcome.error = "canceled";
  } else if (result.signal != 0) {
    outcome.status = TaskOutcome::Status::kFailed;
    outcome.error = "killed by signal " + std::to_string(result.signal);
  } else if (result.exit_code != 0) {
    outcome.status = TaskOutcome::Status::kFailed;
    outcome.error = "exit code " + std::to_string(result.exit_code);
  } else {
    outcome.status = TaskOutcome::Status::kSuccess;
  }
}

ProcessSpec task_process(const TaskContext& ctx, std::vector<std::string> argv,
                         nlohmann::json& rendered_env) {
  ProcessSpec spec;
  spec.argv = std::move(argv);
  spec.env = task_environment(ctx);
  for (const auto& [name, value] : ctx.task.env) {
    std::string v = render_template(value, ctx.template_context);
    spec.env[name] = v;
    rendered_env[name] = v;
  }
  spec.cwd = render_template(ctx.task.cwd, ctx.template_context);
  spec.timeout = ctx.timeout;
  return spec;
}

TaskOutcome ShellExecutor::execute(TaskContext& ctx) {
  const auto& shell = std::get<ShellTask>(ctx.task.spec);
  TaskOutcome outcome;
  std::string command = render_template(shell.command, ctx.template_context);
  nlohmann::json rendered_env = nlohmann::json::object();
  ProcessSpec spec = task_process(ctx, {"/bin/sh", "-c", command}, rendered_env);
  outcome.rendered = {{"command", command}, {"env", rendered_env}, {"cwd", spec.cwd}};
  run_task_process(ctx, spec, outcome);
  return outcome;
}

}  // namespace sluice
