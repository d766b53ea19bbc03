#include "worker/executor.h"

#include "core/config.h"
#include "core/dag.h"
#include "worker/check_executor.h"
#include "worker/extract_executor.h"
#include "worker/sensor_executor.h"
#include "worker/shell_executor.h"
#include "worker/spark_executor.h"
#include "worker/sql_executor.h"

namespace sluice {

MaskingLogWriter::MaskingLogWriter(LogWriter& out, std::vector<std::string> secrets)
    : out_(out), masker_(std::move(secrets)) {}

void MaskingLogWriter::set_secrets(std::vector<std::string> secrets) {
  std::lock_guard<std::mutex> lock(mu_);
  masker_.set_secrets(std::move(secrets));
}

void MaskingLogWriter::write(std::string_view text) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string masked = masker_.feed(text);
  if (!masked.empty()) out_.write(masked);
}

void MaskingLogWriter::finish() {
  std::lock_guard<std::mutex> lock(mu_);
  std::string rest = masker_.finish();
  if (!rest.empty()) out_.write(rest);
}

std::vector<std::string> task_secrets(const Config& config, const Dag& dag) {
  std::vector<std::string> secrets = config.secrets();
  for (std::string& s : literal_secrets(dag)) secrets.push_back(std::move(s));
  return secrets;
}

namespace {

// The executor of each task type (core/task_types.h), one line a type; every
// sensor type shares SensorExecutor, which runs its check (sensor_executor.cc).
// make_executor instantiates executor_for for every type, so a type without
// an executor does not compile.
std::unique_ptr<TaskExecutor> executor_for(std::type_identity<ShellTask>) {
  return std::make_unique<ShellExecutor>();
}
std::unique_ptr<TaskExecutor> executor_for(std::type_identity<ExtractTask>) {
  return std::make_unique<ExtractExecutor>();
}
std::unique_ptr<TaskExecutor> executor_for(std::type_identity<SqlTask>) {
  return std::make_unique<SqlExecutor>();
}
std::unique_ptr<TaskExecutor> executor_for(std::type_identity<CheckTask>) {
  return std::make_unique<CheckExecutor>();
}
std::unique_ptr<TaskExecutor> executor_for(std::type_identity<SparkSubmitTask>) {
  return std::make_unique<SparkSubmitExecutor>();
}
template <typename Spec>
  requires(Spec::kIsSensor)
std::unique_ptr<TaskExecutor> executor_for(std::type_identity<Spec>) {
  return std::make_unique<SensorExecutor>();
}

}  // namespace

std::unique_ptr<TaskExecutor> make_executor(const std::string& type) {
  std::unique_ptr<TaskExecutor> executor;
  with_task_type(type, [&](auto spec) { executor = executor_for(spec); });
  return executor;
}

}  // namespace sluice
