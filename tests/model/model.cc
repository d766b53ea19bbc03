#include "tests/model/model.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <set>
#include <sstream>
#include <tuple>

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

TaskState planned_state(int fails, const ScenarioTask& task) {
  return fails < task.retries + 1 ? TaskState::kSuccess : TaskState::kFailed;
}

/// The outcome of task `t` when its rule says run and its instances' tries
/// fail as `plan` says (a run's plan, or the clear's): each instance
/// succeeds unless it has more failing tries than tries. A cleared mapped
/// task that was expanded before has the same instances again.
Outcome ran(const Scenario& s, int t, const std::vector<std::vector<int>>& plan) {
  const ScenarioTask& task = s.tasks[t];
  Outcome out;
  if (task.map_items < 0) {
    out[-1] = planned_state(plan[t][0], task);
  } else if (task.map_items == 0) {
    out[-1] = TaskState::kSkipped;  // an empty expansion skips the placeholder
  } else {
    for (int i = 0; i < task.map_items; ++i) out[i] = planned_state(plan[t][i], task);
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

/// Every legal outcome of task `t`, given every legal outcome of each of its
/// upstream tasks in `outcomes` (and, with `past`, of the same task in the
/// run before, for depends_on_past): `ran` when its rule says run,
/// `settled(state)` when it says skipped or upstream_failed, or none when it
/// may wait forever. Empty when too many combinations were possible to list.
std::vector<Outcome> decide_outcomes(const Scenario& s, int t,
                                     const std::vector<std::vector<Outcome>>& outcomes,
                                     const std::vector<Outcome>* past, const Outcome& ran,
                                     const std::function<Outcome(TaskState)>& settled) {
  const ScenarioTask& task = s.tasks[t];
  // The lists to combine: each upstream task's outcomes, and for
  // depends_on_past the same task's outcomes in the run before.
  std::vector<const std::vector<Outcome>*> factors;
  for (int u : task.upstream) factors.push_back(&outcomes[u]);
  if (past) factors.push_back(past);
  size_t combinations = 1;
  for (const auto* f : factors) {
    if (f->empty()) return {};
    combinations *= f->size();
    if (combinations > kMaxCombinations) return {};
  }
  std::vector<Outcome> out;
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
          add_unique(out, past_ok ? ran : settled(TaskState::kNone));
          break;
        case Verdict::kSkip:
          add_unique(out, settled(TaskState::kSkipped));
          break;
        case Verdict::kUpstreamFailed:
          add_unique(out, settled(TaskState::kUpstreamFailed));
          break;
        case Verdict::kWait:
          add_unique(out, settled(TaskState::kNone));
          break;
      }
    }
    for (size_t k = 0; k < pick.size(); ++k) {
      if (++pick[k] < factors[k]->size()) break;
      pick[k] = 0;
    }
  }
  return out;
}

/// Whether the run may end and whether it may hang, from its outcomes.
void set_ending(RunExpectation& run) {
  bool may_end = true, may_hang = false;
  for (const std::vector<Outcome>& list : run.outcomes) {
    if (list.empty()) {
      may_hang = true;  // unknown
      continue;
    }
    bool hangs_always = true;
    for (const Outcome& o : list) {
      bool hangs = false;
      for (const auto& [index, state] : o) hangs = hangs || state == TaskState::kNone;
      if (hangs) may_hang = true;
      if (!hangs) hangs_always = false;
    }
    if (hangs_always) may_end = false;
  }
  run.may_end = may_end;
  run.may_hang = may_hang;
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
  const bool marked_early = s.mark && s.mark->kind == ScenarioMark::Kind::kBeforeStart;
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
      if (marked_early && r == s.mark->run && t == s.mark->task) {
        // Marked while it still waited: the mark is its outcome.
        run.outcomes[t] = {single(s.mark->state)};
        continue;
      }
      const bool past = s.tasks[t].depends_on_past && r > 0;
      run.outcomes[t] =
          decide_outcomes(s, t, run.outcomes, past ? &runs[r - 1].outcomes[t] : nullptr,
                          ran(s, t, s.fails[r]), single);
    }
    set_ending(run);
    if (!run.may_end) ++hanging_before;
    // A run that may or may not hang makes later starts uncertain: those
    // runs are then treated as if they start (and their checks allow both).
  }
  return runs;
}

