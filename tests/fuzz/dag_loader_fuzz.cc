// libFuzzer target: one DAG file's bytes through everything a DAG file
// reaches before any task runs.
//
// That is the loader (`sluice dags validate`: encoding, YAML shape and size
// bounds, keys, ids, durations, schedules and time zones, SQL files, the graph,
// template syntax), then what the scheduler and a worker do with a DAG that
// loaded: the store's JSON round trip, the readiness index, the first
// scheduled intervals, and rendering every templated string and map: list of
// each task. Besides crashes and sanitizer reports, these count as findings
// (the target aborts with the reason):
//   - an error message that breaks across lines (it would lose FILE:LINE:),
//   - the loader's "internal error" fallback, which means an exception
//     escaped the loader's own checks,
//   - a DAG that loads but whose JSON cannot be written or does not survive
//     the round trip.
//
// The input is read as if it were `dags/fuzz_input.yaml` of the source tree,
// so `sql: sql/....sql` in a seed finds the example SQL files.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/dag.h"
#include "core/dag_loader.h"
#include "core/error.h"
#include "core/schedule.h"
#include "core/store.h"
#include "core/template.h"
#include "engine/readiness.h"
#include "worker/mapping.h"
#include "worker/template_context.h"

namespace {

using sluice::Dag;
using sluice::Millis;

[[noreturn]] void finding(const std::string& what) {
  std::fprintf(stderr, "dag_loader_fuzz: %s\n", what.c_str());
  std::abort();
}

/// A fixed "now" (2026-02-10T12:00:00Z) keeps every run of an input alike.
constexpr sluice::Timestamp kNow{Millis(1770724800000)};

/// Renders what a worker renders for each task's first try in `run`. Errors a
/// user can act on (unknown names, bad filters, too many map items) are
/// expected; anything else escapes and crashes.
void render_tasks(const Dag& dag, const sluice::RunRecord& run) {
  static const sluice::Config config;
  size_t rendered = 0;
  for (const sluice::Task& task : dag.tasks) {
    // A thousand tasks say nothing that ten do not, and cost a hundred times more.
    if (++rendered > 10) break;
    nlohmann::json context;
    try {
      context = sluice::build_template_context(dag, task, run, 1, config,
                                               [] { return nlohmann::json::object(); });
      for (const std::string& text : sluice::templated_strings(task)) {
        sluice::render_template(text, context);
      }
      if (task.map) sluice::render_map_items(task, context, config.scheduler.map_limit);
    } catch (const sluice::UserError&) {
    }
  }
}

void check_loaded(const Dag& dag) {
  nlohmann::json stored = sluice::dag_to_json(dag);
  std::string text;
  try {
    text = stored.dump();
  } catch (const nlohmann::json::exception& e) {
    finding(std::string("a loaded DAG cannot be stored: ") + e.what());
  }
  nlohmann::json again;
  try {
    again = sluice::dag_to_json(sluice::dag_from_json(nlohmann::json::parse(text)));
  } catch (const std::exception& e) {
    finding(std::string("a stored DAG cannot be read back: ") + e.what());
  }
  if (again != stored) finding("a DAG changes in the store's round trip:\n" + text);

  sluice::DagIndex::build(dag);

  sluice::RunRecord run;
  run.dag_id = dag.id;
  run.run_id = "manual__fuzz";
  run.interval = {dag.start_date, dag.start_date};
  sluice::Timestamp from = dag.start_date;
  for (int i = 0; i < 3; ++i) {
    auto next = sluice::next_interval_after(dag.schedule, dag.bounds(), from);
    if (!next) break;
    if (i == 0) run.interval = *next;
    from = next->start + Millis(1);
  }
  sluice::latest_complete_interval(dag.schedule, dag.bounds(), kNow);
  sluice::interval_containing(dag.schedule, kNow);
  render_tasks(dag, run);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string file = SLUICE_SOURCE_DIR "/dags/fuzz_input.yaml";
  std::string text(reinterpret_cast<const char*>(data), size);
  sluice::LoadResult result = sluice::load_dag_text(file, text);
  for (const sluice::Diagnostic& d : result.errors) {
    std::string line = d.to_string();
    if (line.find_first_of("\r\n") != std::string::npos) {
      finding("an error message spans lines: " + line);
    }
    if (d.message.rfind("internal error while loading this DAG: ", 0) == 0) {
      finding("the loader's fallback caught an exception: " + line);
    }
  }
  if (result.dag) check_loaded(*result.dag);
  return 0;
}
