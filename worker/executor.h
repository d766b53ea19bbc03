#pragma once
// Task executors: one per task type, each runs one try of a task.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/secrets.h"
#include "core/store.h"
#include "core/time.h"
#include "core/watermark.h"

namespace sluice {

struct Config;
struct Dag;
struct Task;
struct RunRecord;
class ProcessLauncher;
class Clock;
class Store;

/// Receives a try's log text as it is produced.
class LogWriter {
 public:
  virtual ~LogWriter() = default;
  virtual void write(std::string_view text) = 0;
};

/// Passes a try's output on to another LogWriter with every secret masked,
/// before anything is stored or shown; a secret split across writes is masked
/// too (see SecretMasker).
class MaskingLogWriter : public LogWriter {
 public:
  MaskingLogWriter(LogWriter& out, std::vector<std::string> secrets);
  /// Replaces the secrets (once the DAG, with its own, is known).
  void set_secrets(std::vector<std::string> secrets);
  void write(std::string_view text) override;
  /// Passes on what is held back; call once the try's output has ended.
  void finish();

 private:
  LogWriter& out_;
  std::mutex mu_;
  SecretMasker masker_;  // GUARDED_BY(mu_)
};

/// The secrets a try of a task of `dag` must never show: the configuration's
/// (connections, tokens, alerts secret, API token) and the DAG file's own.
std::vector<std::string> task_secrets(const Config& config, const Dag& dag);

/// Everything one try of a task needs.
struct TaskContext {
  const Dag& dag;
  const Task& task;
  const RunRecord& run;
  int try_number = 1;
  const nlohmann::json& template_context;  // see worker/template_context.h
  const Config& config;
  LogWriter& log;
  const std::atomic<bool>& cancel;
  ProcessLauncher& launcher;
  /// Time left for this try (the task's timeout), if bounded.
  std::optional<Millis> timeout;
  /// Called with the process group id of each process the try starts.
  std::function<void(int pgid)> on_process_start;
  /// When the task's first try (a sensor's first check) started; sensors
  /// count their total timeout from it, across reschedules and restarts.
  std::optional<Timestamp> first_started_at;
  /// The worker's clock.
  const Clock* clock = nullptr;
  /// The metadata store (external_task_sensor reads other DAGs' runs); null
  /// when the try runs without one (`tasks test`).
  Store* store = nullptr;
};

/// How one try ended.
struct TaskOutcome {
  enum class Status { kSuccess, kFailed, kReschedule, kSkipped };
  Status status = Status::kFailed;
  std::string error;  // one line for the UI and alerts
  nlohmann::json outputs = nlohmann::json::object();
  nlohmann::json rendered;  // the rendered spec (secrets masked by the caller)
  std::optional<int> exit_code;
  bool timed_out = false;
  bool canceled = false;
  /// With kReschedule: when the next check is due (the slot is freed meanwhile).
  std::optional<Timestamp> reschedule_at;
  /// A check task's results, one per check (stored with the try's end).
  std::vector<CheckResultRecord> checks;
  /// With kSuccess, from an incremental extract: the high-water mark it
  /// reached, stored with the finish (TaskResult::watermark).
  std::optional<Watermark> watermark;
};

/// Runs tries of one task type.
class TaskExecutor {
 public:
  virtual ~TaskExecutor() = default;
  virtual TaskOutcome execute(TaskContext& ctx) = 0;
};

/// The executor for a task type ("shell", ...); nullptr for an unknown type.
std::unique_ptr<TaskExecutor> make_executor(const std::string& type);

}  // namespace sluice