RunExpectation expect_after_clear(const Scenario& s, const std::vector<Outcome>& at_clear) {
  const int n = static_cast<int>(s.tasks.size());
  RunExpectation run;
  run.outcomes.assign(n, {});
  std::vector<char> cleared(n, 0);
  for (int t : cleared_tasks(s)) cleared[t] = 1;
  for (int t = 0; t < n; ++t) {
    if (!cleared[t]) {
      run.outcomes[t] = {at_clear[t]};
      continue;
    }
    // Skipped or upstream_failed now: every instance it has (an expanded
    // mapped task keeps its instances).
    auto settled = [&](TaskState state) {
      Outcome out;
      for (const auto& [index, before] : at_clear[t]) out[index] = state;
      if (out.empty()) out[-1] = state;
      return out;
    };
    run.outcomes[t] =
        decide_outcomes(s, t, run.outcomes, nullptr, ran(s, t, s.clear->fails), settled);
  }
  set_ending(run);
  return run;
}

namespace {

/// One round of one run as the checks see it. Round one is what the run did
/// from its start (up to a clear or a mark after its end); round two is what
/// a cleared run did after the clear.
struct Round {
  int run = 0;
  std::string name;  // "run 1", "run 1 after the clear"
  const RunRecord* record = nullptr;
  std::vector<std::map<int, const TaskInstanceRecord*>> ti;       // by task, then map index
  std::map<std::tuple<int, int>, std::vector<const Try*>> tries;  // by task and map index
  std::vector<const Try*> all_tries;
  const std::vector<std::vector<int>>* plan = nullptr;  // failing tries by task and instance
  std::vector<char> decided;  // tasks the round decides (round two: the cleared ones)
  std::map<std::tuple<int, int>, int> base;  // try numbers before the round
  uint64_t since = 0;                        // when the round began (round two: the clear)
  std::map<int, uint64_t> marked;            // tasks marked by hand before they started, and when
  /// When each instance reached its final state: the end of its last try;
  /// for one that never ran, the earliest moment its rule could decide it
  /// (or its mark); kNever for one left unfinished.
  std::vector<std::map<int, uint64_t>> finished_at;

