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

/// Resizes `fails` to the scenario's runs, tasks and instances, keeping what
/// fits and drawing the rest from `rng` (or zero without one).
void fit_fails(Scenario& s, std::mt19937_64* rng) {
  s.fails.resize(s.runs);
  for (auto& run : s.fails) {
    run.resize(s.tasks.size());
    for (size_t t = 0; t < s.tasks.size(); ++t) {
      const size_t n = static_cast<size_t>(std::max(1, s.instances(static_cast<int>(t))));
      while (run[t].size() < n) {
        int fails = 0;
        if (rng) {
          // Mostly successes, some flaky tries, some that run out of tries.
          int roll = static_cast<int>((*rng)() % 100);
          fails = roll < 70 ? 0 : roll < 85 ? 1 : roll < 93 ? 2 : 9;
        }
        run[t].push_back(fails);
      }
      run[t].resize(n);
    }
  }
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
  return s;
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
    out.push_back(std::move(c));
  }
  if (s.runs > 1) {
    Scenario c = s;
    --c.runs;
    c.fails.pop_back();
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
  return out;
}

}  // namespace sluice::model
