#pragma once
// Backfills (SPEC section 2): a date range of one DAG, planned once, stored,
// and worked through by the scheduler. One code path for the CLI and the API.

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/schedule.h"
#include "core/store.h"

namespace sluice {

class DagCache;
struct Dag;

/// Which intervals that already have a run a backfill runs again.
enum class Reprocess { kNone, kFailed, kAll };

/// "none" | "failed" | "all"; nullopt for anything else.
std::optional<Reprocess> parse_reprocess(const std::string& text);
const char* to_string(Reprocess reprocess);

/// What a backfill does with one interval, and why.
struct PlannedInterval {
  DataInterval interval{};
  std::string action;  // create | rerun | skip
  std::string reason;  // missing | failed | canceled | completed | running | outside_bounds
  std::optional<int64_t> run_pk;  // the existing run, when there is one
  std::string run_id;
};

/// Decides one interval given the scheduled or backfill run that already
/// covers it (or none): pure.
PlannedInterval classify_interval(const DataInterval& interval, const RunRecord* existing,
                                  Reprocess reprocess, bool within_bounds);

/// The most data intervals one backfill covers, skipped ones included.
inline constexpr size_t kMaxBackfillIntervals = 10000;

/// The plan of a backfill of `dag` over intervals starting in [from, to],
/// given the DAG's existing scheduled and backfill runs: one entry per
/// interval, in the order they would run (latest first with `backwards`).
/// Intervals outside the DAG's start_date/end_date are listed as skipped.
/// Pure; throws UserError when the range holds more than
/// kMaxBackfillIntervals intervals.
std::vector<PlannedInterval> plan_backfill(const Dag& dag, const std::vector<RunRecord>& existing,
                                           Timestamp from, Timestamp to, Reprocess reprocess,
                                           bool backwards = false);

/// The instants a `--from` / `--to` pair means for `dag`: dates and local
/// timestamps in the DAG's time zone; a bare `to` date ends at the end of
/// that day. Throws UserError naming the flag.
std::pair<Timestamp, Timestamp> backfill_range(const Dag& dag, const std::string& from,
                                               const std::string& to);

/// What `sluice backfill` and POST /api/v1/backfills ask for.
struct BackfillRequest {
  std::string dag_id;
  std::string from;
  std::string to;
  std::string reprocess = "none";
  std::optional<int> max_active_runs;  // default: the DAG's max_active_runs
  bool backwards = false;
  nlohmann::json conf = nlohmann::json::object();
  bool dry_run = false;
};

/// A created (or, for a dry run, only planned) backfill and its plan.
struct BackfillPlan {
  BackfillRecord backfill;  // id 0 for a dry run
  std::vector<PlannedInterval> intervals;
};

/// Validates the request, plans it and, unless it is a dry run, stores the
/// backfill for the scheduler to carry out (a backfill with nothing to run
/// is stored as already successful). Throws NotFoundError / UserError.
BackfillPlan create_backfill(Store& store, DagCache& dags, const BackfillRequest& request,
                             Timestamp now);

/// Counts of a backfill's intervals by where they stand.
struct BackfillProgress {
  int total = 0;    // intervals it creates or re-runs
  int done = 0;     // their runs succeeded
  int failed = 0;   // their runs failed or were canceled
  int running = 0;  // their runs are queued or running
  int pending = 0;  // not started yet
  int skipped = 0;  // left alone (see each interval's reason)
};
BackfillProgress backfill_progress(const std::vector<BackfillIntervalRecord>& intervals);

/// Cancels a running backfill: no further interval starts, its queued runs
/// are canceled, its running runs finish, or are canceled too (their tasks
/// terminated by their workers) with `terminate_running`. Throws
/// NotFoundError, or UserError when it already ended.
void cancel_backfill(Store& store, int64_t backfill_id, bool terminate_running, Timestamp now);

/// The scheduler pass that carries out running backfills: keeps at most
/// max_active_runs runs of each active, starting the next planned intervals
/// in order, and marks a backfill success/failed once all its runs ended.
/// Reads everything from the store, so a restarted scheduler resumes where
/// the last one stopped, with no interval run twice.
class BackfillPass {
 public:
  BackfillPass(Store& store, DagCache& dags) : store_(store), dags_(dags) {}
  BackfillPass(const BackfillPass&) = delete;
  BackfillPass& operator=(const BackfillPass&) = delete;

  /// One pass over every running backfill. Returns `now` when it started
  /// runs (so that the scheduler starts them at once), else nullopt.
  std::optional<Timestamp> advance(Timestamp now);

 private:
  bool advance_one(const BackfillRecord& backfill, Timestamp now);

  Store& store_;
  DagCache& dags_;
};

/// JSON for the API and `--json`: times in UTC ISO-8601.
nlohmann::json backfill_json(const BackfillRecord& backfill);
nlohmann::json backfill_json(const BackfillRecord& backfill,
                             const std::vector<BackfillIntervalRecord>& intervals);
nlohmann::json plan_json(const BackfillPlan& plan);

}  // namespace sluice
