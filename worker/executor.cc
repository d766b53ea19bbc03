#include "worker/executor.h"

#include "worker/check_executor.h"
#include "worker/extract_executor.h"
#include "worker/sensor_executor.h"
#include "worker/shell_executor.h"
#include "worker/spark_executor.h"
#include "worker/sql_executor.h"

namespace sluice {

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
