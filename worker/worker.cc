#include "worker/worker.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <set>
#include <fstream>
#include <thread>

#include "core/config.h"
#include "core/dag.h"
#include "core/error.h"
#include "core/host.h"
#include "core/log.h"
#include "core/outage.h"
#include "core/store.h"
#include "core/template.h"
#include "core/work_signal.h"
#include "engine/alerts.h"
#include "engine/dag_cache.h"
#include "engine/readiness.h"
#include "engine/run_factory.h"
#include "worker/executor.h"
#include "worker/mapping.h"
#include "worker/task_runner.h"
#include "worker/template_context.h"

namespace sluice {
namespace {


/// Streams a try's log to the store in chunks: at most one write per flush
/// interval, and the last chunk rides along with the finish transaction.
class StoreLogWriter : public LogWriter {
 public:
  StoreLogWriter(Store& store, const Clock& clock, int64_t ti_id, int try_number,
                 Millis flush_interval, int64_t max_bytes)
      : store_(store),
        clock_(clock),
        ti_id_(ti_id),
        try_number_(try_number),
        flush_interval_(flush_interval),
        max_bytes_(max_bytes),
        last_flush_(clock.now()) {}

  void write(std::string_view text) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (truncated_) return;
    if (written_ + static_cast<int64_t>(text.size()) > max_bytes_) {
      text = text.substr(0, static_cast<size_t>(std::max<int64_t>(0, max_bytes_ - written_)));
      truncated_ = true;
    }
    buffer_.append(text);
    tail_.append(text);
    if (tail_.size() > 2 * kTailBytes) tail_.erase(0, tail_.size() - kTailBytes);
    written_ += static_cast<int64_t>(text.size());
    if (truncated_) {
      buffer_ += "\n" + std::string(kLogTruncatedNote) + "this try wrote more than " +
                 std::to_string(max_bytes_) +
                 " bytes (logs.max_bytes_per_try); later output was dropped\n";
    }
    Timestamp now = clock_.now();
    if (buffer_.size() >= 256 * 1024 || now - last_flush_ >= flush_interval_) {
      flush_locked(now);
    }
  }

  /// The try's last bytes written (for alerts' log excerpts).
  std::string tail() {
    std::lock_guard<std::mutex> lock(mu_);
    return tail_.size() > kTailBytes ? tail_.substr(tail_.size() - kTailBytes) : tail_;
  }

  /// What is left to store, and its sequence number, for the finish transaction.
  std::pair<std::string, int> take_rest() {
    std::lock_guard<std::mutex> lock(mu_);
    return {std::move(buffer_), seq_};
  }

 private:
  void flush_locked(Timestamp now) {
    last_flush_ = now;
    if (buffer_.empty()) return;
    try {
      store_.append_log(ti_id_, try_number_, seq_, buffer_);
      ++seq_;
      buffer_.clear();
    } catch (const StoreError& e) {
      // Keep the bytes; they go with the next flush or the finish.
    }
  }

