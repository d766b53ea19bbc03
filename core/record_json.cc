#include "core/record_json.h"

#include "core/secrets.h"

namespace sluice {
namespace {

using nlohmann::json;

json duration_or_null(const std::optional<Timestamp>& from, const std::optional<Timestamp>& to) {
  if (!from || !to) return nullptr;
  return (*to - *from).count();
}

}  // namespace

json iso_or_null(const std::optional<Timestamp>& t) {
  return t ? json(format_iso(*t)) : json(nullptr);
}

json next_run_json(const std::optional<DataInterval>& next) {
  if (!next) return nullptr;
  return {{"data_interval_start", format_iso(next->start)},
          {"data_interval_end", format_iso(next->end)}};
}

json run_json(const RunRecord& run, const std::vector<std::string>& secrets) {
  return {{"dag_id", run.dag_id},
          {"run_id", run.run_id},
          {"type", to_string(run.type)},
          {"state", to_string(run.state)},
          {"version_id", run.version_id},
          {"data_interval_start", format_iso(run.interval.start)},
          {"data_interval_end", format_iso(run.interval.end)},
          {"conf", mask_secrets_json(run.conf, secrets)},
          {"backfill_id", run.backfill_id ? json(*run.backfill_id) : json(nullptr)},
          {"created_at", format_iso(run.created_at)},
          {"started_at", iso_or_null(run.started_at)},
          {"ended_at", iso_or_null(run.ended_at)},
          {"duration_ms", duration_or_null(run.started_at, run.ended_at)}};
}

json task_json(const TaskInstanceRecord& ti, const std::vector<std::string>& secrets, bool full) {
  json j = {{"task_id", ti.task_id},
            {"map_index", ti.map_index},
            {"state", to_string(ti.state)},
            {"try_number", ti.try_number},
            {"max_tries", ti.max_tries},
            {"pool", ti.pool},
            {"queue", ti.queue},
            {"priority", ti.priority},
            {"queued_at", iso_or_null(ti.queued_at)},
            {"started_at", iso_or_null(ti.started_at)},
            {"ended_at", iso_or_null(ti.ended_at)},
            {"next_try_at", iso_or_null(ti.next_try_at)},
            {"worker_id", ti.worker_id},
            {"exit_code", ti.exit_code ? json(*ti.exit_code) : json(nullptr)},
            {"error", mask_secrets(ti.error, secrets)},
            {"duration_ms", duration_or_null(ti.started_at, ti.ended_at)}};
  if (full) {
    j["outputs"] = mask_secrets_json(ti.outputs, secrets);
    j["rendered"] = mask_secrets_json(ti.rendered, secrets);
    j["first_started_at"] = iso_or_null(ti.first_started_at);
  }
  return j;
}

}  // namespace sluice
