#include "engine/backfill.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>

#include "core/dag.h"
#include "core/error.h"
#include "core/record_json.h"
#include "core/log.h"
#include "core/text.h"
#include "engine/dag_cache.h"
#include "engine/run_factory.h"

namespace sluice {
namespace {

bool is_active(RunState state) { return state == RunState::kQueued || state == RunState::kRunning; }

/// The local midnight that ends the day `date` (YYYY-MM-DD) names.
std::optional<Timestamp> end_of_day(const std::string& date, const date::time_zone* zone) {
  int y = 0;
  unsigned m = 0, d = 0;
  if (std::sscanf(date.c_str(), "%d-%u-%u", &y, &m, &d) != 3) return std::nullopt;
  std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{m},
                                  std::chrono::day{d}};
  if (!ymd.ok()) return std::nullopt;
  std::chrono::year_month_day next{std::chrono::sys_days(ymd) + std::chrono::days{1}};
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%04d-%02u-%02u", static_cast<int>(next.year()),
                static_cast<unsigned>(next.month()), static_cast<unsigned>(next.day()));
  return parse_timestamp(buf, zone);
}

std::shared_ptr<const Dag> latest_dag(Store& store, DagCache& dags, const std::string& dag_id,
                                      int64_t* version_id) {
  std::optional<DagRecord> record = store.get_dag(dag_id);
  if (!record || !record->version_id) {
    std::vector<std::string> ids;
    for (const DagRecord& r : store.list_dags()) ids.push_back(r.dag_id);
    throw NotFoundError("no DAG '" + dag_id + "' in the database" + did_you_mean(dag_id, ids) +
                        "; check `sluice dags list` and that the scheduler has read the file");
  }
  *version_id = *record->version_id;
  return dags.get(*record->version_id);
}

}  // namespace

std::optional<Reprocess> parse_reprocess(const std::string& text) {
  if (text == "none") return Reprocess::kNone;
  if (text == "failed") return Reprocess::kFailed;
  if (text == "all") return Reprocess::kAll;
  return std::nullopt;
}

const char* to_string(Reprocess reprocess) {
  switch (reprocess) {
    case Reprocess::kNone:
      return "none";
    case Reprocess::kFailed:
      return "failed";
    case Reprocess::kAll:
      return "all";
  }
  return "none";
}

PlannedInterval classify_interval(const DataInterval& interval, const RunRecord* existing,
                                  Reprocess reprocess, bool within_bounds) {
  PlannedInterval p;
  p.interval = interval;
  if (existing) {
    p.run_pk = existing->id;
    p.run_id = existing->run_id;
  }
  auto decide = [&p](const char* action, const char* reason) {
    p.action = action;
    p.reason = reason;
    return p;
  };
  if (!within_bounds) return decide("skip", "outside_bounds");
  if (!existing) return decide("create", "missing");
  switch (existing->state) {
    case RunState::kQueued:
    case RunState::kRunning:
      // Never duplicated, never cleared under a running task.
      return decide("skip", "running");
    case RunState::kFailed:
      return decide(reprocess == Reprocess::kNone ? "skip" : "rerun", "failed");
    case RunState::kCanceled:
      return decide(reprocess == Reprocess::kNone ? "skip" : "rerun", "canceled");
    case RunState::kSuccess:
      return decide(reprocess == Reprocess::kAll ? "rerun" : "skip", "completed");
  }
  return decide("skip", "completed");
}

std::vector<PlannedInterval> plan_backfill(const Dag& dag, const std::vector<RunRecord>& existing,
                                           Timestamp from, Timestamp to, Reprocess reprocess,
                                           bool backwards) {
  std::map<Timestamp, const RunRecord*> by_start;
  for (const RunRecord& run : existing) {
    if (run.dag_id == dag.id && run.type != RunType::kManual) by_start[run.interval.start] = &run;
  }
  // Every interval of the schedule in the range, then the DAG's bounds.
  // (@once has its one interval at start_date whatever the range.)
  ScheduleBounds open{dag.schedule.kind() == Schedule::Kind::kOnce
                          ? dag.start_date
                          : std::min(from, dag.start_date),
                      std::nullopt};
  ScheduleBounds bounds = dag.bounds();
  // Counted before they are all made: a range of centuries of a minutely
  // schedule is billions of intervals.
  std::vector<DataInterval> intervals =
      intervals_in_range(dag.schedule, open, from, to, kMaxBackfillIntervals + 1);
  if (intervals.size() > kMaxBackfillIntervals) {
    throw UserError("DAG '" + dag.id + "' has more than " + std::to_string(kMaxBackfillIntervals) +
                    " data intervals from " + format_iso(from) + " to " + format_iso(to) +
                    " (schedule " + dag.schedule.expression() + "); a backfill covers at most " +
                    std::to_string(kMaxBackfillIntervals) + ": split the range");
  }
  std::vector<PlannedInterval> out;
  for (const DataInterval& interval : intervals) {
    bool within = interval.start >= bounds.start_date &&
                  (!bounds.end_date || interval.start <= *bounds.end_date);
    auto it = by_start.find(interval.start);
    out.push_back(classify_interval(interval, it == by_start.end() ? nullptr : it->second,
                                    reprocess, within));
  }
  if (backwards) std::reverse(out.begin(), out.end());
  return out;
}

