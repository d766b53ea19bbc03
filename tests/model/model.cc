#include "tests/model/model.h"

#include <algorithm>
#include <limits>
#include <set>
#include <sstream>

namespace sluice::model {
namespace {

constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();
constexpr size_t kMaxCombinations = 4096;

struct Counts {
  int success = 0, failed = 0, skipped = 0, unfinished = 0;
  void add(TaskState s) {
    if (s == TaskState::kSuccess) {
      ++success;
    } else if (s == TaskState::kFailed || s == TaskState::kUpstreamFailed ||
               s == TaskState::kCanceled) {
      ++failed;
    } else if (s == TaskState::kSkipped) {
      ++skipped;
    } else {
      ++unfinished;
    }
  }
};

/// The outcome of task `t` of run `r` when its rule says run: each instance
/// succeeds unless it has more failing tries than tries.
Outcome ran(const Scenario& s, int r, int t) {
  const ScenarioTask& task = s.tasks[t];
  Outcome out;
  auto state = [&](int i) {
    return s.fails[r][t][i] < task.retries + 1 ? TaskState::kSuccess : TaskState::kFailed;
  };
  if (task.map_items < 0) {
    out[-1] = state(0);
  } else if (task.map_items == 0) {
    out[-1] = TaskState::kSkipped;  // an empty expansion skips the placeholder
  } else {
    for (int i = 0; i < task.map_items; ++i) out[i] = state(i);
  }
  return out;
}

Outcome single(TaskState state) { return Outcome{{-1, state}}; }

void add_unique(std::vector<Outcome>& list, const Outcome& o) {
  if (std::find(list.begin(), list.end(), o) == list.end()) list.push_back(o);
}

/// Every verdict the rule can reach, whatever the order in which these
/// upstream instances ended (and however many of them one change ended at
/// once); kWait in the result means "may wait forever".
std::set<Verdict> legal_verdicts(TriggerRule rule, const Counts& c, bool has_upstream) {
  if (!has_upstream) return {Verdict::kRun};
  std::set<Verdict> out;
  const int total = c.success + c.failed + c.skipped + c.unfinished;
  for (int s = 0; s <= c.success; ++s) {
    for (int f = 0; f <= c.failed; ++f) {
      for (int k = 0; k <= c.skipped; ++k) {
        Verdict v = rule_verdict(rule, s, f, k, total - s - f - k);
        if (v != Verdict::kWait) out.insert(v);
      }
    }
  }
  if (rule_verdict(rule, c.success, c.failed, c.skipped, c.unfinished) == Verdict::kWait) {
    out.insert(Verdict::kWait);
  }
  return out;
}

std::string outcome_text(const Outcome& o) {
  std::string text;
  for (const auto& [index, state] : o) {
    if (!text.empty()) text += ",";
    if (index >= 0) text += "[" + std::to_string(index) + "]";
    text += to_string(state);
  }
  return text;
}

}  // namespace

Verdict rule_verdict(TriggerRule rule, int success, int failed, int skipped, int unfinished) {
  const int total = success + failed + skipped + unfinished;
  const bool all_done = unfinished == 0;
  switch (rule) {
    case TriggerRule::kAlways:
      return Verdict::kRun;
    case TriggerRule::kAllSuccess:  // every upstream succeeded
      if (failed > 0) return Verdict::kUpstreamFailed;
      if (skipped > 0) return Verdict::kSkip;
      return success == total ? Verdict::kRun : Verdict::kWait;
    case TriggerRule::kAllFailed:  // every upstream failed
      if (success > 0 || skipped > 0) return Verdict::kSkip;
      return failed == total ? Verdict::kRun : Verdict::kWait;
    case TriggerRule::kAllDone:  // every upstream ended, however
      return all_done ? Verdict::kRun : Verdict::kWait;
    case TriggerRule::kOneSuccess:  // at least one succeeded: no need to wait for the rest
      if (success > 0) return Verdict::kRun;
      if (!all_done) return Verdict::kWait;
      return skipped == total ? Verdict::kSkip : Verdict::kUpstreamFailed;
    case TriggerRule::kOneFailed:  // at least one failed
      if (failed > 0) return Verdict::kRun;
      return all_done ? Verdict::kSkip : Verdict::kWait;
    case TriggerRule::kNoneFailed:  // all ended, none failed (skips allowed)
      if (failed > 0) return Verdict::kUpstreamFailed;
      return all_done ? Verdict::kRun : Verdict::kWait;
    case TriggerRule::kNoneFailedMinOneSuccess:
      if (failed > 0) return Verdict::kUpstreamFailed;
      if (!all_done) return Verdict::kWait;
      return success > 0 ? Verdict::kRun : Verdict::kSkip;
    case TriggerRule::kNoneSkipped:  // all ended, none skipped
      if (skipped > 0) return Verdict::kSkip;
      return all_done ? Verdict::kRun : Verdict::kWait;
  }
  return Verdict::kWait;
}

std::vector<RunExpectation> expect(const Scenario& s) {
  std::vector<RunExpectation> runs(s.runs);
  const int n = static_cast<int>(s.tasks.size());
  int hanging_before = 0;  // earlier runs that never end: each holds a slot
  for (int r = 0; r < s.runs; ++r) {
    RunExpectation& run = runs[r];
    run.outcomes.assign(n, {});
    run.starts = hanging_before < s.max_active_runs;
    if (!run.starts) {
      for (int t = 0; t < n; ++t) run.outcomes[t] = {single(TaskState::kNone)};
      run.may_end = false;
      run.may_hang = true;
      continue;
    }
    for (int t = 0; t < n; ++t) {
      const ScenarioTask& task = s.tasks[t];
      // The lists to combine: each upstream task's outcomes, and for
      // depends_on_past the same task's outcomes in the run before.
      std::vector<const std::vector<Outcome>*> factors;
      for (int u : task.upstream) factors.push_back(&run.outcomes[u]);
      const bool past = task.depends_on_past && r > 0;
      if (past) factors.push_back(&runs[r - 1].outcomes[t]);
      size_t combinations = 1;
      bool unknown = false;
      for (const auto* f : factors) {
        if (f->empty()) unknown = true;
        combinations *= std::max<size_t>(1, f->size());
        if (combinations > kMaxCombinations) unknown = true;
      }
      if (unknown) continue;  // left empty: not compared
      std::vector<size_t> pick(factors.size(), 0);
      for (size_t c = 0; c < combinations; ++c) {
        Counts counts;
        for (size_t k = 0; k < task.upstream.size(); ++k) {
          for (const auto& [index, state] : (*factors[k])[pick[k]]) counts.add(state);
        }
        bool past_ok = true;
        if (past) {
          for (const auto& [index, state] : factors.back()->at(pick.back())) {
            if (state != TaskState::kSuccess && state != TaskState::kSkipped) past_ok = false;
          }
        }
        for (Verdict v : legal_verdicts(task.rule, counts, !task.upstream.empty())) {
          switch (v) {
            case Verdict::kRun:
              add_unique(run.outcomes[t], past_ok ? ran(s, r, t) : single(TaskState::kNone));
              break;
            case Verdict::kSkip:
              add_unique(run.outcomes[t], single(TaskState::kSkipped));
              break;
            case Verdict::kUpstreamFailed:
              add_unique(run.outcomes[t], single(TaskState::kUpstreamFailed));
              break;
            case Verdict::kWait:
              add_unique(run.outcomes[t], single(TaskState::kNone));
              break;
          }
        }
        for (size_t k = 0; k < pick.size(); ++k) {
          if (++pick[k] < factors[k]->size()) break;
          pick[k] = 0;
        }
      }
    }
    bool may_end = true, may_hang = false;
    for (int t = 0; t < n; ++t) {
      if (run.outcomes[t].empty()) {
        may_hang = true;  // unknown
        continue;
      }
      bool hangs_always = true;
      for (const Outcome& o : run.outcomes[t]) {
        bool hangs = o.count(-1) && o.at(-1) == TaskState::kNone;
        if (hangs) may_hang = true;
        if (!hangs) hangs_always = false;
      }
      if (hangs_always) may_end = false;
    }
    run.may_end = may_end;
    run.may_hang = may_hang;
    if (!may_end) ++hanging_before;
    // A run that may or may not hang makes later starts uncertain: those
    // runs are then treated as if they start (and their checks allow both).
    if (may_end && may_hang) hanging_before += 0;
  }
  return runs;
}

std::vector<std::string> check(const Scenario& s, const Observed& o) {
  std::vector<std::string> problems = o.errors;
  const int n = static_cast<int>(s.tasks.size());
  const std::vector<RunExpectation> expected = expect(s);
  auto where = [&](int r, int t, int m) {
    std::string w = "run " + std::to_string(r) + " " + task_id(t);
    if (m >= 0) w += "[" + std::to_string(m) + "]";
    return w;
  };
  if (static_cast<int>(o.runs.size()) != s.runs || static_cast<int>(o.instances.size()) != s.runs) {
    problems.push_back("the driver observed " + std::to_string(o.runs.size()) + " runs, not " +
                       std::to_string(s.runs));
    return problems;
  }
  bool uncertain_start = false;  // an earlier run may or may not hang

  // Instances by run, task and map index.
  std::vector<std::vector<std::map<int, const TaskInstanceRecord*>>> ti(s.runs);
  for (int r = 0; r < s.runs; ++r) {
    ti[r].resize(n);
    for (const TaskInstanceRecord& rec : o.instances[r]) {
      int t = -1;
      if (rec.task_id.size() > 1 && rec.task_id[0] == 't') t = std::stoi(rec.task_id.substr(1));
      if (t < 0 || t >= n) {
        problems.push_back("run " + std::to_string(r) + " has an unknown task " + rec.task_id);
        continue;
      }
      ti[r][t][rec.map_index] = &rec;
    }
  }
  // Tries by instance.
  std::map<std::tuple<int, int, int>, std::vector<const Try*>> tries;
  for (const Try& tr : o.tries) tries[{tr.run, tr.task, tr.map_index}].push_back(&tr);

  // Final states, run states, leftovers.
  for (int r = 0; r < s.runs; ++r) {
    const RunExpectation& e = expected[r];
    bool any_unfinished = false, any_failed = false;
    for (int t = 0; t < n; ++t) {
      Outcome real;
      for (const auto& [m, rec] : ti[r][t]) {
        real[m] = rec->state;
        if (rec->state != TaskState::kNone && !is_finished(rec->state)) {
          problems.push_back(where(r, t, m) + " was left " + to_string(rec->state));
        }
        if (!is_finished(rec->state)) any_unfinished = true;
        if (rec->state == TaskState::kFailed || rec->state == TaskState::kUpstreamFailed ||
            rec->state == TaskState::kCanceled) {
          any_failed = true;
        }
      }
      if (uncertain_start || e.outcomes[t].empty()) continue;
      if (std::find(e.outcomes[t].begin(), e.outcomes[t].end(), real) == e.outcomes[t].end()) {
        std::string legal;
        for (const Outcome& x : e.outcomes[t]) legal += (legal.empty() ? "" : " or ") + outcome_text(x);
        problems.push_back(where(r, t, -1) + " ended " + outcome_text(real) + "; the model allows " +
                           legal);
      }
    }
    const RunRecord& run = o.runs[r];
    if (any_unfinished) {
      if (is_finished(run.state)) {
        problems.push_back("run " + std::to_string(r) + " is " + to_string(run.state) +
                           " with tasks unfinished");
      }
      if (!uncertain_start && !e.may_hang) {
        problems.push_back("run " + std::to_string(r) + " never ended (it is " +
                           to_string(run.state) + "), but the model says it must");
      }
    } else {
      RunState want = any_failed ? RunState::kFailed : RunState::kSuccess;
      if (run.state != want) {
        problems.push_back("run " + std::to_string(r) + " is " + to_string(run.state) +
                           " with every task finished; it must be " + to_string(want));
      }
      // The run ends with its last task's finish, or a scheduler pass later.
      std::optional<Timestamp> last_end;
      for (const TaskInstanceRecord& rec : o.instances[r]) {
        if (rec.ended_at && (!last_end || *rec.ended_at > *last_end)) last_end = rec.ended_at;
      }
      if (run.ended_at && last_end && *run.ended_at - *last_end > Millis(1000)) {
        problems.push_back("run " + std::to_string(r) + " ended " +
                           std::to_string((*run.ended_at - *last_end).count()) +
                           " ms after its last task");
      }
    }
    if (e.may_end && e.may_hang) uncertain_start = true;
  }

  // Every try ran once, numbered 1..k, as many as the outcome plan says.
  for (const auto& [key, list] : tries) {
    auto [r, t, m] = key;
    std::vector<int> numbers;
    for (const Try* tr : list) numbers.push_back(tr->try_number);
    std::sort(numbers.begin(), numbers.end());
    for (size_t i = 0; i < numbers.size(); ++i) {
      if (numbers[i] != static_cast<int>(i) + 1) {
        problems.push_back(where(r, t, m) + " ran tries numbered " + [&] {
          std::string text;
          for (int x : numbers) text += (text.empty() ? "" : ",") + std::to_string(x);
          return text;
        }() + " (each try must run once, in order)");
        break;
      }
    }
    auto found = ti[r][t].find(m);
    if (found == ti[r][t].end()) {
      problems.push_back(where(r, t, m) + " ran but has no task instance");
      continue;
    }
    const int fails = s.fails[r][t][std::max(0, m)];
    const int want = std::min(fails + 1, s.tasks[t].retries + 1);
    if (static_cast<int>(numbers.size()) != want &&
        (found->second->state == TaskState::kSuccess || found->second->state == TaskState::kFailed)) {
      problems.push_back(where(r, t, m) + " ran " + std::to_string(numbers.size()) +
                         " tries; its plan (" + std::to_string(fails) + " failing, " +
                         std::to_string(s.tasks[t].retries + 1) + " allowed) makes " +
                         std::to_string(want));
    }
  }

  // No try starts before its upstream instances reached states its rule accepts.
  // F: when an instance reached its final state (the end of its last try; for
  // one that never ran, the earliest moment its rule could decide it).
  std::vector<std::vector<std::map<int, uint64_t>>> finished_at(s.runs);
  for (int r = 0; r < s.runs; ++r) {
    finished_at[r].resize(n);
    for (int t = 0; t < n; ++t) {
      const ScenarioTask& task = s.tasks[t];
      // The earliest time the rule gives a verdict, from upstream F values.
      std::vector<std::pair<uint64_t, TaskState>> ups;
      for (int u : task.upstream) {
        for (const auto& [m, rec] : ti[r][u]) ups.push_back({finished_at[r][u][m], rec->state});
      }
      std::sort(ups.begin(), ups.end());
      uint64_t decided = kNever;
      if (ups.empty() && task.upstream.empty()) decided = 0;
      for (size_t k = 0; k <= ups.size() && decided == kNever; ++k) {
        uint64_t at = k == 0 ? 0 : ups[k - 1].first;
        if (at == kNever) break;
        Counts c;
        for (const auto& [f, state] : ups) c.add(f <= at ? state : TaskState::kNone);
        if (rule_verdict(task.rule, c.success, c.failed, c.skipped, c.unfinished) != Verdict::kWait) {
          decided = at;
        }
      }
      if (task.depends_on_past && r > 0 && decided != kNever) {
        for (const auto& [m, f] : finished_at[r - 1][t]) decided = std::max(decided, f);
      }
      for (const auto& [m, rec] : ti[r][t]) {
        auto found = tries.find({r, t, m});
        uint64_t f = decided;
        if (found != tries.end()) {
          f = 0;
          for (const Try* tr : found->second) f = std::max(f, tr->end);
        } else if (!is_finished(rec->state)) {
          f = kNever;
        }
        finished_at[r][t][m] = f;
      }
    }
  }
  for (const Try& tr : o.tries) {
    const ScenarioTask& task = s.tasks[tr.task];
    Counts c;
    std::string seen;
    for (int u : task.upstream) {
      for (const auto& [m, rec] : ti[tr.run][u]) {
        bool done = finished_at[tr.run][u][m] < tr.start;
        c.add(done ? rec->state : TaskState::kNone);
        seen += " " + task_id(u) + (m >= 0 ? "[" + std::to_string(m) + "]" : "") + "=" +
                (done ? to_string(rec->state) : "unfinished");
      }
    }
    if (!task.upstream.empty() &&
        rule_verdict(task.rule, c.success, c.failed, c.skipped, c.unfinished) != Verdict::kRun) {
      problems.push_back(where(tr.run, tr.task, tr.map_index) + " try " +
                         std::to_string(tr.try_number) + " started at " +
                         std::to_string(tr.start) + " before its " + to_string(task.rule) +
                         " rule held; upstream then:" + seen);
    }
    if (task.depends_on_past && tr.run > 0) {
      for (const auto& [m, rec] : ti[tr.run - 1][tr.task]) {
        if (finished_at[tr.run - 1][tr.task][m] >= tr.start ||
            (rec->state != TaskState::kSuccess && rec->state != TaskState::kSkipped)) {
          problems.push_back(where(tr.run, tr.task, tr.map_index) +
                             " started before the same task succeeded in the run before "
                             "(depends_on_past)");
        }
      }
    }
  }

  // Limits, swept over the shared clock.
  struct Event {
    uint64_t at;
    int delta;
    const Try* tr;
  };
  std::vector<Event> events;
  for (const Try& tr : o.tries) {
    events.push_back({tr.start, +1, &tr});
    events.push_back({tr.end, -1, &tr});
  }
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.at < b.at; });
  int in_dag = 0, in_pool = 0;
  std::map<std::pair<int, int>, int> in_map;
  std::set<std::string> reported;
  auto report_once = [&](const std::string& text) {
    if (reported.insert(text).second) problems.push_back(text);
  };
  for (const Event& ev : events) {
    const ScenarioTask& task = s.tasks[ev.tr->task];
    in_dag += ev.delta;
    if (task.in_pool) in_pool += ev.delta;
    int& mapped = in_map[{ev.tr->run, ev.tr->task}];
    mapped += ev.delta;
    if (ev.delta < 0) continue;
    if (in_dag > s.max_active_tasks) {
      report_once("max_active_tasks " + std::to_string(s.max_active_tasks) + " exceeded: " +
                  std::to_string(in_dag) + " tries ran at once");
    }
    if (task.in_pool && in_pool > s.pool_slots) {
      report_once("pool of " + std::to_string(s.pool_slots) + " slots exceeded: " +
                  std::to_string(in_pool) + " tries ran at once");
    }
    if (task.max_map_concurrency > 0 && mapped > task.max_map_concurrency) {
      report_once(where(ev.tr->run, ev.tr->task, -1) + ": max_map_concurrency " +
                  std::to_string(task.max_map_concurrency) + " exceeded");
    }
  }
  // max_active_runs: runs whose tries overlap in time were active together.
  std::vector<std::pair<uint64_t, int>> spans;
  for (int r = 0; r < s.runs; ++r) {
    uint64_t first = kNever, last = 0;
    for (const Try& tr : o.tries) {
      if (tr.run != r) continue;
      first = std::min(first, tr.start);
      last = std::max(last, tr.end);
    }
    if (first == kNever) continue;
    spans.push_back({first, +1});
    spans.push_back({last, -1});
  }
  std::sort(spans.begin(), spans.end());
  int active = 0;
  for (const auto& [at, delta] : spans) {
    active += delta;
    if (active > s.max_active_runs) {
      report_once("max_active_runs " + std::to_string(s.max_active_runs) + " exceeded: " +
                  std::to_string(active) + " runs ran tries at once");
    }
  }
  return problems;
}

}  // namespace sluice::model