  Store& store_;
  const Clock& clock_;
  int64_t ti_id_;
  int try_number_;
  Millis flush_interval_;
  int64_t max_bytes_;
  std::mutex mu_;
  static constexpr size_t kTailBytes = 8192;
  std::string buffer_;  // GUARDED_BY(mu_)
  std::string tail_;    // GUARDED_BY(mu_)
  int seq_ = 0;
  int64_t written_ = 0;
  bool truncated_ = false;
  Timestamp last_flush_;
};

bool process_alive(int pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

/// Ends a mapped task's placeholder without running it (no items, too many).
class MapExpansionError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace

bool Worker::expand_mapped(const ClaimedTask& claimed, const Task& task,
                           const nlohmann::json& context, LogWriter& log, TaskOutcome& outcome) {
  const TaskInstanceRecord& ti = claimed.task;
  const int limit = config_.scheduler.map_limit;
  std::vector<nlohmann::json> items = render_map_items(task, context, limit);
  if (items.empty()) {
    outcome.status = TaskOutcome::Status::kSkipped;
    outcome.error = "map produced no items: nothing to run";
    log.write("[sluice] " + outcome.error + "\n");
    return false;
  }
  if (static_cast<int>(items.size()) > limit) {
    outcome.status = TaskOutcome::Status::kFailed;
    outcome.error = "map produced more than " + std::to_string(limit) +
                    " items (the limit, scheduler.map_limit in sluice.yaml); narrow the list "
                    "or raise the limit";
    return false;
  }
  Timestamp now = clock_.now();
  Millis backoff{100};
  while (true) {
    try {
      Decider decider = make_decider(dags_.get(claimed.run.version_id),
                                     dags_.index(claimed.run.version_id), now);
      FinishOutcome expanded =
          store_.expand_mapped_task(ti.id, ti.try_number, options_.worker_id, items, decider, now);
      if (signal_ && expanded.queued > 0) signal_->notify();
      if (runs_signal_ && expanded.run_state) runs_signal_->notify();
      log_info("worker", ti.dag_id + " " + ti.run_id + " " + ti.task_id + ": mapped into " +
                             std::to_string(items.size()) + " instances");
      return true;
    } catch (const ConflictError&) {
      log_info("worker", ti.dag_id + " " + ti.run_id + " " + ti.task_id +
                             ": canceled or taken over before its expansion; dropped");
      return true;
    } catch (const StoreError& e) {
      if (!e.retryable()) throw;
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, Millis(5000));
    }
  }
}

Worker::Worker(Store& store, DagCache& dags, const Clock& clock, ProcessLauncher& launcher,
               const Config& config, WorkerOptions options, WorkSignal* signal,
               WorkSignal* runs_signal)
    : store_(store),
      dags_(dags),
      clock_(clock),
      launcher_(launcher),
      config_(config),
      options_(std::move(options)),
      signal_(signal),
      runs_signal_(runs_signal) {
  if (options_.worker_id.empty()) {
    options_.worker_id = host_name() + ":" + std::to_string(getpid());
  }
  if (options_.slots < 1) options_.slots = 1;
}

Worker::~Worker() = default;

void Worker::run(const std::atomic<bool>& stop) {
  WorkerRecord record;
  record.id = options_.worker_id;
  record.host = host_name();
  record.pid = getpid();
  record.slots = options_.slots;
  record.queues = options_.queues;
  record.started_at = clock_.now();
  record.last_heartbeat = record.started_at;
  store_.register_worker(record);
  kill_orphaned_processes();
  log_info("worker", "worker " + options_.worker_id + " started with " +
                         std::to_string(options_.slots) + " slots");

  std::atomic<bool> heartbeat_stop{false};
  std::thread heartbeat([&] { heartbeat_loop(heartbeat_stop); });
  std::vector<std::thread> slots;
  for (int i = 0; i < options_.slots; ++i) slots.emplace_back([&] { slot_loop(stop); });
  for (auto& t : slots) t.join();
  draining_ = true;
  heartbeat_stop = true;
  if (signal_) signal_->notify();
  heartbeat.join();
  try {
    store_.set_worker_state(options_.worker_id, "stopped");
  } catch (const StoreError& e) {
    log_warn("worker", std::string("could not record the stop: ") + e.what());
  }
  log_info("worker", "worker " + options_.worker_id + " stopped");
}

void Worker::slot_loop(const std::atomic<bool>& stop) {
  Millis wait{1};
  uint64_t seen = signal_ ? signal_->generation() : 0;
  bool store_down = false;
  while (!stop.load()) {
    bool ran = false;
    try {
      ran = run_chain(stop);
      if (store_down) StoreOutage::up("worker");
      store_down = false;
    } catch (const StoreError& e) {
      // A worker cut off from the store claims nothing more, finishes what it
      // runs and reports when the store is back (execute() retries).
      StoreOutage::down("worker", e.what());
      store_down = true;
      wait = std::max(wait, Millis(500));
    }
    if (ran) {
      wait = Millis(1);
      continue;
    }
    if (signal_) {
      seen = signal_->wait(seen, wait);
    } else {
      std::this_thread::sleep_for(wait);
    }
    wait = std::min(wait * 2, options_.poll_interval);
  }
}

void Worker::heartbeat_loop(const std::atomic<bool>& stop) {
  bool store_down = false;
  while (!stop.load()) {
    try {
      store_.heartbeat_worker(options_.worker_id, clock_.now());
      std::vector<int64_t> ids;
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (const auto& [id, flag] : running_) ids.push_back(id);
      }
      if (!ids.empty()) {
        for (int64_t id : store_.tasks_to_stop(options_.worker_id, ids)) {
          std::lock_guard<std::mutex> lock(mu_);
          auto it = running_.find(id);
          if (it != running_.end()) it->second->store(true);
        }
      }
      if (lost_claim_possible_.exchange(false)) recover_lost_claims();
      if (store_down) StoreOutage::up("worker");
      store_down = false;
    } catch (const StoreError& e) {
      lost_claim_possible_ = true;  // look again once the store answers
      StoreOutage::down("worker", std::string("heartbeat failed: ") + e.what());
      store_down = true;
    }
    kill_orphaned_processes();
    auto deadline = std::chrono::steady_clock::now() + options_.heartbeat_interval;
    while (!stop.load() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::min(Millis(50), options_.heartbeat_interval));
    }
  }
}

