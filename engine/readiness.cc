#include "engine/readiness.h"

#include <algorithm>
#include <string>
#include <vector>

namespace sluice {
namespace {

/// How the instances of a task's upstream tasks stand. Every instance counts
/// on its own (as Airflow counts each mapped instance); canceled counts as
/// failed, since nothing it was meant to produce exists.
struct UpstreamCounts {
  int total = 0;
  int success = 0;
  int failed = 0;  // failed, upstream_failed or canceled
  int skipped = 0;
  int done = 0;

  void add(const UpstreamCounts& other) {
    total += other.total;
    success += other.success;
    failed += other.failed;
    skipped += other.skipped;
    done += other.done;
  }
};

UpstreamCounts count_states(const std::vector<TaskState>& states, const std::vector<int>& members,
                            size_t begin, size_t end) {
  UpstreamCounts counts;
  if (begin == end) {
    // A task without instances (a mapped task over nothing) counts as one
    // skipped upstream, as Airflow treats an empty expansion.
    counts.total = counts.skipped = counts.done = 1;
    return counts;
  }
  for (size_t i = begin; i < end; ++i) {
    TaskState s = states[members[i]];
    ++counts.total;
    if (is_finished(s)) ++counts.done;
    if (s == TaskState::kSuccess) ++counts.success;
    if (s == TaskState::kSkipped) ++counts.skipped;
    if (s == TaskState::kFailed || s == TaskState::kUpstreamFailed || s == TaskState::kCanceled) {
      ++counts.failed;
    }
  }
  return counts;
}

enum class Verdict { kWait, kReady, kSkip, kUpstreamFailed };

// Airflow's trigger rules, including when they mark a task skipped or
// upstream_failed before every upstream is done (all_success with one failed
// upstream cannot hold any more, whatever the others do).
Verdict evaluate(TriggerRule rule, const UpstreamCounts& c) {
  const bool all_done = c.done == c.total;
  switch (rule) {
    case TriggerRule::kAlways:
      return Verdict::kReady;
    case TriggerRule::kAllSuccess:
      if (c.failed > 0) return Verdict::kUpstreamFailed;
      if (c.skipped > 0) return Verdict::kSkip;
      return c.success == c.total ? Verdict::kReady : Verdict::kWait;
    case TriggerRule::kAllFailed:
      if (c.success > 0 || c.skipped > 0) return Verdict::kSkip;
      return c.failed == c.total ? Verdict::kReady : Verdict::kWait;
    case TriggerRule::kAllDone:
      return all_done ? Verdict::kReady : Verdict::kWait;
    case TriggerRule::kOneSuccess:
      if (c.success > 0) return Verdict::kReady;
      if (!all_done) return Verdict::kWait;
      return c.skipped == c.total ? Verdict::kSkip : Verdict::kUpstreamFailed;
    case TriggerRule::kOneFailed:
      if (c.failed > 0) return Verdict::kReady;
      return all_done ? Verdict::kSkip : Verdict::kWait;
    case TriggerRule::kNoneFailed:
      if (c.failed > 0) return Verdict::kUpstreamFailed;
      return all_done ? Verdict::kReady : Verdict::kWait;
    case TriggerRule::kNoneFailedMinOneSuccess:
      if (c.failed > 0) return Verdict::kUpstreamFailed;
      if (!all_done) return Verdict::kWait;
      return c.success > 0 ? Verdict::kReady : Verdict::kSkip;
    case TriggerRule::kNoneSkipped:
      if (c.skipped > 0) return Verdict::kSkip;
      return all_done ? Verdict::kReady : Verdict::kWait;
  }
  return Verdict::kWait;
}

std::string describe(const UpstreamCounts& c) {
  std::string text;
  auto part = [&](int n, const char* what) {
    if (n == 0) return;
    if (!text.empty()) text += ", ";
    text += std::to_string(n) + " " + what;
  };
  part(c.success, "success");
  part(c.failed, "failed");
  part(c.skipped, "skipped");
  part(c.total - c.done, "unfinished");
  return text;
}

bool is_retry_wait(TaskState s) {
  return s == TaskState::kUpForRetry || s == TaskState::kUpForReschedule;
}

}  // namespace

DagIndex DagIndex::build(const Dag& dag) {
  DagIndex index;
  const int n = static_cast<int>(dag.tasks.size());
  index.ids.reserve(n);
  index.rules.reserve(n);
  index.depends_on_past.reserve(n);
  index.index_of.reserve(n);
  for (int i = 0; i < n; ++i) {
    const Task& task = dag.tasks[i];
    index.ids.push_back(task.id);
    index.rules.push_back(task.trigger_rule);
    index.depends_on_past.push_back(task.depends_on_past);
    if (task.depends_on_past) index.any_depends_on_past = true;
    index.map_concurrency.push_back(task.map ? task.max_map_concurrency : 0);
    index.index_of.emplace(task.id, i);
  }
  // Upstream lists, packed; and the number of upstreams each task waits on.
  index.upstream_begin.assign(n + 1, 0);
  std::vector<int> downstream_count(n + 1, 0);
  for (int i = 0; i < n; ++i) {
    for (const std::string& up : dag.tasks[i].depends_on) {
      auto found = index.index_of.find(up);
      if (found == index.index_of.end() || found->second == i)
        continue;  // the loader rejects these
      index.upstream.push_back(found->second);
      ++downstream_count[found->second + 1];
    }
    index.upstream_begin[i + 1] = static_cast<int>(index.upstream.size());
  }
  // Downstream lists, packed, for Kahn's algorithm.
  for (int i = 0; i < n; ++i) downstream_count[i + 1] += downstream_count[i];
  std::vector<int> downstream(index.upstream.size());
  std::vector<int> fill(downstream_count.begin(), downstream_count.end() - 1);
  std::vector<int> waiting_on(n, 0);
  for (int i = 0; i < n; ++i) {
    for (int k = index.upstream_begin[i]; k < index.upstream_begin[i + 1]; ++k) {
      downstream[fill[index.upstream[k]]++] = i;
      ++waiting_on[i];
    }
  }
  index.downstream_begin = downstream_count;
  index.downstream = downstream;
  // scope_is_downstream, for every task at once: `mark[i] == t + 1` when i is
  // t or downstream of t. A capped mapped task's scope holds its own upstream
  // tasks too (scope_after), so it is never downstream-only.
  index.scope_downstream_only.assign(n, true);
  std::vector<int> mark(n, 0);
  for (int t = 0; t < n; ++t) {
    if (index.map_concurrency[t] > 0 && index.upstream_begin[t] != index.upstream_begin[t + 1]) {
      index.scope_downstream_only[t] = false;
    }
    mark[t] = t + 1;
    for (int k = downstream_count[t]; k < downstream_count[t + 1]; ++k) mark[downstream[k]] = t + 1;
    for (int k = downstream_count[t]; k < downstream_count[t + 1] && index.scope_downstream_only[t];
         ++k) {
      const int d = downstream[k];
      for (int u = index.upstream_begin[d]; u < index.upstream_begin[d + 1]; ++u) {
        if (mark[index.upstream[u]] != t + 1) {
          index.scope_downstream_only[t] = false;
          break;
        }
      }
    }
  }
  // Ready tasks are taken in file order.
  index.order.reserve(n);
  for (int i = 0; i < n; ++i) {
    if (waiting_on[i] == 0) index.order.push_back(i);
  }
  for (size_t head = 0; head < index.order.size(); ++head) {
    int t = index.order[head];
    for (int k = downstream_count[t]; k < downstream_count[t + 1]; ++k) {
      if (--waiting_on[downstream[k]] == 0) index.order.push_back(downstream[k]);
    }
  }
  // A cycle (which the loader rejects) leaves its tasks out; append them so
  // that they are still looked at, just without the one-pass guarantee.
  if (static_cast<int>(index.order.size()) < n) {
    for (int i = 0; i < n; ++i) {
      if (waiting_on[i] > 0) index.order.push_back(i);
    }
  }
  return index;
}

std::vector<std::string> DagIndex::scope_after(const std::string& task_id) const {
  auto found = index_of.find(task_id);
  if (found == index_of.end()) return {};
  const int t = found->second;
  std::vector<char> in(ids.size(), 0);
  std::vector<std::string> out;
  auto add = [&](int i) {
    if (!in[i]) {
      in[i] = 1;
      out.push_back(ids[i]);
    }
  };
  add(t);
  // A capped mapped task queues its next waiting instance when one ends: it
  // is decided again, so its own upstream tasks are read too.
  if (map_concurrency[t] > 0) {
    for (int u = upstream_begin[t]; u < upstream_begin[t + 1]; ++u) add(upstream[u]);
  }
  for (int k = downstream_begin[t]; k < downstream_begin[t + 1]; ++k) {
    const int d = downstream[k];
    add(d);
    for (int u = upstream_begin[d]; u < upstream_begin[d + 1]; ++u) add(upstream[u]);
  }
  return out;
}

const Task* DagIndex::find_task(const Dag& dag, const std::string& task_id) const {
  auto found = index_of.find(task_id);
  return found == index_of.end() ? nullptr : &dag.tasks[found->second];
}

bool DagIndex::scope_is_downstream(const std::string& task_id) const {
  auto found = index_of.find(task_id);
  return found != index_of.end() && scope_downstream_only[found->second];
}

RunDecisions decide_run(const Dag& dag, const RunSnapshot& snapshot, Timestamp now,
                        bool start_run) {
  return decide_run(dag, DagIndex::build(dag), snapshot, now, start_run);
}

RunDecisions decide_run(const Dag& /*dag*/, const DagIndex& index, const RunSnapshot& snapshot,
                        Timestamp now, bool start_run) {
  RunDecisions decisions;
  const RunState run_state = snapshot.run.state;
  if (is_finished(run_state)) return decisions;
  if (run_state == RunState::kQueued) {
    if (!start_run) return decisions;
    decisions.run_state = RunState::kRunning;
  }

  const auto& views = snapshot.tasks;
  const int task_count = static_cast<int>(index.ids.size());
  std::vector<TaskState> states(views.size());
  std::vector<std::string> errors(views.size());
  for (size_t i = 0; i < views.size(); ++i) states[i] = views[i].state;

  // Instances grouped by task (a counting sort): members[begin[t]..begin[t+1]).
  std::vector<int> task_of(views.size(), -1);
  std::vector<size_t> begin(task_count + 1, 0);
  int guess = 0;  // stores list instances in task order: try that before hashing
  for (size_t i = 0; i < views.size(); ++i) {
    int t = -1;
    const std::string& id = views[i].task_id;
    if (guess > 0 && index.ids[guess - 1] == id) {
      t = guess - 1;  // another instance of the same mapped task
    } else if (guess < task_count && index.ids[guess] == id) {
      t = guess;
    } else {
      auto found = index.index_of.find(id);
      if (found == index.index_of.end()) continue;  // not in this version: only counts for the end
      t = found->second;
    }
    guess = t + 1;
    task_of[i] = t;
    ++begin[t + 1];
  }
  for (int t = 0; t < task_count; ++t) begin[t + 1] += begin[t];
  std::vector<int> members(begin[task_count]);
  {
    std::vector<size_t> fill(begin.begin(), begin.end() - 1);
    for (size_t i = 0; i < views.size(); ++i) {
      if (task_of[i] >= 0) members[fill[task_of[i]]++] = static_cast<int>(i);
    }
  }

  // Retries that are due. They stay unfinished, so they change nothing
  // downstream and can go first.
  for (size_t i = 0; i < views.size(); ++i) {
    if (is_retry_wait(states[i]) && (!views[i].next_try_at || *views[i].next_try_at <= now)) {
      states[i] = TaskState::kQueued;
    }
  }

  // A partial snapshot holds some tasks of the run only (Decider::scope),
  // and a task is decided only when it and every one of its upstream tasks
  // were loaded: a verdict read from missing upstream instances would count
  // them as absent, and absent upstream tasks satisfy every trigger rule.
  // Every task of a run has at least one instance (a mapped task's
  // placeholder), so a loaded task is one with instances here.
  //
  // Why a partial decision equals the full one. Every change to a run is
  // decided in the transaction that makes it, so before a finish no waiting
  // task has a verdict other than "wait". The finish of task f changes only
  // f's own state, so only f's downstream tasks (and f itself, for a retry or
  // a capped mapped task) can get a new verdict; the scope loads them with
  // all their upstream tasks, and a verdict depends on nothing else. Tasks
  // of the scope that are not fully loaded had "wait" before and keep it.
  // The one exception is a cascade: a task decided here that becomes
  // skipped or upstream_failed changes the verdicts of its own downstream
  // tasks, which this pass may not decide: they were not loaded, or they
  // were loaded without all their own upstream tasks. Then the decision is
  // marked incomplete and the store decides again on the whole run
  // (RunDecisions::incomplete).
  std::vector<char> loaded(task_count, 1);
  if (snapshot.partial) {
    for (int t = 0; t < task_count; ++t) loaded[t] = begin[t] != begin[t + 1];
  }
  // decidable[t]: t and each of its upstream tasks were loaded.
  std::vector<char> decidable(loaded);
  if (snapshot.partial) {
    for (int t = 0; t < task_count; ++t) {
      for (int u = index.upstream_begin[t]; u < index.upstream_begin[t + 1]; ++u) {
        if (!loaded[index.upstream[u]]) decidable[t] = 0;
      }
    }
  }

  // One pass in topological order settles whole chains: when `a` failed, `b`
  // becomes upstream_failed before `c` is looked at, so `c` follows at once.
  std::vector<UpstreamCounts> counts(task_count);
  for (int t : index.order) {
    if (!loaded[t]) continue;
    const int* ups_begin = index.upstream.data() + index.upstream_begin[t];
    const int* ups_end = index.upstream.data() + index.upstream_begin[t + 1];
    if (!decidable[t]) {
      counts[t] = count_states(states, members, begin[t], begin[t + 1]);
      continue;
    }
    const TriggerRule rule = index.rules[t];
    bool any_waiting = false;
    for (size_t m = begin[t]; m < begin[t + 1]; ++m) {
      if (states[members[m]] == TaskState::kNone) any_waiting = true;
    }
    if (any_waiting) {
      Verdict verdict = Verdict::kReady;
      UpstreamCounts up;
      if (ups_begin != ups_end) {
        for (const int* u = ups_begin; u != ups_end; ++u) up.add(counts[*u]);
        verdict = evaluate(rule, up);
      }
      if (verdict == Verdict::kReady && index.depends_on_past[t] && snapshot.has_previous_run) {
        auto previous = snapshot.previous_interval.find(index.ids[t]);
        // A task the previous run did not have has nothing to wait for.
        if (previous != snapshot.previous_interval.end() &&
            previous->second != TaskState::kSuccess && previous->second != TaskState::kSkipped) {
          verdict = Verdict::kWait;
        }
      }
      if (verdict != Verdict::kWait) {
        TaskState to = TaskState::kQueued;
        std::string error;
        if (verdict == Verdict::kSkip) {
          to = TaskState::kSkipped;
          error = std::string("trigger rule ") + to_string(rule) +
                  " cannot be met (upstream: " + describe(up) + ")";
        } else if (verdict == Verdict::kUpstreamFailed) {
          to = TaskState::kUpstreamFailed;
          for (const int* up_task = ups_begin; up_task != ups_end; ++up_task) {
            const int u = *up_task;
            if (counts[u].failed == 0) continue;
            for (size_t m = begin[u]; m < begin[u + 1]; ++m) {
              TaskState s = states[members[m]];
              if (s == TaskState::kFailed || s == TaskState::kUpstreamFailed ||
                  s == TaskState::kCanceled) {
                error = "upstream task '" + index.ids[u] + "' is " + to_string(s);
                break;
              }
            }
            break;
          }
        }
        // A capped mapped task queues only as many instances as it has room for.
        int room = -1;
        if (to == TaskState::kQueued && !index.map_concurrency.empty() &&
            index.map_concurrency[t] > 0) {
          room = index.map_concurrency[t];
          for (size_t m = begin[t]; m < begin[t + 1]; ++m) {
            TaskState s = states[members[m]];
            if (s == TaskState::kQueued || s == TaskState::kRunning || is_retry_wait(s)) --room;
          }
          room = std::max(room, 0);
        }
        for (size_t m = begin[t]; m < begin[t + 1]; ++m) {
          if (states[members[m]] != TaskState::kNone) continue;
          if (room == 0) break;
          if (room > 0) --room;
          states[members[m]] = to;
          errors[members[m]] = error;
        }
        if (snapshot.partial && to != TaskState::kQueued) {
          for (int k = index.downstream_begin[t]; k < index.downstream_begin[t + 1]; ++k) {
            if (!decidable[index.downstream[k]]) decisions.incomplete = true;
          }
        }
      }
    }
    counts[t] = count_states(states, members, begin[t], begin[t + 1]);
  }

  bool all_finished = true;
  bool any_failed = false;
  for (size_t i = 0; i < views.size(); ++i) {
    TaskState s = states[i];
    if (s != views[i].state) {
      TaskTransition transition;
      transition.ti_id = views[i].id;
      transition.from = views[i].state;
      transition.to = s;
      transition.error = std::move(errors[i]);
      decisions.tasks.push_back(std::move(transition));
    }
    if (!is_finished(s)) all_finished = false;
    if (s == TaskState::kFailed || s == TaskState::kUpstreamFailed || s == TaskState::kCanceled) {
      any_failed = true;
    }
  }
  // The run fails when any task instance failed, was upstream_failed or was
  // canceled, not only when a leaf did (Airflow's rule): a cleanup leaf with
  // trigger_rule all_done must not turn a failed load into a successful run.
  if (all_finished && !snapshot.partial) {
    decisions.run_state = any_failed ? RunState::kFailed : RunState::kSuccess;
  }
  return decisions;
}

RetryDecision decide_retry(const RetryPolicy& policy, int try_number, int max_tries,
                           Timestamp now) {
  RetryDecision decision;
  if (try_number < max_tries) {
    decision.state = TaskState::kUpForRetry;
    decision.next_try_at = now + policy.delay_before_try(try_number + 1);
  }
  return decision;
}

}  // namespace sluice
