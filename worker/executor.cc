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

std::unique_ptr<TaskExecutor> make_executor(const std::string& type) {
  if (type == "shell") return std::make_unique<ShellExecutor>();
  if (type == "extract") return std::make_unique<ExtractExecutor>();
  if (type == "sql") return std::make_unique<SqlExecutor>();
  if (type == "check") return std::make_unique<CheckExecutor>();
  if (type == "spark_submit") return std::make_unique<SparkSubmitExecutor>();
  if (type == "file_sensor" || type == "sql_sensor" || type == "http_sensor" ||
      type == "external_task_sensor" || type == "time_sensor") {
    return std::make_unique<SensorExecutor>();
  }
  return nullptr;
}

}  // namespace sluice
