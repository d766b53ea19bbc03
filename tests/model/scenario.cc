#include "tests/model/scenario.h"

#include <algorithm>
#include <random>
#include <sstream>

namespace sluice::model {
namespace {

constexpr TriggerRule kRules[] = {
    TriggerRule::kAllSuccess,  TriggerRule::kAllFailed,  TriggerRule::kAllDone,
    TriggerRule::kOneSuccess,  TriggerRule::kOneFailed,  TriggerRule::kNoneFailed,
    TriggerRule::kNoneFailedMinOneSuccess, TriggerRule::kNoneSkipped, TriggerRule::kAlways};

/// Resizes one plan of failing tries (a run's, or the clear's) to the
/// scenario's tasks and instances, keeping what fits and drawing the rest
/// from `rng` (or zero without one).
void fit_plan(const Scenario& s, std::vector<std::vector<int>>& plan, std::mt19937_64* rng) {
  plan.resize(s.tasks.size());
  for (size_t t = 0; t < s.tasks.size(); ++t) {
    const size_t n = static_cast<size_t>(std::max(1, s.instances(static_cast<int>(t))));
    while (plan[t].size() < n) {
      int fails = 0;
      if (rng) {
        // Mostly successes, some flaky tries, some that run out of tries.
        int roll = static_cast<int>((*rng)() % 100);
        fails = roll < 70 ? 0 : roll < 85 ? 1 : roll < 93 ? 2 : 9;
      }
      plan[t].push_back(fails);
    }
    plan[t].resize(n);
  }
}

/// Fits every plan of the scenario: each run's and the clear's.
void fit_fails(Scenario& s, std::mt19937_64* rng) {
  s.fails.resize(s.runs);
  for (auto& run : s.fails) fit_plan(s, run, rng);
  if (s.clear) fit_plan(s, s.clear->fails, rng);
}

bool any_depends_on_past(const Scenario& s) {
  for (const ScenarioTask& task : s.tasks) {
    if (task.depends_on_past) return true;
  }
  return false;
}

/// Makes a shrunk variant consistent again: its clear and mark on runs that
/// exist, plans fitted, a mark that no longer fits dropped.
void normalize(Scenario& s) {
  if (s.clear) {
    s.clear->run = std::min(s.clear->run, s.runs - 1);
    if (any_depends_on_past(s) || s.clear->task >= static_cast<int>(s.tasks.size())) {
      s.clear.reset();
    }
  }
  if (s.mark) {
    s.mark->run = std::min(s.mark->run, s.runs - 1);
    if (!mark_fits(s, *s.mark)) s.mark.reset();
  }
  fit_fails(s, nullptr);
}

std::string instance_name(const Scenario& s, int t, size_t i) {
  return task_id(t) + (s.tasks[t].map_items >= 0 ? "[" + std::to_string(i) + "]" : "");
}

}  // namespace

std::string task_id(int task) { return "t" + std::to_string(task); }
std::string dag_id(const Scenario& scenario) { return "model_" + std::to_string(scenario.seed); }
std::string pool_name(const Scenario& scenario) { return "model_pool_" + std::to_string(scenario.seed); }

Scenario generate(uint64_t seed) {
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + 1);
  auto below = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  auto chance = [&](int percent) { return below(100) < percent; };
  Scenario s;
  s.seed = seed;
  // Mostly small DAGs, which shrink and run fast, and some large ones.
  const int n = chance(70) ? 1 + below(12) : 1 + below(60);
  const int edge_percent = 5 + below(40);
  const int fan_in = 1 + below(5);
  for (int t = 0; t < n; ++t) {
    ScenarioTask task;
    for (int u = 0; u < t; ++u) {
      if (static_cast<int>(task.upstream.size()) < fan_in && chance(edge_percent)) {
        task.upstream.push_back(u);
      }
    }
    task.rule = chance(50) ? TriggerRule::kAllSuccess : kRules[below(9)];
    task.retries = chance(60) ? 0 : 1 + below(2);
    if (chance(12)) {
      task.map_items = below(5);  // 0: an empty expansion
      if (chance(50)) task.max_map_concurrency = 1 + below(2);
    }
    task.depends_on_past = task.upstream.empty() && task.map_items < 0 && chance(10);
    task.in_pool = chance(15);
    s.tasks.push_back(task);
  }
  s.runs = 1 + (chance(60) ? 0 : below(3));
  s.max_active_runs = 1 + below(3);
  s.max_active_tasks = chance(50) ? 16 : 1 + below(4);
  s.pool_slots = 1 + below(3);
  fit_fails(s, &rng);

