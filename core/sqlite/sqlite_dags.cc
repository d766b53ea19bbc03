// The SQLite store: DAGs, their versions, file errors and pools.

#include "core/sqlite/sqlite_store_impl.h"

namespace sluice::lite {

int64_t SqliteStore::upsert_dag(const std::string& dag_id, const std::string& file,
                                const std::string& content_hash, const std::string& yaml,
                                const nlohmann::json& definition, bool initially_paused,
                                int max_active_tasks, Timestamp now) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, true);
  stmt(
      "INSERT INTO dags (dag_id, file, paused, active, max_active_tasks, updated_at) "
      "VALUES (?, ?, ?, 1, ?, ?) "
      "ON CONFLICT (dag_id) DO UPDATE SET file = excluded.file, active = 1, "
      "max_active_tasks = excluded.max_active_tasks, updated_at = excluded.updated_at")
      .bind(dag_id, file, initially_paused ? 1 : 0, max_active_tasks, now)
      .run();
  int64_t version_id = 0;
  {
    Stmt s = stmt("SELECT id FROM dag_versions WHERE dag_id = ? AND content_hash = ?");
    s.bind(dag_id, content_hash);
    if (s.step()) version_id = s.i64(0);
  }
  if (version_id == 0) {
    stmt(
        "INSERT INTO dag_versions (dag_id, content_hash, yaml, definition, created_at) "
        "VALUES (?, ?, ?, ?, ?)")
        .bind(dag_id, content_hash, yaml, definition.dump(), now)
        .run();
    version_id = sqlite3_last_insert_rowid(db_);
  }
  stmt("UPDATE dags SET version_id = ? WHERE dag_id = ?").bind(version_id, dag_id).run();
  stmt("DELETE FROM file_errors WHERE file = ?").bind(file).run();
  txn.commit();
  return version_id;
}

void SqliteStore::set_file_error(const FileError& error) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, true);
  stmt(
      "INSERT INTO file_errors (file, dag_id, message, at) VALUES (?, ?, ?, ?) "
      "ON CONFLICT (file) DO UPDATE SET dag_id = excluded.dag_id, "
      "message = excluded.message, at = excluded.at")
      .bind(error.file, error.dag_id, error.message, error.at)
      .run();
  txn.commit();
}

void SqliteStore::clear_file_error(const std::string& file) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, true);
  stmt("DELETE FROM file_errors WHERE file = ?").bind(file).run();
  txn.commit();
}

std::vector<FileError> SqliteStore::list_file_errors() {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, false);
  std::vector<FileError> out;
  Stmt s = stmt("SELECT file, dag_id, message, at FROM file_errors ORDER BY file");
  while (s.step()) out.push_back(FileError{s.str(0), s.str(1), s.str(2), s.ts(3)});
  txn.commit();
  return out;
}

void SqliteStore::set_active_files(const std::vector<std::string>& present_files) {
  std::lock_guard<std::mutex> lock(mu_);
  std::unordered_set<std::string> present(present_files.begin(), present_files.end());
  Txn txn(this, true);
  std::vector<std::pair<std::string, int>> changes;
  {
    Stmt s = stmt("SELECT dag_id, file, active FROM dags");
    while (s.step()) {
      int want = present.count(s.str(1)) ? 1 : 0;
      if (want != s.i32(2)) changes.emplace_back(s.str(0), want);
    }
  }
  for (const auto& [dag_id, active] : changes) {
    stmt("UPDATE dags SET active = ? WHERE dag_id = ?").bind(active, dag_id).run();
  }
  txn.commit();
}

std::vector<DagRecord> SqliteStore::list_dags() {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, false);
  std::vector<DagRecord> out;
  Stmt s = stmt(std::string("SELECT ") + kDagColumns + kDagFrom + "ORDER BY d.dag_id");
  while (s.step()) out.push_back(read_dag(s));
  txn.commit();
  return out;
}

std::optional<DagRecord> SqliteStore::get_dag(const std::string& dag_id) {
  return read_one(read_dag, std::string("SELECT ") + kDagColumns + kDagFrom + "WHERE d.dag_id = ?",
                  dag_id);
}

void SqliteStore::set_paused(const std::string& dag_id, bool paused) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, true);
  stmt("UPDATE dags SET paused = ? WHERE dag_id = ?").bind(paused ? 1 : 0, dag_id).run();
  if (sqlite3_changes(db_) == 0) throw NotFoundError("no DAG '" + dag_id + "'");
  txn.commit();
}

DagVersion SqliteStore::get_version(int64_t version_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, false);
  Stmt s = stmt(
      "SELECT id, dag_id, content_hash, yaml, definition, created_at FROM dag_versions "
      "WHERE id = ?");
  s.bind(version_id);
  if (!s.step()) throw NotFoundError("no DAG version " + std::to_string(version_id));
  return DagVersion{s.i64(0), s.str(1), s.str(2), s.str(3), s.json(4), s.ts(5)};
}

void SqliteStore::set_pools(const std::map<std::string, int>& slots) {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, true);
  stmt("DELETE FROM pools").run();
  for (const auto& [name, n] : slots) {
    stmt("INSERT INTO pools (name, slots) VALUES (?, ?)").bind(name, n).run();
  }
  txn.commit();
}

std::map<std::string, int> SqliteStore::list_pools() {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, false);
  std::map<std::string, int> out = pools_locked();
  txn.commit();
  out.emplace("default", kDefaultPoolSlots);  // always exists
  return out;
}

}  // namespace sluice::lite