ClaimRequest Worker::claim_request() const {
  ClaimRequest request;
  request.worker_id = options_.worker_id;
  request.queues = options_.queues;
  request.now = clock_.now();
  request.max_tasks = 1;
  return request;
}

void Worker::recover_lost_claims() {
  // A report whose commit went unanswered may have claimed a task that no
  // slot runs. No process ever ran that try, so it is handed back: queued
  // again with the same try number, neither failed nor left running.
  for (const TaskInstanceRecord& ti : store_.running_on_worker(options_.worker_id)) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (running_.count(ti.id)) continue;
    }
    // A claim that just returned may not have reached its slot yet.
    if (!ti.started_at || clock_.now() - *ti.started_at < options_.lost_claim_grace) {
      lost_claim_possible_ = true;  // look again on a later heartbeat
      continue;
    }
    if (store_.release_claim(ti.id, ti.try_number, options_.worker_id)) {
      log_warn("worker", ti.dag_id + " " + ti.run_id + " " + ti.task_id + ": try " +
                             std::to_string(ti.try_number) +
                             " was claimed while the database connection failed and never "
                             "started; it is queued again");
    }
  }
}

std::vector<ClaimedTask> Worker::claim() {
  try {
    return store_.claim_tasks(claim_request());
  } catch (const StoreError&) {
    // The claim may have committed before its answer was lost: tasks would
    // then run as this worker's with no slot running them.
    lost_claim_possible_ = true;
    throw;
  }
}

bool Worker::run_one() {
  if (draining_) return false;
  std::vector<ClaimedTask> claimed = claim();
  if (claimed.empty()) return false;
  for (const ClaimedTask& task : claimed) execute(task, /*claim_next=*/false);
  return true;
}

bool Worker::run_chain(const std::atomic<bool>& stop) {
  if (draining_) return false;
  std::vector<ClaimedTask> claimed = claim();
  if (claimed.empty()) return false;
  std::optional<ClaimedTask> next = std::move(claimed.front());
  while (next) next = execute(*next, !stop.load() && !draining_);
  return true;
}

int Worker::kill_orphaned_processes() {
  // Every task process carries SLUICE_WORKER_PID (worker/shell_executor.cc).
  // A process whose worker is gone is an orphan of a lost try: its group is
  // killed so that the retry never runs beside it. Reading the environment
  // from /proc needs no bookkeeping that a SIGKILL could cut short.
  std::error_code ec;
  int killed = 0;
  const pid_t self = getpid();
  const pid_t own_group = getpgid(0);
  std::set<pid_t> groups;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    std::ifstream in(entry.path() / "environ", std::ios::binary);
    if (!in) continue;
    std::string env((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    static const std::string kKey = std::string("SLUICE_WORKER_PID=");
    size_t at = env.find(kKey);
    if (at == std::string::npos || (at > 0 && env[at - 1] != '\0')) continue;
    pid_t owner = static_cast<pid_t>(std::atoi(env.c_str() + at + kKey.size()));
    if (owner <= 0 || owner == self || process_alive(owner)) continue;
    pid_t pgid = getpgid(std::stoi(name));
    if (pgid > 1 && pgid != own_group) groups.insert(pgid);
  }
  for (pid_t pgid : groups) {
    if (kill_process_group(pgid, options_.kill_grace)) {
      ++killed;
      log_warn("worker", "killed process group " + std::to_string(pgid) +
                             " left running by a worker that is gone");
    }
  }
  return killed;
}

void Worker::cancel_running() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, flag] : running_) flag->store(true);
}

