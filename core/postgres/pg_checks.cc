// The Postgres store: data check results (CheckLedger). They are written by
// finish_task (pg_tasks.cc), in the transaction that ends the try.

#include "core/postgres/pg_store_impl.h"

namespace sluice::pg {

std::vector<CheckResultRecord> PostgresStore::list_check_results(const CheckResultFilter& f) {
  return transact("list check results", [&](Tx& w) {
    std::optional<int64_t> before;
    if (f.before_interval) before = to_epoch_ms(*f.before_interval);
    std::vector<CheckResultRecord> out;
    for (const auto& row : w.exec_prepared("list_check_results", f.dag_id, f.task_id, f.name,
                                           f.ti_id, before, f.passed_only, f.limit, f.offset)) {
      CheckResultRecord c;
      c.ti_id = row["ti_id"].as<int64_t>();
      c.try_number = row["try_number"].as<int>();
      c.dag_id = text(row["dag_id"]);
      c.run_id = text(row["run_id"]);
      c.task_id = text(row["task_id"]);
      c.map_index = row["map_index"].as<int>();
      c.interval_start = from_epoch_ms(row["interval_start"].as<int64_t>());
      c.interval_end = from_epoch_ms(row["interval_end"].as<int64_t>());
      c.recorded_at = from_epoch_ms(row["recorded_at"].as<int64_t>());
      c.seq = row["seq"].as<int>();
      c.name = text(row["name"]);
      c.kind = text(row["kind"]);
      c.severity = text(row["severity"]);
      c.status = text(row["status"]);
      c.actual = text(row["actual"]);
      if (!row["value"].is_null()) c.value = row["value"].as<double>();
      c.threshold = text(row["threshold"]);
      out.push_back(std::move(c));
    }
    return out;
  });
}

int64_t PostgresStore::count_check_results(const CheckResultFilter& f) {
  return transact("count check results", [&](Tx& w) {
    std::optional<int64_t> before;
    if (f.before_interval) before = to_epoch_ms(*f.before_interval);
    return w.exec_prepared("count_check_results", f.dag_id, f.task_id, f.name, f.ti_id, before,
                           f.passed_only)[0][0]
        .as<int64_t>();
  });
}

}  // namespace sluice::pg
