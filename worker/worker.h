#pragma once
// The worker: claims queued task instances, runs them, reports back.

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/time.h"

namespace sluice {

class Clock;
class DagCache;
class ProcessLauncher;
class Store;
class WorkSignal;
class LogWriter;
struct Config;
struct Task;
struct TaskOutcome;
struct ClaimedTask;

/// Worker settings; defaults suit production, tests shorten them.
struct WorkerOptions {
  std::string worker_id;  // empty: host:pid
  int slots = 1;
  std::vector<std::string> queues = {"default"};
  Millis heartbeat_interval{2000};
  Millis poll_interval{200};  // the longest wait between claims when idle
  Millis log_flush_interval{1000};
  int64_t max_log_bytes_per_try = 10 * 1024 * 1024;
  Millis kill_grace{5000};
};

/// Runs task instances in `slots` threads. Each slot claims one task at a time;
/// a slot that finishes a task claims the next at once, so a chain of tasks
/// runs without waiting for any poll.
class Worker {
 public:
  Worker(Store& store, DagCache& dags, const Clock& clock, ProcessLauncher& launcher,
         const Config& config, WorkerOptions options, WorkSignal* signal = nullptr);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  const std::string& id() const { return options_.worker_id; }

  /// Registers, runs slots and heartbeats until `stop` is set, then drains:
  /// claims nothing more and returns once running tasks have finished.
  void run(const std::atomic<bool>& stop);

  /// Claims and runs at most one task in the calling thread. Returns false
  /// when nothing was claimable. For `tasks test`-like callers and tests.
  bool run_one();

  /// Process groups of earlier workers on this host whose worker is gone are
  /// killed, so that a lost try never runs twice at once. Returns how many.
  int kill_orphaned_processes();

  /// Terminates every try running now (a second Ctrl-C); their results are
  /// reported as failed.
  void cancel_running();

 private:
  void slot_loop(const std::atomic<bool>& stop);
  void heartbeat_loop(const std::atomic<bool>& stop);
  void execute(const ClaimedTask& claimed);
  /// Expands a mapped task's claimed placeholder into its instances. Returns
  /// false, with `outcome` set, when it must end instead (no items: skipped;
  /// over scheduler.map_limit: failed).
  bool expand_mapped(const ClaimedTask& claimed, const Task& task,
                     const nlohmann::json& context, LogWriter& log, TaskOutcome& outcome);

  Store& store_;
  DagCache& dags_;
  const Clock& clock_;
  ProcessLauncher& launcher_;
  const Config& config_;
  WorkerOptions options_;
  WorkSignal* signal_;

  /// Tries running now, by task instance id, with their cancel flags.
  std::mutex mu_;
  std::map<int64_t, std::shared_ptr<std::atomic<bool>>> running_;  // GUARDED_BY(mu_)
  std::atomic<bool> draining_{false};
};

}  // namespace sluice