  // A clear or a mark in the middle (drawn last, so that the rest of a
  // seed's scenario is what it was before they existed).
  const bool past = any_depends_on_past(s);
  if (!past && chance(25)) {
    ScenarioClear clear;
    clear.run = below(s.runs);
    clear.task = below(n);
    clear.downstream = chance(50);
    s.clear = clear;
    fit_plan(s, s.clear->fails, &rng);
  }
  std::vector<ScenarioMark> before_start;
  for (int t = 0; t < n; ++t) {
    for (int u : s.tasks[t].upstream) {
      ScenarioMark mark;
      mark.task = t;
      mark.upstream = u;
      if (mark_fits(s, mark)) before_start.push_back(mark);
    }
  }
  if (!before_start.empty() && chance(15)) {
    ScenarioMark mark = before_start[below(static_cast<int>(before_start.size()))];
    mark.state = chance(75) ? TaskState::kSuccess : TaskState::kFailed;
    s.mark = mark;
  } else if (!past && !s.clear && chance(15)) {
    // Marks after the end are most telling on tasks that did not succeed:
    // those planned to fail and their downstream tasks.
    ScenarioMark mark;
    mark.kind = ScenarioMark::Kind::kAfterEnd;
    mark.run = below(s.runs);
    std::vector<int> unmapped, failing;
    for (int t = 0; t < n; ++t) {
      if (s.tasks[t].map_items >= 0) continue;
      unmapped.push_back(t);
      bool fails = s.fails[mark.run][t][0] > s.tasks[t].retries;
      for (int u : s.tasks[t].upstream) {
        for (int f : s.fails[mark.run][u]) fails = fails || f > s.tasks[u].retries;
      }
      if (fails) failing.push_back(t);
    }
    const std::vector<int>& from = !failing.empty() && chance(60) ? failing : unmapped;
    if (!from.empty()) {
      mark.task = from[below(static_cast<int>(from.size()))];
      s.mark = mark;
    }
  }
  return s;
}

std::vector<int> cleared_tasks(const Scenario& s) {
  std::vector<int> out;
  if (!s.clear) return out;
  std::vector<char> in(s.tasks.size(), 0);
  in[s.clear->task] = 1;
  // Upstream tasks have lower positions: one pass in order finds them all.
  for (size_t t = 0; t < s.tasks.size() && s.clear->downstream; ++t) {
    for (int u : s.tasks[t].upstream) {
      if (in[u]) in[t] = 1;
    }
  }
  for (size_t t = 0; t < s.tasks.size(); ++t) {
    if (in[t]) out.push_back(static_cast<int>(t));
  }
  return out;
}

bool mark_fits(const Scenario& s, const ScenarioMark& m) {
  const int n = static_cast<int>(s.tasks.size());
  if (m.task < 0 || m.task >= n || m.run < 0 || m.run >= s.runs) return false;
  const ScenarioTask& task = s.tasks[m.task];
  if (task.map_items >= 0) return false;
  if (m.kind == ScenarioMark::Kind::kAfterEnd) return !s.clear && !any_depends_on_past(s);
  // Before the start: the root task's first try in run 0 always comes, and
  // while it runs the marked task waits whatever its other upstream tasks do.
  if (m.run != 0 || m.upstream < 0 || m.upstream >= n) return false;
  if (m.state != TaskState::kSuccess && m.state != TaskState::kFailed) return false;
  const ScenarioTask& up = s.tasks[m.upstream];
  if (!up.upstream.empty() || up.depends_on_past || up.map_items >= 0) return false;
  if (std::find(task.upstream.begin(), task.upstream.end(), m.upstream) == task.upstream.end()) {
    return false;
  }
  if (task.rule == TriggerRule::kAlways) return false;
  return task.upstream.size() == 1 || task.rule == TriggerRule::kAllDone;
}

