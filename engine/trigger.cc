#include "engine/trigger.h"

#include <date/date.h>

#include "core/dag.h"
#include "core/error.h"
#include "core/text.h"
#include "engine/dag_cache.h"
#include "engine/run_factory.h"

namespace sluice {

DataInterval manual_interval(const Dag& dag, const std::optional<std::string>& date,
                             Timestamp now) {
  const Schedule& schedule = dag.schedule;
  const date::time_zone* zone = schedule.zone() ? schedule.zone() : find_zone(dag.timezone);
  std::optional<Timestamp> at;
  if (date) {
    at = parse_timestamp(*date, zone);
    if (!at) {
      throw UserError("--date '" + *date +
                      "' is not a date or timestamp: use 2026-02-03 or 2026-02-03T02:00:00");
    }
  }
  if (schedule.kind() == Schedule::Kind::kNone) {
    Timestamp t = at.value_or(now);
    return {t, t};
  }
  if (schedule.kind() == Schedule::Kind::kOnce) {
    return {dag.start_date, dag.start_date};
  }
  if (!date) {
    if (auto interval = latest_complete_interval(schedule, dag.bounds(), now)) return *interval;
    if (auto interval = interval_containing(schedule, now)) return *interval;
    throw UserError("DAG '" + dag.id + "' has no data interval yet; pass --date");
  }
  if (is_bare_date(*date)) {
    // The interval whose start falls on that local day, from its midnight to
    // the next: 23 or 25 hours when the clocks change that day.
    Timestamp day_start = *at;
    Timestamp day_end =
        to_utc(zone, date::floor<date::days>(to_local(zone, day_start)) + date::days{1});
    ScheduleBounds open{Timestamp{} , std::nullopt};
    auto interval = next_interval_after(schedule, open, day_start);
    if (!interval || interval->start >= day_end) {
      throw UserError("no data interval of DAG '" + dag.id + "' (schedule " +
                      schedule.expression() + ") starts on " + *date +
                      "; pass a full timestamp to pick the interval containing it");
    }
    return *interval;
  }
  if (auto interval = interval_containing(schedule, *at)) return *interval;
  throw UserError("no data interval of DAG '" + dag.id + "' contains " + *date);
}

RunRecord trigger_run(Store& store, DagCache& dags, const TriggerRequest& request,
                      Timestamp now) {
  std::optional<DagRecord> record = store.get_dag(request.dag_id);
  if (!record || !record->version_id) {
    std::vector<std::string> ids;
    for (const DagRecord& r : store.list_dags()) ids.push_back(r.dag_id);
    throw NotFoundError("no DAG '" + request.dag_id + "' in the database" +
                        did_you_mean(request.dag_id, ids) +
                        "; check `sluice dags list` and that the scheduler has read the file");
  }
  std::shared_ptr<const Dag> dag = dags.get(*record->version_id);
  validate_conf(*dag, request.conf);
  DataInterval interval = manual_interval(*dag, request.date, now);
  NewRun run = make_new_run(*dag, *record->version_id, RunType::kManual, interval, request.conf,
                            make_run_id(RunType::kManual, now));
  // Two triggers within one millisecond would share a run id; step past it.
  for (int attempt = 0; attempt < 5; ++attempt) {
    try {
      auto created = store.create_run(run, make_decider(dag, now), now);
      if (created) return *created;
    } catch (const ConflictError&) {
    }
    now += Millis(1);
    run.run_id = make_run_id(RunType::kManual, now);
  }
  throw StoreError("could not create a manual run of '" + request.dag_id + "'", true);
}

}  // namespace sluice