std::pair<Timestamp, Timestamp> backfill_range(const Dag& dag, const std::string& from,
                                               const std::string& to) {
  const date::time_zone* zone = dag.schedule.zone() ? dag.schedule.zone() : find_zone(dag.timezone);
  auto from_t = parse_timestamp(from, zone);
  if (from.empty() || !from_t) {
    throw UserError("--from '" + from +
                    "' is not a date or timestamp: use 2026-01-01 or 2026-01-01T02:00:00");
  }
  std::optional<Timestamp> to_t;
  if (is_bare_date(to)) {
    auto end = end_of_day(to, zone);
    if (end) to_t = *end - Millis(1);
  } else {
    to_t = parse_timestamp(to, zone);
  }
  if (to.empty() || !to_t) {
    throw UserError("--to '" + to +
                    "' is not a date or timestamp: use 2026-01-31 or 2026-01-31T23:00:00");
  }
  if (*to_t < *from_t) {
    throw UserError("--to " + to + " is before --from " + from + ": swap them");
  }
  return {*from_t, *to_t};
}

BackfillPlan create_backfill(Store& store, DagCache& dags, const BackfillRequest& request,
                             Timestamp now) {
  int64_t version_id = 0;
  std::shared_ptr<const Dag> dag = latest_dag(store, dags, request.dag_id, &version_id);
  std::optional<Reprocess> reprocess = parse_reprocess(request.reprocess);
  if (!reprocess) {
    throw UserError("--reprocess '" + request.reprocess + "' is not one of none, failed, all");
  }
  if (request.max_active_runs && *request.max_active_runs < 1) {
    throw UserError("--max-active-runs must be at least 1 (got " +
                    std::to_string(*request.max_active_runs) + ")");
  }
  if (!request.conf.is_object()) {
    throw UserError("--conf must be a JSON object (example: --conf '{\"country\": \"de\"}')");
  }
  validate_conf(*dag, request.conf);
  if (dag->schedule.kind() == Schedule::Kind::kNone) {
    throw UserError("DAG '" + dag->id +
                    "' has no schedule, so it has no data intervals to backfill; use "
                    "`sluice trigger " + dag->id + " --date D` for one run");
  }
  auto [from, to] = backfill_range(*dag, request.from, request.to);
  std::vector<RunRecord> existing = store.list_interval_runs(dag->id, from, to);
  BackfillPlan plan;
  plan.intervals = plan_backfill(*dag, existing, from, to, *reprocess, request.backwards);
  if (plan.intervals.empty()) {
    throw UserError("no data interval of DAG '" + dag->id + "' (schedule " +
                    dag->schedule.expression() + ", " + dag->timezone + ") starts between " +
                    format_iso(from) + " and " + format_iso(to));
  }
  BackfillRecord& b = plan.backfill;
  b.dag_id = dag->id;
  b.range_from = from;
  b.range_to = to;
  b.reprocess = to_string(*reprocess);
  b.max_active_runs = request.max_active_runs.value_or(std::max(dag->max_active_runs, 1));
  b.backwards = request.backwards;
  b.conf = request.conf;
  b.created_at = now;
  for (const PlannedInterval& p : plan.intervals) {
    if (p.action != "skip") ++b.total_runs;
  }
  if (request.dry_run) return plan;

  std::vector<BackfillIntervalRecord> rows;
  for (const PlannedInterval& p : plan.intervals) {
    BackfillIntervalRecord row;
    row.interval = p.interval;
    row.action = p.action;
    row.reason = p.reason;
    rows.push_back(std::move(row));
  }
  b.id = store.create_backfill(b, rows);
  if (b.total_runs == 0) {
    store.update_backfill(b.id, "success", 0, 0, 0, now);
    b.state = "success";
    b.finished_at = now;
  }
  return plan;
}

