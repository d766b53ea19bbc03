// The SQLite store: the connection, its statement cache, schema migrations and housekeeping.

#include "core/sqlite/sqlite_store_impl.h"

namespace sluice::lite {

SqliteStore::SqliteStore(const std::string& path, const SqliteOptions& options)
    : rng_(std::random_device{}()) {
  int rc =
      sqlite3_open_v2(path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = "cannot open SQLite database '" + path +
                          "': " + (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
    sqlite3_close(db_);
    db_ = nullptr;
    throw StoreError(message, is_busy(rc));
  }
  try {
    sqlite3_extended_result_codes(db_, 1);
    busy_timeout_ = std::chrono::milliseconds(options.busy_timeout_ms);
    sqlite3_busy_handler(db_, &SqliteStore::on_busy, this);
    // WAL: readers never block the writer and a commit is one append to
    // the log. The mode is stored in the file, so this only writes once.
    std::string mode = pragma_text("PRAGMA journal_mode=WAL");
    if (mode != "wal") {
      throw StoreError("cannot switch SQLite database '" + path + "' to WAL mode (got '" + mode +
                       "'): use a local file system");
    }
    // NORMAL: in WAL mode a commit is not fsynced; it survives a crash of
    // the process but the last commits can be lost on power failure or an
    // OS crash. FULL fsyncs every commit: durable, at several times the
    // cost per commit, which the scheduler's ~2 commits per task feel.
    exec_raw(options.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    exec_raw("PRAGMA foreign_keys=ON");
  } catch (...) {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
    cache_.clear();
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
}

SqliteStore::~SqliteStore() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

int SqliteStore::synchronous_level() {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s = stmt("PRAGMA synchronous");
  return s.step() ? s.i32(0) : -1;
}

SchemaStatus SqliteStore::schema_status() {
  std::lock_guard<std::mutex> lock(mu_);
  Txn txn(this, false);
  SchemaStatus status = schema_status_locked();
  txn.commit();
  return status;
}

SchemaStatus SqliteStore::migrate() {
  std::lock_guard<std::mutex> lock(mu_);
  exec_raw(
      "CREATE TABLE IF NOT EXISTS schema_migrations ("
      " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)");
  for (const Migration& m : sqlite_migrations()) {
    Txn txn(this, true);
    // Checked inside the write transaction: another process may have
    // applied it since we looked.
    Stmt check = stmt("SELECT 1 FROM schema_migrations WHERE version = ?");
    check.bind(m.version);
    if (check.step()) continue;
    char* err = nullptr;
    int rc = sqlite3_exec(db_, m.sql, nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string detail = err ? err : sqlite3_errstr(rc);
      sqlite3_free(err);
      throw StoreError("migration " + std::string(m.name) + " failed: " + detail, is_busy(rc));
    }
    auto now = std::chrono::time_point_cast<Millis>(std::chrono::system_clock::now());
    stmt("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)")
        .bind(m.version, m.name, now)
        .run();
    txn.commit();
  }
  Txn txn(this, false);
  SchemaStatus status = schema_status_locked();
  txn.commit();
  return status;
}

int64_t SqliteStore::clean_finished_runs(Timestamp cutoff, int batch) {
  std::lock_guard<std::mutex> lock(mu_);
  batch = std::max(batch, 1);
  int64_t deleted = 0;
  while (true) {
    Txn txn(this, true);
    std::vector<int64_t> ids;
    {
      Stmt s = stmt(
          "SELECT id FROM dag_runs WHERE state IN ('success', 'failed', 'canceled') "
          "AND ended_at < ? ORDER BY ended_at LIMIT ?");
      s.bind(cutoff, batch);
      while (s.step()) ids.push_back(s.i64(0));
    }
    // Task instances and their logs go with the run (ON DELETE CASCADE).
    for (int64_t id : ids) stmt("DELETE FROM dag_runs WHERE id = ?").bind(id).run();
    txn.commit();
    deleted += static_cast<int64_t>(ids.size());
    if (static_cast<int>(ids.size()) < batch) break;
  }
  return deleted;
}

Stmt SqliteStore::stmt(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* prepared = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()) + 1,
                                SQLITE_PREPARE_PERSISTENT, &prepared, nullptr);
    if (rc != SQLITE_OK) throw_sqlite(db_, rc, "preparing `" + sql + "`");
    it = cache_.emplace(sql, prepared).first;
  }
  return Stmt(db_, it->second);
}

void SqliteStore::exec_raw(const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string detail = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    throw StoreError(std::string("SQLite error while running `") + sql + "`: " + detail,
                     is_busy(rc));
  }
}

std::string SqliteStore::pragma_text(const char* sql) {
  Stmt s = stmt(sql);
  std::string out = s.step() ? s.str(0) : std::string();
  s.run();
  return out;
}

SchemaStatus SqliteStore::schema_status_locked() {
  SchemaStatus status;
  std::set<int> applied_versions;
  bool has_table = false;
  {
    Stmt s =
        stmt("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'");
    has_table = s.step();
  }
  if (has_table) {
    Stmt s = stmt("SELECT version, name FROM schema_migrations ORDER BY version");
    while (s.step()) {
      applied_versions.insert(s.i32(0));
      status.applied.push_back(s.str(1));
      status.current = std::max(status.current, s.i32(0));
    }
  }
  for (const Migration& m : sqlite_migrations()) {
    status.latest = std::max(status.latest, m.version);
    if (!applied_versions.count(m.version)) status.pending.push_back(m.name);
  }
  return status;
}

int SqliteStore::on_busy(void* self, int count) {
  auto* store = static_cast<SqliteStore*>(self);
  auto now = std::chrono::steady_clock::now();
  if (count == 0) store->busy_since_ = now;
  if (now - store->busy_since_ >= store->busy_timeout_) return 0;
  auto pause = std::chrono::microseconds(50) * (1 << std::min(count / 8, 5));
  std::this_thread::sleep_for(
      std::min<std::chrono::microseconds>(pause, std::chrono::milliseconds(2)));
  return 1;
}

}  // namespace sluice::lite

namespace sluice {

std::unique_ptr<Store> open_sqlite_store(const std::string& path, const SqliteOptions& options) {
  return std::make_unique<lite::SqliteStore>(path, options);
}

int sqlite_synchronous_level(Store& store) {
  auto* sqlite = dynamic_cast<lite::SqliteStore*>(&store);
  return sqlite ? sqlite->synchronous_level() : -1;
}

}  // namespace sluice