  std::string where(int t, int m) const {
    std::string w = name + " " + task_id(t);
    if (m >= 0) w += "[" + std::to_string(m) + "]";
    return w;
  }
  std::optional<TaskState> state(int t, int m) const {
    auto found = ti[t].find(m);
    if (found == ti[t].end()) return std::nullopt;
    return found->second->state;
  }
};

Round make_round(const Scenario& s, int r, std::string name, const RunRecord& record,
                 const std::vector<TaskInstanceRecord>& instances,
                 const std::vector<const Try*>& tries, std::vector<std::string>& problems) {
  const int n = static_cast<int>(s.tasks.size());
  Round round;
  round.run = r;
  round.name = std::move(name);
  round.record = &record;
  round.ti.resize(n);
  round.decided.assign(n, 1);
  round.finished_at.resize(n);
  for (const TaskInstanceRecord& rec : instances) {
    int t = -1;
    if (rec.task_id.size() > 1 && rec.task_id[0] == 't') t = std::stoi(rec.task_id.substr(1));
    if (t < 0 || t >= n) {
      problems.push_back(round.name + " has an unknown task " + rec.task_id);
      continue;
    }
    round.ti[t][rec.map_index] = &rec;
  }
  round.all_tries = tries;
  for (const Try* tr : tries) round.tries[{tr->task, tr->map_index}].push_back(tr);
  return round;
}

/// Final states against the model's outcomes; the run's state; leftovers.
void check_outcomes(const Scenario& s, const Round& round, const RunExpectation& e,
                    bool uncertain_start, Millis run_end_slack,
                    std::vector<std::string>& problems) {
  const int n = static_cast<int>(s.tasks.size());
  bool any_unfinished = false, any_failed = false;
  for (int t = 0; t < n; ++t) {
    Outcome real;
    for (const auto& [m, rec] : round.ti[t]) {
      real[m] = rec->state;
      if (rec->state != TaskState::kNone && !is_finished(rec->state)) {
        problems.push_back(round.where(t, m) + " was left " + to_string(rec->state));
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
      for (const Outcome& x : e.outcomes[t])
        legal += (legal.empty() ? "" : " or ") + outcome_text(x);
      problems.push_back(round.where(t, -1) + " ended " + outcome_text(real) +
                         "; the model allows " + legal);
    }
  }
  const RunRecord& run = *round.record;
  if (any_unfinished) {
    if (is_finished(run.state)) {
      problems.push_back(round.name + " is " + to_string(run.state) + " with tasks unfinished");
    }
    if (!uncertain_start && !e.may_hang) {
      problems.push_back(round.name + " never ended (it is " + to_string(run.state) +
                         "), but the model says it must");
    }
    return;
  }
  RunState want = any_failed ? RunState::kFailed : RunState::kSuccess;
  if (run.state != want) {
    problems.push_back(round.name + " is " + to_string(run.state) +
                       " with every task finished; it must be " + to_string(want));
  }
  // The run ends with its last task's finish, or a scheduler pass later.
  std::optional<Timestamp> last_end;
  for (const auto& by_index : round.ti) {
    for (const auto& [m, rec] : by_index) {
      if (rec->ended_at && (!last_end || *rec->ended_at > *last_end)) last_end = rec->ended_at;
    }
  }
  if (run.ended_at && last_end && *run.ended_at - *last_end > run_end_slack) {
    problems.push_back(round.name + " ended " +
                       std::to_string((*run.ended_at - *last_end).count()) +
                       " ms after its last task");
  }
}

/// Every try ran once, numbered on from the round's base, as many as the
/// round's plan says; only the tasks the round decides ran.
void check_tries(const Scenario& s, const Round& round, std::vector<std::string>& problems) {
  for (const auto& [key, list] : round.tries) {
    auto [t, m] = key;
    if (!round.decided[t]) {
      problems.push_back(round.where(t, m) + " ran " + std::to_string(list.size()) +
                         " tries, but it was not cleared");
      continue;
    }
    auto based = round.base.find(key);
    const int base = based == round.base.end() ? 0 : based->second;
    std::vector<int> numbers;
    for (const Try* tr : list) numbers.push_back(tr->try_number);
    std::sort(numbers.begin(), numbers.end());
    for (size_t i = 0; i < numbers.size(); ++i) {
      if (numbers[i] != base + static_cast<int>(i) + 1) {
        std::string text;
        for (int x : numbers) text += (text.empty() ? "" : ",") + std::to_string(x);
        problems.push_back(round.where(t, m) + " ran tries numbered " + text +
                           " (each try must run once, in order, from " + std::to_string(base + 1) +
                           ")");
        break;
      }
    }
    std::optional<TaskState> state = round.state(t, m);
    if (!state) {
      problems.push_back(round.where(t, m) + " ran but has no task instance");
      continue;
    }
    const int fails = (*round.plan)[t][std::max(0, m)];
    const int want = std::min(fails + 1, s.tasks[t].retries + 1);
    if (static_cast<int>(numbers.size()) != want &&
        (*state == TaskState::kSuccess || *state == TaskState::kFailed)) {
      problems.push_back(round.where(t, m) + " ran " + std::to_string(numbers.size()) +
                         " tries; its plan (" + std::to_string(fails) + " failing, " +
                         std::to_string(s.tasks[t].retries + 1) + " allowed) makes " +
                         std::to_string(want));
    }
  }
}

/// Round::finished_at for every instance of the round; `previous` is the
/// run before's round one (depends_on_past), if any.
void settle_times(const Scenario& s, Round& round, const Round* previous) {
  const int n = static_cast<int>(s.tasks.size());
  for (int t = 0; t < n; ++t) {
    const ScenarioTask& task = s.tasks[t];
    // The earliest time the rule gives a verdict, from upstream F values.
    std::vector<std::pair<uint64_t, TaskState>> ups;
    for (int u : task.upstream) {
      for (const auto& [m, rec] : round.ti[u]) ups.push_back({round.finished_at[u][m], rec->state});
    }
    std::sort(ups.begin(), ups.end());
    uint64_t decided = kNever;
    if (ups.empty() && task.upstream.empty()) decided = round.since;
    for (size_t k = 0; k <= ups.size() && decided == kNever; ++k) {
      uint64_t at = k == 0 ? round.since : ups[k - 1].first;
      if (at == kNever) break;
      Counts c;
      for (const auto& [f, state] : ups) c.add(f <= at ? state : TaskState::kNone);
      if (rule_verdict(task.rule, c.success, c.failed, c.skipped, c.unfinished) != Verdict::kWait) {
        decided = at;
      }
    }
    if (task.depends_on_past && previous && decided != kNever) {
      for (const auto& [m, f] : previous->finished_at[t]) decided = std::max(decided, f);
    }
    if (auto mark = round.marked.find(t); mark != round.marked.end()) decided = mark->second;
    if (!round.decided[t]) decided = round.since;  // ended before the round began
    for (const auto& [m, rec] : round.ti[t]) {
      auto found = round.tries.find({t, m});
      uint64_t f = decided;
      if (found != round.tries.end()) {
        f = 0;
        for (const Try* tr : found->second) f = std::max(f, tr->end);
      } else if (!is_finished(rec->state)) {
        f = kNever;
      }
      round.finished_at[t][m] = f;
    }
  }
}

/// No try starts before its upstream instances reached states its rule
/// accepts (nor, for depends_on_past, before the same task succeeded in the
/// run before).
void check_starts(const Scenario& s, const Round& round, const Round* previous,
                  std::vector<std::string>& problems) {
  for (const Try* tr : round.all_tries) {
    const ScenarioTask& task = s.tasks[tr->task];
    Counts c;
    std::string seen;
    for (int u : task.upstream) {
      for (const auto& [m, rec] : round.ti[u]) {
        bool done = round.finished_at[u].at(m) < tr->start;
        c.add(done ? rec->state : TaskState::kNone);
        seen += " " + task_id(u) + (m >= 0 ? "[" + std::to_string(m) + "]" : "") + "=" +
                (done ? to_string(rec->state) : "unfinished");
      }
    }
    if (!task.upstream.empty() &&
        rule_verdict(task.rule, c.success, c.failed, c.skipped, c.unfinished) != Verdict::kRun) {
      problems.push_back(round.where(tr->task, tr->map_index) + " try " +
                         std::to_string(tr->try_number) + " started at " +
                         std::to_string(tr->start) + " before its " + to_string(task.rule) +
                         " rule held; upstream then:" + seen);
    }
    if (task.depends_on_past && previous) {
      for (const auto& [m, rec] : previous->ti[tr->task]) {
        if (previous->finished_at[tr->task].at(m) >= tr->start ||
            (rec->state != TaskState::kSuccess && rec->state != TaskState::kSkipped)) {
          problems.push_back(round.where(tr->task, tr->map_index) +
                             " started before the same task succeeded in the run before "
                             "(depends_on_past)");
        }
      }
    }
  }
}

/// A mark in a finished run changes the marked instance only, runs nothing,
/// and the run's state follows its tasks again.
void check_mark_after_end(const Scenario& s, const Round& before, const Round& after,
                          TaskState marked_state, std::vector<std::string>& problems) {
  const int n = static_cast<int>(s.tasks.size());
  const int marked = s.mark->task;
  std::optional<TaskState> was = before.state(marked, -1);
  if (!was) {
    problems.push_back(before.where(marked, -1) + " has no instance to mark");
    return;
  }
  const TaskState want_mark =
      *was == TaskState::kSuccess ? TaskState::kFailed : TaskState::kSuccess;
  if (marked_state != want_mark) {
    problems.push_back("the driver marked " + before.where(marked, -1) + " " +
                       to_string(marked_state) + ", not " + to_string(want_mark));
  }
  bool any_failed = false;
  for (int t = 0; t < n; ++t) {
    std::set<int> indexes;
    for (const auto& [m, rec] : before.ti[t]) indexes.insert(m);
    for (const auto& [m, rec] : after.ti[t]) indexes.insert(m);
    for (int m : indexes) {
      std::optional<TaskState> then = before.state(t, m), now = after.state(t, m);
      std::optional<TaskState> want = t == marked && m == -1 ? std::optional(marked_state) : then;
      if (now != want) {
        problems.push_back(after.where(t, m) + " is " + (now ? to_string(*now) : "gone") +
                           " after the mark of " + task_id(marked) + "; it was " +
                           (then ? to_string(*then) : "not there") +
                           " (a mark changes the marked task only)");
      }
      if (now == TaskState::kFailed || now == TaskState::kUpstreamFailed ||
          now == TaskState::kCanceled) {
        any_failed = true;
      }
    }
  }
  for (const Try* tr : after.all_tries) {
    problems.push_back(after.where(tr->task, tr->map_index) + " try " +
                       std::to_string(tr->try_number) + " ran after the mark");
  }
  const RunState want = any_failed ? RunState::kFailed : RunState::kSuccess;
  if (after.record->state != want) {
    problems.push_back(after.name + " is " + to_string(after.record->state) + " after " +
                       task_id(marked) + " was marked " + to_string(marked_state) +
                       " in it; with every task finished it must be " + to_string(want) +
                       " (a mark re-decides the run)");
  }
}

}  // namespace

std::vector<std::string> check(const Scenario& s, const Observed& o) {
  std::vector<std::string> problems = o.errors;
  const int n = static_cast<int>(s.tasks.size());
  if (static_cast<int>(o.runs.size()) != s.runs || static_cast<int>(o.instances.size()) != s.runs) {
    problems.push_back("the driver observed " + std::to_string(o.runs.size()) + " runs, not " +
                       std::to_string(s.runs));
    return problems;
  }
  const std::vector<RunExpectation> expected = expect(s);

  // The run a clear or a mark after its end acted on: its round one is what
  // it was just before.
  const bool mark_before = s.mark && s.mark->kind == ScenarioMark::Kind::kBeforeStart;
  const bool mark_after = s.mark && !mark_before;
  int acted = -1;
  const ObservedAction* action = nullptr;
  if (s.clear || mark_after) {
    action = s.clear ? &o.clear : &o.mark;
    const int run = s.clear ? s.clear->run : s.mark->run;
    if (action->at == 0) {
      problems.push_back(std::string("the ") + (s.clear ? "clear" : "mark") + " of run " +
                         std::to_string(run) + " never happened (the run did not end)");
      action = nullptr;
    } else {
      acted = run;
    }
  }
  if (mark_before && o.mark.at == 0) {
    problems.push_back("the mark of run " + std::to_string(s.mark->run) + " " +
                       task_id(s.mark->task) + " never happened");
  }

  std::vector<std::vector<const Try*>> tries(s.runs);
  std::vector<const Try*> after_action;
  for (const Try& tr : o.tries) {
    if (tr.run < 0 || tr.run >= s.runs || tr.task < 0 || tr.task >= n) {
      problems.push_back("a try of an unknown run or task ran");
      continue;
    }
    if (tr.run == acted && tr.start > action->at) {
      after_action.push_back(&tr);
    } else {
      tries[tr.run].push_back(&tr);
    }
  }

  std::vector<Round> rounds;
  rounds.reserve(s.runs);
  for (int r = 0; r < s.runs; ++r) {
    const bool before = r == acted;
    rounds.push_back(make_round(s, r, "run " + std::to_string(r), before ? action->run : o.runs[r],
                                before ? action->instances : o.instances[r], tries[r], problems));
    rounds.back().plan = &s.fails[r];
    if (mark_before && r == s.mark->run && o.mark.at)
      rounds.back().marked[s.mark->task] = o.mark.at;
  }
  bool uncertain_start = false;  // an earlier run may or may not hang
  for (int r = 0; r < s.runs; ++r) {
    check_outcomes(s, rounds[r], expected[r], uncertain_start, o.run_end_slack, problems);
    if (expected[r].may_end && expected[r].may_hang) uncertain_start = true;
    check_tries(s, rounds[r], problems);
    settle_times(s, rounds[r], r > 0 ? &rounds[r - 1] : nullptr);
    check_starts(s, rounds[r], r > 0 ? &rounds[r - 1] : nullptr, problems);
  }

  std::vector<std::vector<const Try*>> spans(tries);  // each round's tries, for max_active_runs
  if (action) {
    const Round& before = rounds[acted];
    Round after = make_round(
        s, acted, "run " + std::to_string(acted) + " after the " + (s.clear ? "clear" : "mark"),
        o.runs[acted], o.instances[acted], after_action, problems);
    after.since = action->at;
    spans.push_back(after_action);
    if (s.clear) {
      std::vector<Outcome> at_clear(n);
      for (int t = 0; t < n; ++t) {
        for (const auto& [m, rec] : before.ti[t]) {
          at_clear[t][m] = rec->state;
          after.base[{t, m}] = rec->try_number;
        }
      }
      after.plan = &s.clear->fails;
      after.decided.assign(n, 0);
      for (int t : cleared_tasks(s)) after.decided[t] = 1;
      check_outcomes(s, after, expect_after_clear(s, at_clear), false, o.run_end_slack,
                     problems);
      check_tries(s, after, problems);
      settle_times(s, after, nullptr);
      check_starts(s, after, nullptr, problems);
    } else {
      check_mark_after_end(s, before, after, action->state, problems);
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
    if (tr.task < 0 || tr.task >= n) continue;
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
      report_once("run " + std::to_string(ev.tr->run) + " " + task_id(ev.tr->task) +
                  ": max_map_concurrency " + std::to_string(task.max_map_concurrency) +
                  " exceeded");
    }
  }
  // max_active_runs: runs whose tries overlap in time were active together
  // (a cleared run's two rounds count as two spans).
  std::vector<std::pair<uint64_t, int>> edges;
  for (const std::vector<const Try*>& list : spans) {
    uint64_t first = kNever, last = 0;
    for (const Try* tr : list) {
      first = std::min(first, tr->start);
      last = std::max(last, tr->end);
    }
    if (first == kNever) continue;
    edges.push_back({first, +1});
    edges.push_back({last, -1});
  }
  std::sort(edges.begin(), edges.end());
  int active = 0;
  for (const auto& [at, delta] : edges) {
    active += delta;
    if (active > s.max_active_runs) {
      report_once("max_active_runs " + std::to_string(s.max_active_runs) + " exceeded: " +
                  std::to_string(active) + " runs ran tries at once");
    }
  }
  return problems;
}

}  // namespace sluice::model
