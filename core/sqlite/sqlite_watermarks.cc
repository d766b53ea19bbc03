// The SQLite store: the high-water marks of incremental extracts.

#include "core/sqlite/sqlite_store_impl.h"

namespace sluice::lite {

namespace {

constexpr const char* kUpsert =
    "INSERT INTO task_watermarks (dag_id, task_id, column_name, kind, value, sort_key, run_id, "
    "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (dag_id, task_id) DO UPDATE SET column_name = excluded.column_name, "
    "kind = excluded.kind, value = excluded.value, sort_key = excluded.sort_key, "
    "run_id = excluded.run_id, updated_at = excluded.updated_at";

}  // namespace

std::optional<Watermark> SqliteStore::get_watermark(const std::string& dag_id,
                                                    const std::string& task_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, false);
  std::optional<Watermark> out;
  {
    Stmt s = stmt(
        "SELECT dag_id, task_id, column_name, kind, value, sort_key, run_id, updated_at "
        "FROM task_watermarks WHERE dag_id = ? AND task_id = ?");
    s.bind(dag_id, task_id);
    if (s.step()) {
      out =
          Watermark{s.str(0), s.str(1), s.str(2), s.str(3), s.str(4), s.str(5), s.str(6), s.ts(7)};
    }
  }
  txn.commit();
  return out;
}

void SqliteStore::set_watermark(const Watermark& mark) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, true);
  stmt(kUpsert)
      .bind(mark.dag_id, mark.task_id, mark.column, mark.kind, mark.value, mark.sort_key,
            mark.run_id, mark.updated_at)
      .run();
  txn.commit();
}

bool SqliteStore::delete_watermark(const std::string& dag_id, const std::string& task_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, true);
  stmt("DELETE FROM task_watermarks WHERE dag_id = ? AND task_id = ?").bind(dag_id, task_id).run();
  bool deleted = sqlite3_changes(db_) > 0;
  txn.commit();
  return deleted;
}

void SqliteStore::advance_watermark_locked(const Watermark& mark, Timestamp now) {
  // Another column or kind starts over; the same one only moves forward.
  stmt(std::string(kUpsert) +
       " WHERE task_watermarks.column_name <> excluded.column_name "
       "OR task_watermarks.kind <> excluded.kind OR task_watermarks.sort_key < excluded.sort_key")
      .bind(mark.dag_id, mark.task_id, mark.column, mark.kind, mark.value, mark.sort_key,
            mark.run_id, now)
      .run();
}

}  // namespace sluice::lite
