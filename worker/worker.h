#pragma once
// The worker: claims queued task instances, runs them, reports back.

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/store.h"

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
  // How long a claimed try may wait for its slot before a claim whose answer
  // was lost hands it back (see Worker::recover_lost_claims).
  Millis lost_claim_grace{10000};
};

/// Runs task instances in `slots` threads. Each slot claims one task at a time;
/// a slot that finishes a task claims its next one in the same transaction,
/// so a chain of tasks runs without waiting for any poll or extra commit.
/// `signal` wakes idle slots (tasks queued) and is notified when tasks are
/// left queued for other slots; `runs_signal`, when set, is notified when a
/// run changed state or a task waits for a retry (an in-process scheduler).
class Worker {
 public:
  Worker(Store& store, DagCache& dags, const Clock& clock, ProcessLauncher& launcher,
         const Config& config, WorkerOptions options, WorkSignal* signal = nullptr,
         WorkSignal* runs_signal = nullptr);
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
  /// Claims a task and runs it, then each task claimed with the previous
  /// one's report, until none is left or `stop` is set. False: none claimed.
  bool run_chain(const std::atomic<bool>& stop);
  ClaimRequest claim_request() const;
  /// Claims tasks for one slot; on a store error, notes that a claim may
  /// have been lost (see recover_lost_claims) and rethrows.
  std::vector<ClaimedTask> claim();
  /// Ends tries running as this worker in the store that no slot runs (a
  /// claim whose commit went unanswered); see execute().
  void recover_lost_claims();
  void heartbeat_loop(const std::atomic<bool>& stop);
  /// Runs the claimed try and reports it. With `claim_next`, the report also
  /// claims this slot's next task, which is returned.
  std::optional<ClaimedTask> execute(const ClaimedTask& claimed, bool claim_next);
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
  WorkSignal* runs_signal_;

  /// Tries running now, by task instance id, with their cancel flags.
  std::mutex mu_;
  std::map<int64_t, std::shared_ptr<std::atomic<bool>>> running_;  // GUARDED_BY(mu_)
  std::atomic<bool> draining_{false};
  std::atomic<bool> lost_claim_possible_{false};
};

}  // namespace sluice