BackfillProgress backfill_progress(const std::vector<BackfillIntervalRecord>& intervals) {
  BackfillProgress p;
  for (const BackfillIntervalRecord& i : intervals) {
    if (i.action == "skip") {
      ++p.skipped;
      continue;
    }
    ++p.total;
    if (!i.run_pk) {
      ++p.pending;
    } else if (!i.run_state) {
      ++p.failed;  // the run was deleted (db clean)
    } else if (*i.run_state == RunState::kSuccess) {
      ++p.done;
    } else if (is_active(*i.run_state)) {
      ++p.running;
    } else {
      ++p.failed;
    }
  }
  return p;
}

void cancel_backfill(Store& store, int64_t backfill_id, bool terminate_running, Timestamp now) {
  std::optional<BackfillRecord> b = store.get_backfill(backfill_id);
  if (!b) {
    throw NotFoundError("no backfill " + std::to_string(backfill_id) +
                        "; `sluice backfill list` shows them");
  }
  std::vector<BackfillIntervalRecord> intervals = store.list_backfill_intervals(backfill_id);
  if (b->state == "running") {
    BackfillProgress p = backfill_progress(intervals);
    // First, so that the scheduler starts no further interval.
    store.update_backfill(backfill_id, "canceled", p.total, p.done, p.failed, now);
  } else if (b->state != "canceled" || !terminate_running) {
    throw UserError("backfill " + std::to_string(backfill_id) + " already ended (" + b->state +
                    "); nothing to cancel");
  }
  for (const BackfillIntervalRecord& i : intervals) {
    if (!i.run_pk || !i.run_state || !is_active(*i.run_state)) continue;
    if (*i.run_state == RunState::kQueued || terminate_running) store.cancel_run(*i.run_pk, now);
  }
}

std::optional<Timestamp> BackfillPass::advance(Timestamp now) {
  bool started = false;
  for (const BackfillRecord& backfill : store_.list_backfills("", /*running_only=*/true, 1000)) {
    try {
      started = advance_one(backfill, now) || started;
    } catch (const StoreError&) {
      throw;  // the scheduler backs off
    } catch (const std::exception& e) {
      log_error("backfill", "backfill " + std::to_string(backfill.id) + " of " +
                                backfill.dag_id + ": " + e.what());
    }
  }
  if (started) return now;
  return std::nullopt;
}

