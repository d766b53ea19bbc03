// The Postgres store: the high-water marks of incremental extracts.

#include "core/postgres/pg_store_impl.h"

namespace sluice::pg {

namespace {

constexpr const char* kUpsert =
    "INSERT INTO task_watermarks (dag_id, task_id, column_name, kind, value, sort_key, run_id, "
    "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
    "ON CONFLICT (dag_id, task_id) DO UPDATE SET column_name = excluded.column_name, "
    "kind = excluded.kind, value = excluded.value, sort_key = excluded.sort_key, "
    "run_id = excluded.run_id, updated_at = excluded.updated_at";

}  // namespace

std::optional<Watermark> PostgresStore::get_watermark(const std::string& dag_id,
                                                      const std::string& task_id) {
  return transact(
      "read the watermark of " + dag_id + "." + task_id, [&](Tx& w) -> std::optional<Watermark> {
        pqxx::result r = w.exec_params(
            "SELECT dag_id, task_id, column_name, kind, value, sort_key, run_id, "
            "updated_at FROM task_watermarks WHERE dag_id = $1 AND task_id = $2",
            dag_id, task_id);
        if (r.empty()) return std::nullopt;
        const auto& row = r[0];
        return Watermark{
            text(row[0]), text(row[1]), text(row[2]), text(row[3]),
            text(row[4]), text(row[5]), text(row[6]), from_epoch_ms(row[7].as<int64_t>())};
      });
}

void PostgresStore::set_watermark(const Watermark& mark) {
  transact("set the watermark of " + mark.dag_id + "." + mark.task_id, [&](Tx& w) {
    w.exec_params(kUpsert, mark.dag_id, mark.task_id, mark.column, mark.kind, mark.value,
                  mark.sort_key, mark.run_id, to_epoch_ms(mark.updated_at));
    return 0;
  });
}

bool PostgresStore::delete_watermark(const std::string& dag_id, const std::string& task_id) {
  return transact("reset the watermark of " + dag_id + "." + task_id, [&](Tx& w) {
    return w.exec_params("DELETE FROM task_watermarks WHERE dag_id = $1 AND task_id = $2", dag_id,
                         task_id)
               .affected_rows() > 0;
  });
}

std::string PostgresStore::advance_watermark_sql(const Watermark& mark, Timestamp now) {
  // Another column or kind starts over; the same one only moves forward. The
  // row lock ON CONFLICT takes orders two finishes of the task: the later
  // one compares with what the earlier one wrote.
  return "INSERT INTO task_watermarks (dag_id, task_id, column_name, kind, value, sort_key, "
         "run_id, updated_at) VALUES (" +
         sql_literal(mark.dag_id) + ", " + sql_literal(mark.task_id) + ", " +
         sql_literal(mark.column) + ", " + sql_literal(mark.kind) + ", " + sql_literal(mark.value) +
         ", " + sql_literal(mark.sort_key) + ", " + sql_literal(mark.run_id) + ", " +
         std::to_string(to_epoch_ms(now)) +
         ") ON CONFLICT (dag_id, task_id) DO UPDATE SET column_name = excluded.column_name, "
         "kind = excluded.kind, value = excluded.value, sort_key = excluded.sort_key, "
         "run_id = excluded.run_id, updated_at = excluded.updated_at "
         "WHERE task_watermarks.column_name <> excluded.column_name "
         "OR task_watermarks.kind <> excluded.kind OR task_watermarks.sort_key < excluded.sort_key";
}

}  // namespace sluice::pg
