#pragma once
// A store that fails on demand, for tests of the code that uses a store (the
// scheduler loop, workers): a call named by fail_next throws StoreError
// either before it reaches the real store (nothing happened) or after it
// (the change was committed, but the caller hears of a failure, as when a
// connection drops before the commit's answer arrives).

#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <type_traits>

#include "core/error.h"
#include "core/store_wrapper.h"

namespace sluice::testing {

class FaultStore final : public StoreWrapper {
 public:
  enum class When { kBefore, kAfter };

  using StoreWrapper::StoreWrapper;

  /// The next `count` calls of `method` (its name in Store) fail `when`.
  void fail_next(const std::string& method, int count = 1, When when = When::kBefore) {
    std::lock_guard<std::mutex> lock(mu_);
    planned_[method] = {count, when};
  }

  /// From now on each faultable call fails with probability `rate`, before
  /// or after at random, except that calls in `before_only` fail only before.
  void fail_at_random(double rate, uint64_t seed, std::set<std::string> before_only = {}) {
    std::lock_guard<std::mutex> lock(mu_);
    rate_ = rate;
    rng_.seed(seed);
    before_only_ = std::move(before_only);
  }

  /// How many calls of `method` have failed so far.
  int failures(const std::string& method) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = failures_.find(method);
    return it == failures_.end() ? 0 : it->second;
  }

  std::optional<RunRecord> create_run(const NewRun& run, const Decider& decider,
                                      Timestamp now) override {
    return call("create_run", [&] { return inner().create_run(run, decider, now); });
  }
  std::vector<RunRecord> list_unfinished_runs() override {
    return call("list_unfinished_runs", [&] { return inner().list_unfinished_runs(); });
  }
  RunDecisions reconcile_run(int64_t run_pk, const Decider& decider, Timestamp now) override {
    return call("reconcile_run", [&] { return inner().reconcile_run(run_pk, decider, now); });
  }
  std::vector<ClaimedTask> claim_tasks(const ClaimRequest& request) override {
    return call("claim_tasks", [&] { return inner().claim_tasks(request); });
  }
  FinishOutcome finish_task(const TaskResult& result, const Decider& decider) override {
    return call("finish_task", [&] { return inner().finish_task(result, decider); });
  }
  void append_log(int64_t ti_id, int try_number, int seq, const std::string& data) override {
    call("append_log", [&] {
      inner().append_log(ti_id, try_number, seq, data);
      return 0;
    });
  }
  void heartbeat_worker(const std::string& worker_id, Timestamp now) override {
    call("heartbeat_worker", [&] {
      inner().heartbeat_worker(worker_id, now);
      return 0;
    });
  }

 private:
  struct Plan {
    int count = 0;
    When when = When::kBefore;
  };

  /// Whether this call of `method` fails, and when.
  std::optional<When> fault(const std::string& method) {
    std::lock_guard<std::mutex> lock(mu_);
    std::optional<When> when;
    auto planned = planned_.find(method);
    if (planned != planned_.end() && planned->second.count > 0) {
      --planned->second.count;
      when = planned->second.when;
    } else if (rate_ > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < rate_) {
      bool after = !before_only_.count(method) && std::bernoulli_distribution(0.5)(rng_);
      when = after ? When::kAfter : When::kBefore;
    }
    if (when) ++failures_[method];
    return when;
  }

  template <typename F>
  std::invoke_result_t<F> call(const std::string& method, F&& f) {
    std::optional<When> when = fault(method);
    if (when == When::kBefore) throw StoreError("injected fault before " + method, true);
    auto result = f();
    if (when == When::kAfter) throw StoreError("injected fault after " + method, true);
    return result;
  }

  mutable std::mutex mu_;
  std::map<std::string, Plan> planned_;    // GUARDED_BY(mu_)
  std::map<std::string, int> failures_;    // GUARDED_BY(mu_)
  double rate_ = 0;                        // GUARDED_BY(mu_)
  std::mt19937_64 rng_;                    // GUARDED_BY(mu_)
  std::set<std::string> before_only_;      // GUARDED_BY(mu_)
};

}  // namespace sluice::testing