bool BackfillPass::advance_one(const BackfillRecord& b, Timestamp now) {
  std::vector<BackfillIntervalRecord> intervals = store_.list_backfill_intervals(b.id);
  if (b.backwards) std::reverse(intervals.begin(), intervals.end());
  BackfillProgress progress = backfill_progress(intervals);
  bool started = false;
  if (progress.pending > 0 && progress.running < b.max_active_runs) {
    int64_t version_id = 0;
    std::shared_ptr<const Dag> dag = latest_dag(store_, dags_, b.dag_id, &version_id);
    std::map<Timestamp, RunRecord> existing;
    for (RunRecord& run : store_.list_interval_runs(b.dag_id, b.range_from, b.range_to)) {
      Timestamp start = run.interval.start;
      existing.emplace(start, std::move(run));
    }
    std::optional<Reprocess> reprocess = parse_reprocess(b.reprocess);
    for (BackfillIntervalRecord& i : intervals) {
      if (progress.running >= b.max_active_runs) break;
      if (i.action == "skip" || i.run_pk) continue;
      auto it = existing.find(i.interval.start);
      const RunRecord* run = it == existing.end() ? nullptr : &it->second;
      std::optional<int64_t> run_pk;
      bool active = true;
      if (run && run->backfill_id == b.id) {
        // Started by this backfill before a restart, not yet recorded.
        run_pk = run->id;
        active = is_active(run->state);
      } else {
        // Decide on the interval as it stands now: a scheduled run may have
        // covered it since the plan was made.
        PlannedInterval p = classify_interval(i.interval, run, reprocess.value_or(Reprocess::kNone),
                                              /*within_bounds=*/true);
        if (p.action == "skip") {
          store_.update_backfill_interval(b.id, i.interval.start, "skip", p.reason, std::nullopt);
          --progress.pending;
          continue;
        }
        if (p.action == "create") {
          NewRun new_run = make_new_run(*dag, version_id, RunType::kBackfill, i.interval, b.conf,
                                        make_run_id(RunType::kBackfill, i.interval.start));
          new_run.backfill_id = b.id;
          std::optional<RunRecord> created;
          try {
            created = store_.create_run(new_run, make_decider(dag, now), now);
          } catch (const ConflictError&) {
          }
          if (!created) continue;  // created by someone else meanwhile: next pass decides
          run_pk = created->id;
        } else {
          if (!store_.rerun_for_backfill(run->id, b.id, b.conf, now)) continue;
          run_pk = run->id;
        }
        i.action = p.action;
        i.reason = p.reason;
      }
      std::string state =
          store_.update_backfill_interval(b.id, i.interval.start, i.action, i.reason, run_pk);
      if (state != "running") {
        // Canceled while this run was being made.
        store_.cancel_run(*run_pk, now);
        return started;
      }
      i.run_pk = run_pk;
      --progress.pending;
      if (active) {
        ++progress.running;
        started = true;
      }
      log_info("backfill", "backfill " + std::to_string(b.id) + ": " + i.action + " " +
                               b.dag_id + " " + format_iso(i.interval.start));
    }
  }
  // Counts are re-read so that they include what just ended.
  if (started) progress = backfill_progress(store_.list_backfill_intervals(b.id));
  std::string state = "running";
  if (progress.pending == 0 && progress.running == 0) {
    state = progress.failed > 0 ? "failed" : "success";
  }
  if (state != b.state || progress.total != b.total_runs || progress.done != b.succeeded_runs ||
      progress.failed != b.failed_runs) {
    store_.update_backfill(b.id, state, progress.total, progress.done, progress.failed, now);
    if (state != "running") {
      log_info("backfill", "backfill " + std::to_string(b.id) + " of " + b.dag_id + " " + state +
                               ": " + std::to_string(progress.done) + " succeeded, " +
                               std::to_string(progress.failed) + " failed");
    }
  }
  return started;
}

nlohmann::json backfill_json(const BackfillRecord& b) {
  return {{"id", b.id},
          {"dag_id", b.dag_id},
          {"from", format_iso(b.range_from)},
          {"to", format_iso(b.range_to)},
          {"reprocess", b.reprocess},
          {"max_active_runs", b.max_active_runs},
          {"backwards", b.backwards},
          {"conf", b.conf},
          {"state", b.state},
          {"created_at", format_iso(b.created_at)},
          {"finished_at", iso_or_null(b.finished_at)},
          {"total_runs", b.total_runs},
          {"succeeded_runs", b.succeeded_runs},
          {"failed_runs", b.failed_runs}};
}

nlohmann::json backfill_json(const BackfillRecord& b,
                             const std::vector<BackfillIntervalRecord>& intervals) {
  nlohmann::json j = backfill_json(b);
  BackfillProgress p = backfill_progress(intervals);
  j["progress"] = {{"total", p.total},     {"done", p.done},       {"failed", p.failed},
                   {"running", p.running}, {"pending", p.pending}, {"skipped", p.skipped}};
  j["intervals"] = nlohmann::json::array();
  for (const BackfillIntervalRecord& i : intervals) {
    j["intervals"].push_back(
        {{"data_interval_start", format_iso(i.interval.start)},
         {"data_interval_end", format_iso(i.interval.end)},
         {"action", i.action},
         {"reason", i.reason},
         {"run_id", i.run_pk ? nlohmann::json(i.run_id) : nlohmann::json(nullptr)},
         {"run_state", i.run_state ? nlohmann::json(to_string(*i.run_state))
                                   : nlohmann::json(nullptr)}});
  }
  return j;
}

nlohmann::json plan_json(const BackfillPlan& plan) {
  nlohmann::json j;
  j["backfill"] = plan.backfill.id ? backfill_json(plan.backfill) : nlohmann::json(nullptr);
  j["dry_run"] = plan.backfill.id == 0;
  j["intervals"] = nlohmann::json::array();
  for (const PlannedInterval& p : plan.intervals) {
    j["intervals"].push_back({{"data_interval_start", format_iso(p.interval.start)},
                              {"data_interval_end", format_iso(p.interval.end)},
                              {"action", p.action},
                              {"reason", p.reason},
                              {"existing_run_id", p.run_id.empty() ? nlohmann::json(nullptr)
                                                                   : nlohmann::json(p.run_id)}});
  }
  return j;
}

}  // namespace sluice