std::string to_yaml(const Scenario& s, const std::string& command) {
  std::ostringstream out;
  out << "dag: " << dag_id(s) << "\nschedule: null\nstart_date: 2026-01-01\n"
      << "max_active_runs: " << s.max_active_runs << "\nmax_active_tasks: "
      << s.max_active_tasks << "\ntasks:\n";
  for (size_t t = 0; t < s.tasks.size(); ++t) {
    const ScenarioTask& task = s.tasks[t];
    out << "  - id: " << task_id(static_cast<int>(t)) << "\n    type: shell\n";
    out << "    command: \"" << command << (task.map_items >= 0 ? " {{ map_index }}" : "") << "\"\n";
    if (!task.upstream.empty()) {
      out << "    depends_on: [";
      for (size_t k = 0; k < task.upstream.size(); ++k) {
        out << (k ? ", " : "") << task_id(task.upstream[k]);
      }
      out << "]\n";
    }
    if (task.rule != TriggerRule::kAllSuccess) out << "    trigger_rule: " << to_string(task.rule) << "\n";
    if (task.retries > 0) out << "    retries: " << task.retries << "\n    retry_delay: 0s\n";
    if (task.map_items >= 0) {
      out << "    map: {items: [";
      for (int i = 0; i < task.map_items; ++i) out << (i ? ", " : "") << i;
      out << "]}\n";
      if (task.max_map_concurrency > 0) {
        out << "    max_map_concurrency: " << task.max_map_concurrency << "\n";
      }
    }
    if (task.depends_on_past) out << "    depends_on_past: true\n";
    if (task.in_pool) out << "    pool: " << pool_name(s) << "\n";
  }
  return out.str();
}

std::string describe(const Scenario& s) {
  std::ostringstream out;
  out << to_yaml(s) << "# runs: " << s.runs << ", pool slots: " << s.pool_slots << "\n";
  for (int r = 0; r < s.runs; ++r) {
    out << "# run " << r << " failing tries:";
    bool any = false;
    for (size_t t = 0; t < s.tasks.size(); ++t) {
      for (size_t i = 0; i < s.fails[r][t].size(); ++i) {
        if (s.fails[r][t][i] == 0) continue;
        any = true;
        out << " " << task_id(static_cast<int>(t));
        if (s.tasks[t].map_items >= 0) out << "[" << i << "]";
        out << "=" << s.fails[r][t][i];
      }
    }
    out << (any ? "" : " none") << "\n";
  }
  if (s.clear) {
    const std::vector<int> cleared = cleared_tasks(s);
    out << "# clear: once run " << s.clear->run << " has ended, " << task_id(s.clear->task);
    if (s.clear->downstream) {
      out << " and its downstream tasks (";
      for (size_t k = 1; k < cleared.size(); ++k) out << (k > 1 ? ", " : "") << task_id(cleared[k]);
      out << (cleared.size() == 1 ? "none)" : ")");
    }
    out << " (every instance) are cleared\n# run " << s.clear->run
        << " failing tries after the clear:";
    bool any = false;
    for (int t : cleared) {
      for (size_t i = 0; i < s.clear->fails[t].size(); ++i) {
        if (s.clear->fails[t][i] == 0) continue;
        any = true;
        out << " " << instance_name(s, t, i) << "=" << s.clear->fails[t][i];
      }
    }
    out << (any ? "" : " none") << "\n";
  }
  if (s.mark && s.mark->kind == ScenarioMark::Kind::kBeforeStart) {
    out << "# mark: while " << task_id(s.mark->upstream) << "'s first try runs in run "
        << s.mark->run << ", " << task_id(s.mark->task) << " (not started) is marked "
        << to_string(s.mark->state) << "\n";
  } else if (s.mark) {
    out << "# mark: once run " << s.mark->run << " has ended, " << task_id(s.mark->task)
        << " is marked success (failed if it succeeded)\n";
  }
  return out.str();
}