std::optional<ClaimedTask> Worker::execute(const ClaimedTask& claimed, bool claim_next) {
  const TaskInstanceRecord& ti = claimed.task;
  const RunRecord& run = claimed.run;
  std::shared_ptr<std::atomic<bool>> cancel;
  {
    // A task claimed with the previous report is registered already.
    std::lock_guard<std::mutex> lock(mu_);
    auto& flag = running_[ti.id];
    if (!flag) flag = std::make_shared<std::atomic<bool>>(false);
    cancel = flag;
  }
  StoreLogWriter stored_log(store_, clock_, ti.id, ti.try_number, options_.log_flush_interval,
                            options_.max_log_bytes_per_try);
  // Everything the try writes is masked before it is stored.
  std::vector<std::string> secrets = config_.secrets();
  MaskingLogWriter log(stored_log, secrets);
  std::shared_ptr<const Dag> dag;
  const Task* task = nullptr;
  TaskOutcome outcome;
  bool no_retry = false;
  try {
    dag = dags_.get(run.version_id);
    secrets = task_secrets(config_, *dag);
    log.set_secrets(secrets);
    task = dags_.index(run.version_id)->find_task(*dag, ti.task_id);
    if (!task) throw UserError("task '" + ti.task_id + "' is not in this run's DAG version");
    std::unique_ptr<TaskExecutor> executor = make_executor(task->type);
    if (!executor) {
      throw UserError("task type '" + task->type + "' cannot run on this version of sluice yet");
    }
    auto upstream_outputs = [&] {
      // A mapped task's outputs are a list, one entry per instance in map order.
      return collect_outputs(store_.list_task_instances(run.id));
    };
    nlohmann::json context =
        build_template_context(*dag, *task, run, ti.try_number, config_, upstream_outputs);
    if (task->map && ti.map_index < 0) {
      // The placeholder of a mapped task: its upstream tasks are done, so the
      // items are known now. Expand (or skip / fail) instead of running.
      if (expand_mapped(claimed, *task, context, log, outcome)) {
        std::lock_guard<std::mutex> lock(mu_);
        running_.erase(ti.id);
        return std::nullopt;
      }
      throw MapExpansionError(outcome.error);
    }
    if (ti.map_index >= 0) {
      context["item"] = store_.get_map_item(ti.id);
      context["map_index"] = ti.map_index;
    }
    TaskContext ctx{*dag, *task, run, ti.try_number, context, config_, log, *cancel, launcher_,
                    task->is_sensor() ? std::nullopt : task->timeout, {},
                    ti.first_started_at, &clock_};
    ctx.store = &store_;
    outcome = executor->execute(ctx);
  } catch (const MapExpansionError& e) {
    // Skipped (no items) or failed for good (too many): set by expand_mapped.
    no_retry = outcome.status == TaskOutcome::Status::kFailed;
  } catch (const Error& e) {
    outcome.status = TaskOutcome::Status::kFailed;
    outcome.error = e.what();
  } catch (const std::exception& e) {
    outcome.status = TaskOutcome::Status::kFailed;
    outcome.error = std::string("internal error: ") + e.what();
  }

  Timestamp now = clock_.now();
  TaskResult result;
  result.ti_id = ti.id;
  result.task_id = ti.task_id;
  result.try_number = ti.try_number;
  result.worker_id = options_.worker_id;
  result.exit_code = outcome.exit_code;
  result.outputs = mask_secrets_json(outcome.outputs, secrets);
  result.error = mask_secrets(outcome.error, secrets);
  result.ended_at = now;
  result.checks = outcome.checks;
  for (CheckResultRecord& c : result.checks) c.actual = mask_secrets(c.actual, secrets);
  if (!outcome.rendered.is_null()) result.rendered = mask_secrets_json(outcome.rendered, secrets);
  switch (outcome.status) {
    case TaskOutcome::Status::kSuccess:
      result.state = TaskState::kSuccess;
      if (outcome.watermark) {
        result.watermark = outcome.watermark;
        result.watermark->dag_id = ti.dag_id;
        result.watermark->task_id = ti.task_id;
        result.watermark->run_id = run.run_id;
      }
      break;
    case TaskOutcome::Status::kSkipped:
      result.state = TaskState::kSkipped;
      break;
    case TaskOutcome::Status::kReschedule:
      result.state = TaskState::kUpForReschedule;
      result.next_try_at = outcome.reschedule_at ? outcome.reschedule_at : now;
      break;
    case TaskOutcome::Status::kFailed: {
      // A sensor's timeout bounds its whole wait: a timed-out sensor is not retried.
      bool retryable = task && !outcome.canceled && !no_retry &&
                       !(task->is_sensor() && outcome.timed_out);
      RetryDecision retry = retryable
                                ? decide_retry(task->retry, ti.try_number, ti.max_tries, now)
                                : RetryDecision{};
      result.state = retry.state;
      result.next_try_at = retry.next_try_at;
      std::string note = "\n[sluice] try " + std::to_string(ti.try_number) + " failed: " +
                         result.error;
      if (retry.next_try_at) note += "; retrying at " + format_iso(*retry.next_try_at);
      log.write(note + "\n");
      break;
    }
  }
  result.frees_next_interval =
      task && task->depends_on_past &&
      (result.state == TaskState::kSuccess || result.state == TaskState::kSkipped);
  log.finish();
  std::vector<AlertEvent> alerts;
  if (dag) {
    alerts = try_alerts(*dag, *alert_policy(), run, ti.task_id, ti.try_number, result.state,
                        result.error, stored_log.tail());
    for (AlertEvent& a : check_warning_alerts(*dag, *alert_policy(), run, ti.task_id,
                                              ti.try_number, result.checks)) {
      alerts.push_back(std::move(a));
    }
  }
  auto [rest, seq] = stored_log.take_rest();
  result.final_log = std::move(rest);
  result.final_log_seq = seq;

  if (claim_next) {
    result.claim_next = claim_request();
    result.claim_next->now = now;
  }
  std::optional<ClaimedTask> next;
  Millis backoff{100};
  bool reported_outage = false;
  while (true) {
    try {
      Decider decider =
          dag ? with_alerts(make_decider(dag, dags_.index(run.version_id), now), alerts)
              : Decider{};
      if (!decider.decide) {
        decider.decide = [](const RunSnapshot&) { return RunDecisions{}; };
      }
      FinishOutcome finished = store_.finish_task(result, decider);
      if (!finished.claimed.empty()) next = std::move(finished.claimed.front());
      bool left_queued = result.claim_next ? finished.more_queued : finished.queued > 0;
      if (signal_ && left_queued) signal_->notify();
      bool waits = result.state == TaskState::kUpForRetry ||
                   result.state == TaskState::kUpForReschedule;
      if (runs_signal_ &&
          (finished.run_state || waits || !alerts.empty() || result.frees_next_interval)) {
        runs_signal_->notify();
      }
      if (reported_outage) log_info("worker", "reported " + ti.task_id + " after the outage");
      break;
    } catch (const ConflictError&) {
      log_info("worker", ti.dag_id + " " + ti.run_id + " " + ti.task_id +
                             ": this try was canceled or taken over meanwhile; result dropped");
      break;
    } catch (const StoreError& e) {
      if (!e.retryable()) {
        log_error("worker", "cannot report " + ti.task_id + ": " + e.what());
        break;
      }
      if (!reported_outage) {
        StoreOutage::down("worker", "cannot report " + ti.task_id + " yet: " + e.what());
      }
      // The failed attempt may have committed, claim included: claim nothing
      // more on this report; a claim lost that way is handed back by
      // recover_lost_claims.
      if (result.claim_next) lost_claim_possible_ = true;
      result.claim_next.reset();
      reported_outage = true;
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, Millis(5000));
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  running_.erase(ti.id);
  if (next) running_[next->task.id] = std::make_shared<std::atomic<bool>>(false);
  return next;
}

}  // namespace sluice