std::vector<Scenario> shrink_candidates(const Scenario& s) {
  std::vector<Scenario> out;
  // Without one task: later tasks move down, edges to it go.
  for (int drop = static_cast<int>(s.tasks.size()) - 1; drop >= 0 && s.tasks.size() > 1; --drop) {
    Scenario c = s;
    c.tasks.erase(c.tasks.begin() + drop);
    for (auto& task : c.tasks) {
      std::vector<int> ups;
      for (int u : task.upstream) {
        if (u != drop) ups.push_back(u > drop ? u - 1 : u);
      }
      task.upstream = ups;
    }
    for (auto& run : c.fails) run.erase(run.begin() + drop);
    if (c.clear && c.clear->task == drop) {
      c.clear.reset();
    } else if (c.clear) {
      if (c.clear->task > drop) --c.clear->task;
      c.clear->fails.erase(c.clear->fails.begin() + drop);
    }
    const bool before_start = c.mark && c.mark->kind == ScenarioMark::Kind::kBeforeStart;
    if (c.mark && (c.mark->task == drop || (before_start && c.mark->upstream == drop))) {
      c.mark.reset();
    } else if (c.mark) {
      if (c.mark->task > drop) --c.mark->task;
      if (before_start && c.mark->upstream > drop) --c.mark->upstream;
    }
    out.push_back(std::move(c));
  }
  if (s.runs > 1) {
    Scenario c = s;
    --c.runs;
    c.fails.pop_back();
    out.push_back(std::move(c));
  }
  if (s.clear) {
    Scenario c = s;
    c.clear.reset();
    out.push_back(std::move(c));
    if (s.clear->downstream) {
      c = s;
      c.clear->downstream = false;
      out.push_back(std::move(c));
    }
  }
  if (s.mark) {
    Scenario c = s;
    c.mark.reset();
    out.push_back(std::move(c));
  }
  for (size_t t = 0; t < s.tasks.size(); ++t) {
    for (size_t k = 0; k < s.tasks[t].upstream.size(); ++k) {
      Scenario c = s;
      c.tasks[t].upstream.erase(c.tasks[t].upstream.begin() + static_cast<long>(k));
      if (!c.tasks[t].upstream.empty()) c.tasks[t].depends_on_past = false;
      out.push_back(std::move(c));
    }
  }
  for (size_t t = 0; t < s.tasks.size(); ++t) {
    const ScenarioTask& task = s.tasks[t];
    auto variant = [&](auto change) {
      Scenario c = s;
      change(c.tasks[t]);
      fit_fails(c, nullptr);
      out.push_back(std::move(c));
    };
    if (task.map_items >= 0) {
      variant([](ScenarioTask& x) { x.map_items = -1; x.max_map_concurrency = 0; });
      if (task.map_items > 1) variant([](ScenarioTask& x) { --x.map_items; });
    }
    if (task.rule != TriggerRule::kAllSuccess) {
      variant([](ScenarioTask& x) { x.rule = TriggerRule::kAllSuccess; });
    }
    if (task.retries > 0) variant([](ScenarioTask& x) { --x.retries; });
    if (task.depends_on_past) variant([](ScenarioTask& x) { x.depends_on_past = false; });
    if (task.in_pool) variant([](ScenarioTask& x) { x.in_pool = false; });
    if (task.max_map_concurrency > 0) variant([](ScenarioTask& x) { x.max_map_concurrency = 0; });
  }
  for (int r = 0; r < s.runs; ++r) {
    for (size_t t = 0; t < s.tasks.size(); ++t) {
      for (size_t i = 0; i < s.fails[r][t].size(); ++i) {
        if (s.fails[r][t][i] == 0) continue;
        Scenario c = s;
        c.fails[r][t][i] = 0;
        out.push_back(std::move(c));
      }
    }
  }
  if (s.clear) {
    for (int t : cleared_tasks(s)) {
      for (size_t i = 0; i < s.clear->fails[t].size(); ++i) {
        if (s.clear->fails[t][i] == 0) continue;
        Scenario c = s;
        c.clear->fails[t][i] = 0;
        out.push_back(std::move(c));
      }
    }
  }
  if (s.max_active_tasks < 16) {
    Scenario c = s;
    c.max_active_tasks = 16;
    out.push_back(std::move(c));
  }
  if (s.max_active_runs < 16) {
    Scenario c = s;
    c.max_active_runs = 16;
    out.push_back(std::move(c));
  }
  for (Scenario& c : out) normalize(c);
  return out;
}

}  // namespace sluice::model
