// The SQLite implementation of Store.
//
// One connection, guarded by a mutex: SQLite serialises writers anyway, and a
// single connection lets every statement stay prepared (SQLITE_PREPARE_PERSISTENT)
// for the life of the store. Writes run in BEGIN IMMEDIATE transactions, so
// the write lock is taken up front and a concurrent writer (another process
// or another Store on the same file) waits in the busy handler instead of
// failing half-way with SQLITE_BUSY_SNAPSHOT. Reads run in deferred
// transactions: in WAL mode they never block and see one consistent snapshot.

#include "core/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "core/error.h"
#include "core/migrations.h"
#include "core/pools.h"
#include "core/store.h"

namespace sluice {
namespace {

bool is_busy(int rc) {
  int primary = rc & 0xff;
  return primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
}

[[noreturn]] void throw_sqlite(sqlite3* db, int rc, const std::string& what) {
  std::string message = "SQLite error while " + what + ": " + sqlite3_errstr(rc);
  if (db != nullptr) {
    const char* detail = sqlite3_errmsg(db);
    if (detail != nullptr && std::string(detail) != sqlite3_errstr(rc)) {
      message += " (" + std::string(detail) + ")";
    }
  }
  if (is_busy(rc)) message += "; the database is busy, try again";
  throw StoreError(message, is_busy(rc));
}

/// One use of a cached prepared statement: binds, steps, reads columns, and
/// resets the statement when it goes out of scope.
class Stmt {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Stmt() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  /// Makes the statement ready to bind and step again.
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  template <typename... Args>
  Stmt& bind(const Args&... args) {
    int index = 1;
    (bind_one(index++, args), ...);
    return *this;
  }

  /// True when a row is available, false when done; throws on error.
  bool step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw_sqlite(db_, rc, std::string("running `") + abbreviated_sql() + "`");
  }
  void run() {
    while (step()) {
    }
  }

  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  int64_t i64(int col) const { return sqlite3_column_int64(stmt_, col); }
  int i32(int col) const { return sqlite3_column_int(stmt_, col); }
  std::optional<int64_t> opt_i64(int col) const {
    if (is_null(col)) return std::nullopt;
    return i64(col);
  }
  std::string str(int col) const {
    const void* data = sqlite3_column_blob(stmt_, col);
    int size = sqlite3_column_bytes(stmt_, col);
    if (data == nullptr || size <= 0) return {};
    return std::string(static_cast<const char*>(data), static_cast<size_t>(size));
  }
  Timestamp ts(int col) const { return from_epoch_ms(i64(col)); }
  std::optional<Timestamp> opt_ts(int col) const {
    if (is_null(col)) return std::nullopt;
    return ts(col);
  }
  nlohmann::json json(int col) const {
    if (is_null(col)) return nullptr;
    std::string text = str(col);
    try {
      return nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      throw StoreError(std::string("corrupt JSON in column ") + sqlite3_column_name(stmt_, col) +
                       ": " + e.what());
    }
  }

 private:
  std::string abbreviated_sql() const {
    std::string sql = sqlite3_sql(stmt_);
    if (sql.size() > 80) sql = sql.substr(0, 77) + "...";
    return sql;
  }
  void check(int rc) {
    if (rc != SQLITE_OK) throw_sqlite(db_, rc, "binding a parameter");
  }

 public:
  /// Binds one parameter by position (for statements built at run time).
  template <typename T>
  void bind_at(int i, const T& v) {
    bind_one(i, v);
  }
  /// Binds bytes as a BLOB (logs are bytes, not necessarily UTF-8).
  void bind_blob(int i, const std::string& bytes) {
    check(sqlite3_bind_blob(stmt_, i, bytes.data(), static_cast<int>(bytes.size()),
                            SQLITE_TRANSIENT));
  }

 private:
  void bind_one(int i, int v) { check(sqlite3_bind_int(stmt_, i, v)); }
  void bind_one(int i, int64_t v) { check(sqlite3_bind_int64(stmt_, i, v)); }
  void bind_one(int i, const std::string& v) {
    check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
  }
  void bind_one(int i, const char* v) { check(sqlite3_bind_text(stmt_, i, v, -1, SQLITE_STATIC)); }
  void bind_one(int i, std::nullptr_t) { check(sqlite3_bind_null(stmt_, i)); }
  void bind_one(int i, Timestamp t) { bind_one(i, to_epoch_ms(t)); }
  void bind_one(int i, const std::optional<Timestamp>& t) {
    if (t) {
      bind_one(i, *t);
    } else {
      bind_one(i, nullptr);
    }
  }
  void bind_one(int i, const std::optional<int64_t>& v) {
    if (v) {
      bind_one(i, *v);
    } else {
      bind_one(i, nullptr);
    }
  }
  void bind_one(int i, const std::optional<int>& v) {
    if (v) {
      bind_one(i, *v);
    } else {
      bind_one(i, nullptr);
    }
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

// Column lists shared by the queries that fill records.
constexpr const char* kRunColumns =
    "id, dag_id, run_id, run_type, state, version_id, interval_start, interval_end, conf, "
    "backfill_id, created_at, started_at, ended_at";
constexpr const char* kTiColumns =
    "ti.id, ti.run_pk, ti.dag_id, r.run_id, ti.task_id, ti.map_index, ti.state, ti.try_number, "
    "ti.max_tries, ti.pool, ti.pool_slots, ti.priority, ti.queue, ti.queued_at, ti.started_at, "
    "ti.ended_at, ti.next_try_at, ti.first_started_at, ti.worker_id, ti.exit_code, ti.outputs, "
    "ti.rendered, ti.error";
constexpr const char* kTiFrom = " FROM task_instances ti JOIN dag_runs r ON r.id = ti.run_pk ";
constexpr const char* kAlertColumns =
    "id, event_id, event, dag_id, run_id, task_id, payload, attempts, created_at, "
    "next_attempt_at, delivered_at, last_error";
constexpr const char* kDagColumns =
    "d.dag_id, d.file, d.paused, d.active, d.max_active_tasks, d.version_id, d.updated_at, "
    "COALESCE(fe.message, '')";
constexpr const char* kDagFrom = " FROM dags d LEFT JOIN file_errors fe ON fe.file = d.file ";

RunType run_type_of(const std::string& text) {
  auto t = parse_run_type(text);
  if (!t) throw StoreError("unknown run type '" + text + "' in the database");
  return *t;
}
RunState run_state_of(const std::string& text) {
  auto s = parse_run_state(text);
  if (!s) throw StoreError("unknown run state '" + text + "' in the database");
  return *s;
}
TaskState task_state_of(const std::string& text) {
  auto s = parse_task_state(text);
  if (!s) throw StoreError("unknown task state '" + text + "' in the database");
  return *s;
}

int run_type_rank(RunType t) { return t == RunType::kBackfill ? 1 : 0; }

RunRecord read_run(const Stmt& s, int c = 0) {
  RunRecord r;
  r.id = s.i64(c + 0);
  r.dag_id = s.str(c + 1);
  r.run_id = s.str(c + 2);
  r.type = run_type_of(s.str(c + 3));
  r.state = run_state_of(s.str(c + 4));
  r.version_id = s.i64(c + 5);
  r.interval = DataInterval{s.ts(c + 6), s.ts(c + 7)};
  r.conf = s.json(c + 8);
  r.backfill_id = s.opt_i64(c + 9);
  r.created_at = s.ts(c + 10);
  r.started_at = s.opt_ts(c + 11);
  r.ended_at = s.opt_ts(c + 12);
  return r;
}

// read_run at column 0, as a one-argument callable.
constexpr auto kReadRun = [](const Stmt& s) { return read_run(s); };

TaskInstanceRecord read_ti(const Stmt& s) {
  TaskInstanceRecord t;
  t.id = s.i64(0);
  t.run_pk = s.i64(1);
  t.dag_id = s.str(2);
  t.run_id = s.str(3);
  t.task_id = s.str(4);
  t.map_index = s.i32(5);
  t.state = task_state_of(s.str(6));
  t.try_number = s.i32(7);
  t.max_tries = s.i32(8);
  t.pool = s.str(9);
  t.pool_slots = s.i32(10);
  t.priority = s.i32(11);
  t.queue = s.str(12);
  t.queued_at = s.opt_ts(13);
  t.started_at = s.opt_ts(14);
  t.ended_at = s.opt_ts(15);
  t.next_try_at = s.opt_ts(16);
  t.first_started_at = s.opt_ts(17);
  t.worker_id = s.str(18);
  if (!s.is_null(19)) t.exit_code = s.i32(19);
  t.outputs = s.json(20);
  t.rendered = s.json(21);
  t.error = s.str(22);
  return t;
}

AlertRecord read_alert(const Stmt& s) {
  AlertRecord a;
  a.id = s.i64(0);
  a.event_id = s.str(1);
  a.event = s.str(2);
  a.dag_id = s.str(3);
  a.run_id = s.str(4);
  a.task_id = s.str(5);
  a.payload = s.json(6);
  a.attempts = s.i32(7);
  a.created_at = s.ts(8);
  a.next_attempt_at = s.opt_ts(9);
  a.delivered_at = s.opt_ts(10);
  a.last_error = s.str(11);
  return a;
}

DagRecord read_dag(const Stmt& s) {
  DagRecord d;
  d.dag_id = s.str(0);
  d.file = s.str(1);
  d.paused = s.i32(2) != 0;
  d.active = s.i32(3) != 0;
  d.max_active_tasks = s.i32(4);
  d.version_id = s.opt_i64(5);
  d.updated_at = s.ts(6);
  d.parse_error = s.str(7);
  return d;
}

constexpr const char* kBackfillColumns =
    "id, dag_id, range_from, range_to, reprocess, max_active_runs, backwards, conf, state, "
    "created_at, finished_at, total_runs, succeeded_runs, failed_runs";

BackfillRecord read_backfill(const Stmt& s) {
  BackfillRecord b;
  b.id = s.i64(0);
  b.dag_id = s.str(1);
  b.range_from = s.ts(2);
  b.range_to = s.ts(3);
  b.reprocess = s.str(4);
  b.max_active_runs = s.i32(5);
  b.backwards = s.i32(6) != 0;
  b.conf = s.json(7);
  b.state = s.str(8);
  b.created_at = s.ts(9);
  b.finished_at = s.opt_ts(10);
  b.total_runs = s.i32(11);
  b.succeeded_runs = s.i32(12);
  b.failed_runs = s.i32(13);
  return b;
}

std::string placeholders(size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += i == 0 ? "?" : ", ?";
  return out;
}

/// The SQLite store: one connection, a statement cache, a mutex.
class SqliteStore final : public Store {
 public:
  SqliteStore(const std::string& path, const SqliteOptions& options)
      : rng_(std::random_device{}()) {
    int rc = sqlite3_open_v2(path.c_str(), &db_,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             nullptr);
    if (rc != SQLITE_OK) {
      std::string message = "cannot open SQLite database '" + path + "': " +
                            (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
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
        throw StoreError("cannot switch SQLite database '" + path + "' to WAL mode (got '" +
                         mode + "'): use a local file system");
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

  ~SqliteStore() override {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
    sqlite3_close(db_);
  }

  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  int synchronous_level() {
    std::lock_guard<std::mutex> lock(mu_);
    Stmt s = stmt("PRAGMA synchronous");
    return s.step() ? s.i32(0) : -1;
  }

  // --- Schema ---------------------------------------------------------------

  SchemaStatus schema_status() override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, false);
    SchemaStatus status = schema_status_locked();
    txn.commit();
    return status;
  }

  SchemaStatus migrate() override {
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

  // --- DAGs -----------------------------------------------------------------

  int64_t upsert_dag(const std::string& dag_id, const std::string& file,
                     const std::string& content_hash, const std::string& yaml,
                     const nlohmann::json& definition, bool initially_paused,
                     int max_active_tasks, Timestamp now) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, true);
    stmt("INSERT INTO dags (dag_id, file, paused, active, max_active_tasks, updated_at) "
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
      stmt("INSERT INTO dag_versions (dag_id, content_hash, yaml, definition, created_at) "
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

  void set_file_error(const FileError& error) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, true);
    stmt("INSERT INTO file_errors (file, dag_id, message, at) VALUES (?, ?, ?, ?) "
         "ON CONFLICT (file) DO UPDATE SET dag_id = excluded.dag_id, "
         "message = excluded.message, at = excluded.at")
        .bind(error.file, error.dag_id, error.message, error.at)
        .run();
    txn.commit();
  }

  void clear_file_error(const std::string& file) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, true);
    stmt("DELETE FROM file_errors WHERE file = ?").bind(file).run();
    txn.commit();
  }

  std::vector<FileError> list_file_errors() override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, false);
    std::vector<FileError> out;
    Stmt s = stmt("SELECT file, dag_id, message, at FROM file_errors ORDER BY file");
    while (s.step()) out.push_back(FileError{s.str(0), s.str(1), s.str(2), s.ts(3)});
    txn.commit();
    return out;
  }

  void set_active_files(const std::vector<std::string>& present_files) override {
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

  std::vector<DagRecord> list_dags() override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, false);
    std::vector<DagRecord> out;
    Stmt s = stmt(std::string("SELECT ") + kDagColumns + kDagFrom + "ORDER BY d.dag_id");
    while (s.step()) out.push_back(read_dag(s));
    txn.commit();
    return out;
  }

  std::optional<DagRecord> get_dag(const std::string& dag_id) override {
    return read_one(read_dag,
                    std::string("SELECT ") + kDagColumns + kDagFrom + "WHERE d.dag_id = ?", dag_id);
  }

  void set_paused(const std::string& dag_id, bool paused) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, true);
    stmt("UPDATE dags SET paused = ? WHERE dag_id = ?").bind(paused ? 1 : 0, dag_id).run();
    if (sqlite3_changes(db_) == 0) throw NotFoundError("no DAG '" + dag_id + "'");
    txn.commit();
  }

  DagVersion get_version(int64_t version_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, false);
    Stmt s = stmt(
        "SELECT id, dag_id, content_hash, yaml, definition, created_at FROM dag_versions "
        "WHERE id = ?");
    s.bind(version_id);
    if (!s.step()) throw NotFoundError("no DAG version " + std::to_string(version_id));
    return DagVersion{s.i64(0), s.str(1), s.str(2), s.str(3), s.json(4), s.ts(5)};
  }

  // --- Pools ----------------------------------------------------------------

  void set_pools(const std::map<std::string, int>& slots) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, true);
    stmt("DELETE FROM pools").run();
    for (const auto& [name, n] : slots) {
      stmt("INSERT INTO pools (name, slots) VALUES (?, ?)").bind(name, n).run();
    }
    txn.commit();
  }

  std::map<std::string, int> list_pools() override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, false);
    std::map<std::string, int> out = pools_locked();
    txn.commit();
    out.emplace("default", kDefaultPoolSlots);  // always exists
    return out;
  }

  // --- Runs -----------------------------------------------------------------

  std::optional<RunRecord> create_run(const NewRun& run, const Decider& decider,
                                      Timestamp now) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, true);
    if (run.type == RunType::kScheduled || run.type == RunType::kBackfill) {
      Stmt s = stmt(
          "SELECT 1 FROM dag_runs WHERE dag_id = ? AND interval_start = ? "
          "AND run_type IN ('scheduled', 'backfill')");
      s.bind(run.dag_id, run.interval.start);
      if (s.step()) return std::nullopt;
    }
    {
      Stmt s = stmt("SELECT 1 FROM dag_runs WHERE dag_id = ? AND run_id = ?");
      s.bind(run.dag_id, run.run_id);
      if (s.step()) {
        throw ConflictError("DAG '" + run.dag_id + "' already has a run '" + run.run_id + "'");
      }
    }
    std::optional<Timestamp> started;
    if (run.state == RunState::kRunning) started = now;
    std::optional<Timestamp> ended;
    if (is_finished(run.state)) ended = now;
    stmt("INSERT INTO dag_runs (dag_id, run_id, run_type, state, version_id, interval_start, "
         "interval_end, conf, backfill_id, created_at, started_at, ended_at) "
         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        .bind(run.dag_id, run.run_id, to_string(run.type), to_string(run.state), run.version_id,
              run.interval.start, run.interval.end, run.conf.dump(), run.backfill_id, now,
              started, ended)
        .run();
    int64_t run_pk = sqlite3_last_insert_rowid(db_);
    int rank = run_type_rank(run.type);
    for (const NewRun::Task& t : run.tasks) {
      stmt("INSERT INTO task_instances (run_pk, dag_id, task_id, map_index, state, max_tries, "
           "pool, priority, queue, run_type_rank) VALUES (?, ?, ?, -1, 'none', ?, ?, ?, ?, ?)")
          .bind(run_pk, run.dag_id, t.task_id, t.max_tries, t.pool, t.priority, t.queue, rank)
          .run();
    }
    apply_decider(run_pk, decider, now);
    std::optional<RunRecord> out = run_by_pk_locked(run_pk);
    txn.commit();
    return out;
  }

  std::optional<RunRecord> get_run(const std::string& dag_id, const std::string& run_id) override {
    return read_one(kReadRun, std::string("SELECT ") + kRunColumns +
                    " FROM dag_runs WHERE dag_id = ? AND run_id = ?", dag_id, run_id);
  }

  std::optional<RunRecord> get_run_by_pk(int64_t run_pk) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, false);
    std::optional<RunRecord> out = run_by_pk_locked(run_pk);
    txn.commit();
    return out;
  }

  std::vector<RunRecord> list_runs(const RunFilter& filter) override {
    std::lock_guard<std::mutex> lock(mu_);
    // The statement text depends only on which filters are set, so the
    // cache holds at most 8 variants.
    std::string sql = std::string("SELECT ") + kRunColumns + " FROM dag_runs WHERE 1 = 1";
    if (!filter.dag_id.empty()) sql += " AND dag_id = ?";
    if (filter.state) sql += " AND state = ?";
    if (filter.type) sql += " AND run_type = ?";
    sql += filter.newest_created_first ? " ORDER BY id DESC LIMIT ? OFFSET ?"
                                       : " ORDER BY interval_start DESC, id DESC LIMIT ? OFFSET ?";
    Txn txn(this, false);
    std::vector<RunRecord> out;
    {
      Stmt s = stmt(sql);
      int i = 1;
      if (!filter.dag_id.empty()) s.bind_at(i++, filter.dag_id);
      if (filter.state) s.bind_at(i++, to_string(*filter.state));
      if (filter.type) s.bind_at(i++, to_string(*filter.type));
      s.bind_at(i++, filter.limit);
      s.bind_at(i++, std::max(filter.offset, 0));
      while (s.step()) out.push_back(read_run(s));
    }
    txn.commit();
    return out;
  }

  std::optional<RunRecord> latest_interval_run(const std::string& dag_id) override {
    return read_one(kReadRun, std::string("SELECT ") + kRunColumns +
                    " FROM dag_runs WHERE dag_id = ? AND run_type IN ('scheduled', 'backfill') "
                    "ORDER BY interval_start DESC LIMIT 1", dag_id);
  }

  std::vector<RunRecord> list_unfinished_runs() override {
    return read_all(kReadRun, std::string("SELECT ") + kRunColumns +
                    " FROM dag_runs WHERE state IN ('queued', 'running') ORDER BY id");
  }

  RunDecisions reconcile_run(int64_t run_pk, const Decider& decider, Timestamp now) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, true);
    RunDecisions applied = apply_decider(run_pk, decider, now).decisions;
    txn.commit();
    return applied;
  }

  // --- Task instances -------------------------------------------------------

  std::vector<TaskInstanceRecord> list_task_instances(int64_t run_pk) override {
    return read_all(read_ti, std::string("SELECT ") + kTiColumns + kTiFrom +
                    "WHERE ti.run_pk = ? ORDER BY ti.id", run_pk);
  }

  std::optional<TaskInstanceRecord> get_task_instance(int64_t ti_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, false);
    std::optional<TaskInstanceRecord> out = ti_locked(ti_id);
    txn.commit();
    return out;
  }

  std::vector<ClaimedTask> claim_tasks(const ClaimRequest& request) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (request.queues.empty() || request.max_tasks <= 0) return {};
    Txn txn(this, true);
    std::vector<ClaimedTask> out = claim_locked(request);
    txn.commit();
    return out;
  }

  // claim_tasks inside the caller's write transaction.
  std::vector<ClaimedTask> claim_locked(const ClaimRequest& request) {
    if (request.queues.empty() || request.max_tasks <= 0) return {};
    std::map<std::string, int> pool_size = pools_locked();
    std::unordered_map<std::string, int64_t> pool_used;  // running slots per pool
    std::unordered_map<std::string, std::pair<int64_t, int64_t>> dag_load;  // running, limit
    std::vector<int64_t> chosen;
    {
      std::string sql =
          "SELECT id, dag_id, pool, pool_slots FROM task_instances "
          "WHERE state = 'queued' AND queue IN (" +
          placeholders(request.queues.size()) +
          ") ORDER BY run_type_rank, priority DESC, queued_at, id";
      Stmt s = stmt(sql);
      for (size_t i = 0; i < request.queues.size(); ++i) {
        s.bind_at(static_cast<int>(i + 1), request.queues[i]);
      }
      while (static_cast<int>(chosen.size()) < request.max_tasks && s.step()) {
        std::string dag_id = s.str(1);
        std::string pool = s.str(2);
        int64_t slots = s.i64(3);
        auto used = pool_used.find(pool);
        if (used == pool_used.end()) used = pool_used.emplace(pool, running_pool_slots(pool)).first;
        auto size = pool_size.find(pool);
        int64_t capacity = size == pool_size.end() ? kDefaultPoolSlots : size->second;
        if (used->second + slots > capacity) continue;
        auto load = dag_load.find(dag_id);
        if (load == dag_load.end()) load = dag_load.emplace(dag_id, dag_load_of(dag_id)).first;
        if (load->second.first >= load->second.second) continue;
        used->second += slots;
        load->second.first += 1;
        chosen.push_back(s.i64(0));
      }
    }
    std::vector<ClaimedTask> out;
    std::unordered_map<int64_t, RunRecord> runs;
    for (int64_t id : chosen) {
      stmt("UPDATE task_instances SET state = 'running', try_number = try_number + 1, "
           "started_at = ?, first_started_at = COALESCE(first_started_at, ?), worker_id = ?, "
           "ended_at = NULL, exit_code = NULL, error = '' WHERE id = ? AND state = 'queued'")
          .bind(request.now, request.now, request.worker_id, id)
          .run();
      std::optional<TaskInstanceRecord> ti = ti_locked(id);
      if (!ti) continue;
      auto run = runs.find(ti->run_pk);
      if (run == runs.end()) {
        std::optional<RunRecord> r = run_by_pk_locked(ti->run_pk);
        if (!r) continue;
        run = runs.emplace(ti->run_pk, std::move(*r)).first;
      }
      out.push_back(ClaimedTask{std::move(*ti), run->second});
    }
    return out;
  }

  FinishOutcome finish_task(const TaskResult& result, const Decider& decider) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, true);
    std::optional<int64_t> run_pk;
    std::string finished_task;
    {
      std::string rendered = result.rendered.is_null() ? std::string() : result.rendered.dump();
      Stmt s = stmt(
          "UPDATE task_instances SET state = ?, exit_code = ?, outputs = ?, "
          "rendered = COALESCE(?, rendered), error = ?, next_try_at = ?, ended_at = ? "
          "WHERE id = ? AND state = 'running' AND try_number = ? AND (? = '' OR worker_id = ?) "
          "RETURNING run_pk, task_id");
      s.bind(to_string(result.state), result.exit_code, result.outputs.dump(), nullptr,
             result.error, result.next_try_at, result.ended_at, result.ti_id, result.try_number,
             result.worker_id, result.worker_id);
      if (!rendered.empty()) s.bind_at(4, rendered);
      if (s.step()) {
        run_pk = s.i64(0);
        finished_task = s.str(1);
      }
      s.run();
    }
    if (!run_pk) {
      std::optional<TaskInstanceRecord> now_ti = ti_locked(result.ti_id);
      if (!now_ti) throw NotFoundError("no task instance " + std::to_string(result.ti_id));
      throw ConflictError("task instance " + std::to_string(result.ti_id) + " (" +
                          now_ti->dag_id + "." + now_ti->task_id + ") is " +
                          to_string(now_ti->state) + " at try " +
                          std::to_string(now_ti->try_number) + " on worker '" +
                          now_ti->worker_id + "', not running try " +
                          std::to_string(result.try_number) + " on worker '" + result.worker_id +
                          "'");
    }
    if (!result.final_log.empty()) {
      put_log(result.ti_id, result.try_number, result.final_log_seq, result.final_log);
    }
    Applied applied = apply_decider(*run_pk, decider, result.ended_at,
                                    result.task_id.empty() ? nullptr : &finished_task);
    FinishOutcome outcome;
    if (result.claim_next) {
      outcome.claimed = claim_locked(*result.claim_next);
      Stmt left = stmt("SELECT EXISTS (SELECT 1 FROM task_instances WHERE state = 'queued')");
      outcome.more_queued = left.step() && left.i64(0) != 0;
    }
    txn.commit();
    outcome.add_applied(applied.queued, applied.decisions);
    return outcome;
  }

  std::vector<int64_t> runs_with_due_tasks(Timestamp now) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, false);
    std::vector<int64_t> out;
    {
      Stmt s = stmt(
          "SELECT DISTINCT run_pk FROM task_instances "
          "WHERE state IN ('up_for_retry', 'up_for_reschedule') AND next_try_at <= ? "
          "ORDER BY run_pk");
      s.bind(now);
      while (s.step()) out.push_back(s.i64(0));
    }
    txn.commit();
    return out;
  }

  std::optional<Timestamp> next_due_time() override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, false);
    std::optional<Timestamp> out;
    {
      Stmt s = stmt(
          "SELECT MIN(next_try_at) FROM task_instances "
          "WHERE state IN ('up_for_retry', 'up_for_reschedule')");
      if (s.step()) out = s.opt_ts(0);
    }
    txn.commit();
    return out;
  }

  int clear_task_instances(int64_t run_pk, const std::vector<int64_t>& ti_ids,
                           const Decider& decider, Timestamp now) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, true);
    if (!run_by_pk_locked(run_pk)) throw NotFoundError("no run " + std::to_string(run_pk));
    int cleared = 0;
    for (int64_t id : ti_ids) {
      // Tries granted again: as many as the task had (max_tries), on top of
      // the tries already used.
      stmt("UPDATE task_instances SET state = 'none', max_tries = try_number + max_tries, "
           "queued_at = NULL, started_at = NULL, ended_at = NULL, next_try_at = NULL, "
           "worker_id = NULL, exit_code = NULL, error = '' WHERE id = ? AND run_pk = ?")
          .bind(id, run_pk)
          .run();
      cleared += sqlite3_changes(db_);
    }
    // A finished run queues again: the scheduler starts it within max_active_runs.
    stmt("UPDATE dag_runs SET state = CASE WHEN state = 'running' THEN 'running' "
         "ELSE 'queued' END, ended_at = NULL WHERE id = ?")
        .bind(run_pk)
        .run();
    apply_decider(run_pk, decider, now);
    txn.commit();
    return cleared;
  }

  FinishOutcome expand_mapped_task(int64_t ti_id, int try_number, const std::string& worker_id,
                                   const std::vector<nlohmann::json>& items,
                                   const Decider& decider, Timestamp now) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, true);
    if (items.empty()) throw UserError("a mapped task cannot expand into no instances");
    std::optional<int64_t> run_pk;
    {
      // The placeholder becomes instance 0: its try was the expansion, not a run.
      Stmt s = stmt(
          "UPDATE task_instances SET map_index = 0, state = 'none', try_number = 0, "
          "map_item = ?, queued_at = NULL, started_at = NULL, ended_at = NULL, "
          "first_started_at = NULL, next_try_at = NULL, worker_id = NULL, exit_code = NULL, "
          "error = '' WHERE id = ? AND map_index = -1 AND state = 'running' AND try_number = ? "
          "AND (? = '' OR worker_id = ?) RETURNING run_pk");
      s.bind(items[0].dump(), ti_id, try_number, worker_id, worker_id);
      if (s.step()) run_pk = s.i64(0);
      s.run();
    }
    if (!run_pk) {
      throw ConflictError("task instance " + std::to_string(ti_id) +
                          " is no longer the running placeholder of a mapped task");
    }
    stmt("DELETE FROM task_logs WHERE ti_id = ?").bind(ti_id).run();
    for (size_t i = 1; i < items.size(); ++i) {
      stmt("INSERT INTO task_instances (run_pk, dag_id, task_id, map_index, state, max_tries, "
           "pool, pool_slots, priority, queue, run_type_rank, map_item) "
           "SELECT run_pk, dag_id, task_id, ?, 'none', max_tries, pool, pool_slots, priority, "
           "queue, run_type_rank, ? FROM task_instances WHERE id = ?")
          .bind(static_cast<int64_t>(i), items[i].dump(), ti_id)
          .run();
    }
    Applied applied = apply_decider(*run_pk, decider, now);
    txn.commit();
    FinishOutcome outcome;
    outcome.add_applied(applied.queued, applied.decisions);
    return outcome;
  }

  nlohmann::json get_map_item(int64_t ti_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, false);
    nlohmann::json out;
    {
      Stmt s = stmt("SELECT COALESCE(map_item, '') FROM task_instances WHERE id = ?");
      s.bind(ti_id);
      if (s.step()) {
        std::string text = s.str(0);
        if (!text.empty()) out = nlohmann::json::parse(text, nullptr, false);
      }
    }
    txn.commit();
    return out;
  }

  void mark_task_instance(int64_t ti_id, TaskState state, const Decider& decider,
                          Timestamp now) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, true);
    std::optional<int64_t> run_pk;
    {
      Stmt s = stmt(
          "UPDATE task_instances SET state = ?, "
          "ended_at = CASE WHEN ? THEN ? ELSE ended_at END, next_try_at = NULL "
          "WHERE id = ? RETURNING run_pk");
      s.bind(to_string(state), is_finished(state) ? 1 : 0, now, ti_id);
      if (s.step()) run_pk = s.i64(0);
      s.run();
    }
    if (!run_pk) throw NotFoundError("no task instance " + std::to_string(ti_id));
    apply_decider(*run_pk, decider, now);
    // The decider leaves an ended run alone; a mark re-decides its state.
    std::optional<RunRecord> run = run_by_pk_locked(*run_pk);
    std::vector<TaskState> states;
    {
      Stmt s = stmt("SELECT state FROM task_instances WHERE run_pk = ?");
      s.bind(*run_pk);
      while (s.step()) states.push_back(task_state_of(s.str(0)));
    }
    auto after = run ? run_state_after_mark(run->state, states) : std::nullopt;
    if (after && *after != run->state) {
      stmt("UPDATE dag_runs SET state = ? WHERE id = ?").bind(to_string(*after), *run_pk).run();
    }
    txn.commit();
  }

  void cancel_run(int64_t run_pk, Timestamp now) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, true);
    if (!run_by_pk_locked(run_pk)) throw NotFoundError("no run " + std::to_string(run_pk));
    stmt("UPDATE task_instances SET state = 'canceled', ended_at = ? WHERE run_pk = ? AND state "
         "NOT IN ('success', 'failed', 'skipped', 'upstream_failed', 'canceled')")
        .bind(now, run_pk)
        .run();
    stmt("UPDATE dag_runs SET state = 'canceled', ended_at = ? WHERE id = ? "
         "AND state NOT IN ('success', 'failed', 'canceled')")
        .bind(now, run_pk)
        .run();
    txn.commit();
  }

  std::vector<int64_t> tasks_to_stop(const std::string& worker_id,
                                     const std::vector<int64_t>& ti_ids) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, false);
    std::vector<int64_t> out;
    for (int64_t id : ti_ids) {
      Stmt s = stmt("SELECT state, COALESCE(worker_id, '') FROM task_instances WHERE id = ?");
      s.bind(id);
      if (!s.step() || s.str(0) != "running" || s.str(1) != worker_id) out.push_back(id);
    }
    txn.commit();
    return out;
  }

  std::vector<TaskInstanceRecord> running_on_worker(const std::string& worker_id) override {
    return read_all(read_ti, std::string("SELECT ") + kTiColumns + kTiFrom +
                    "WHERE ti.state = 'running' AND ti.worker_id = ? ORDER BY ti.id",
                    worker_id);
  }

  std::vector<TaskInstanceRecord> orphaned_tasks(Timestamp cutoff) override {
    return read_all(read_ti, std::string("SELECT ") + kTiColumns + kTiFrom +
                    "LEFT JOIN workers w ON w.id = ti.worker_id WHERE ti.state = 'running' "
                    "AND (w.id IS NULL OR w.last_heartbeat < ?) ORDER BY ti.id", cutoff);
  }

  // --- Logs -----------------------------------------------------------------

  void append_log(int64_t ti_id, int try_number, int seq, const std::string& data) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, true);
    put_log(ti_id, try_number, seq, data);
    txn.commit();
  }

  LogSlice read_log(int64_t ti_id, int try_number, int64_t offset, int64_t limit) override {
    std::lock_guard<std::mutex> lock(mu_);
    offset = std::max<int64_t>(offset, 0);
    Txn txn(this, false);
    // First the chunk sizes (length() of a BLOB reads no content), then only
    // the bytes asked for.
    std::vector<std::pair<int, int64_t>> chunks;
    {
      Stmt s = stmt(
          "SELECT seq, length(data) FROM task_logs WHERE ti_id = ? AND try_number = ? "
          "ORDER BY seq");
      s.bind(ti_id, try_number);
      while (s.step()) chunks.emplace_back(s.i32(0), s.i64(1));
    }
    LogSlice slice;
    int64_t pos = 0;
    for (const auto& [seq, size] : chunks) {
      if (static_cast<int64_t>(slice.data.size()) >= limit) break;
      int64_t chunk_end = pos + size;
      if (chunk_end > offset) {
        int64_t from = std::max<int64_t>(offset - pos, 0);
        int64_t want = std::min<int64_t>(size - from,
                                         limit - static_cast<int64_t>(slice.data.size()));
        Stmt s = stmt(
            "SELECT substr(data, ?, ?) FROM task_logs WHERE ti_id = ? AND try_number = ? AND "
            "seq = ?");
        s.bind(from + 1, want, ti_id, try_number, seq);
        if (s.step()) slice.data += s.str(0);
      }
      pos = chunk_end;
    }
    txn.commit();
    slice.next_offset = offset + static_cast<int64_t>(slice.data.size());
    return slice;
  }

  // --- Workers and schedulers -----------------------------------------------

  void register_worker(const WorkerRecord& worker) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, true);
    stmt("INSERT INTO workers (id, host, pid, slots, queues, started_at, last_heartbeat, state) "
         "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET host = excluded.host, "
         "pid = excluded.pid, slots = excluded.slots, queues = excluded.queues, "
         "started_at = excluded.started_at, last_heartbeat = excluded.last_heartbeat, "
         "state = excluded.state")
        .bind(worker.id, worker.host, worker.pid, worker.slots,
              nlohmann::json(worker.queues).dump(), worker.started_at, worker.last_heartbeat,
              worker.state)
        .run();
    txn.commit();
  }

  void heartbeat_worker(const std::string& worker_id, Timestamp now) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, true);
    stmt("UPDATE workers SET last_heartbeat = ? WHERE id = ?").bind(now, worker_id).run();
    if (sqlite3_changes(db_) == 0) throw NotFoundError("no worker '" + worker_id + "'");
    txn.commit();
  }

  bool release_claim(int64_t ti_id, int try_number, const std::string& worker_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, true);
    stmt("UPDATE task_instances SET state = 'queued', try_number = try_number - 1, "
         "started_at = NULL, first_started_at = CASE WHEN try_number = 1 THEN NULL "
         "ELSE first_started_at END, worker_id = NULL "
         "WHERE id = ? AND state = 'running' AND try_number = ? AND worker_id = ?")
        .bind(ti_id, try_number, worker_id)
        .run();
    bool released = sqlite3_changes(db_) > 0;
    txn.commit();
    return released;
  }

  void set_worker_state(const std::string& worker_id, const std::string& state) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, true);
    stmt("UPDATE workers SET state = ? WHERE id = ?").bind(state, worker_id).run();
    if (sqlite3_changes(db_) == 0) throw NotFoundError("no worker '" + worker_id + "'");
    txn.commit();
  }

  std::vector<WorkerRecord> list_workers() override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, false);
    std::vector<WorkerRecord> out;
    {
      Stmt s = stmt(
          "SELECT id, host, pid, slots, queues, started_at, last_heartbeat, state FROM workers "
          "ORDER BY id");
      while (s.step()) {
        WorkerRecord w;
        w.id = s.str(0);
        w.host = s.str(1);
        w.pid = s.i32(2);
        w.slots = s.i32(3);
        nlohmann::json queues = s.json(4);
        if (queues.is_array()) {
          for (const auto& q : queues) {
            if (q.is_string()) w.queues.push_back(q.get<std::string>());
          }
        }
        w.started_at = s.ts(5);
        w.last_heartbeat = s.ts(6);
        w.state = s.str(7);
        out.push_back(std::move(w));
      }
    }
    txn.commit();
    return out;
  }

  void heartbeat_scheduler(const std::string& scheduler_id, const std::string& host, bool leader,
                           Millis loop_lag, Timestamp now) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, true);
    // epoch counts leadership terms: it moves when this scheduler becomes leader.
    stmt("INSERT INTO schedulers (id, host, leader, epoch, last_heartbeat, loop_lag_ms) "
         "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET host = excluded.host, "
         "epoch = CASE WHEN excluded.leader = 1 AND schedulers.leader = 0 "
         "THEN schedulers.epoch + 1 ELSE schedulers.epoch END, leader = excluded.leader, "
         "last_heartbeat = excluded.last_heartbeat, loop_lag_ms = excluded.loop_lag_ms")
        .bind(scheduler_id, host, leader ? 1 : 0, leader ? 1 : 0, now,
              static_cast<int64_t>(loop_lag.count()))
        .run();
    txn.commit();
  }

  std::vector<SchedulerRecord> list_schedulers() override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, false);
    std::vector<SchedulerRecord> out;
    {
      Stmt s = stmt(
          "SELECT id, host, leader, epoch, last_heartbeat, loop_lag_ms FROM schedulers "
          "ORDER BY id");
      while (s.step()) {
        out.push_back({s.str(0), s.str(1), s.i64(2) != 0, s.i64(3), s.ts(4), Millis(s.i64(5))});
      }
    }
    txn.commit();
    return out;
  }

  DurationHistogram task_duration_histogram(Timestamp since,
                                            const std::vector<Millis>& bounds) override {
    nlohmann::json bounds_ms = nlohmann::json::array();
    for (Millis b : bounds) bounds_ms.push_back(b.count());
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, false);
    DurationHistogram h;
    h.bounds = bounds;
    {
      // A task that ended since `since` belongs to a run that is unfinished
      // or ended since then, so both dag_runs indexes narrow the scan. The
      // first row (le NULL) carries the totals even without bounds.
      Stmt s = stmt(
          "WITH d AS (SELECT t.ended_at - t.started_at AS ms FROM task_instances t "
          "WHERE t.run_pk IN (SELECT id FROM dag_runs WHERE ended_at >= ?1 UNION ALL "
          "SELECT id FROM dag_runs WHERE state IN ('queued', 'running')) "
          "AND t.ended_at >= ?1 AND t.started_at IS NOT NULL AND t.ended_at >= t.started_at) "
          "SELECT b.le, (SELECT count(*) FROM d WHERE d.ms <= b.le), (SELECT count(*) FROM d), "
          "(SELECT COALESCE(sum(d.ms), 0) FROM d) FROM (SELECT NULL AS le, -1 AS i UNION ALL "
          "SELECT CAST(value AS INTEGER), key FROM json_each(?2)) b ORDER BY b.i");
      s.bind(since, bounds_ms.dump());
      while (s.step()) {
        if (s.is_null(0)) {
          h.count = s.i64(2);
          h.sum = Millis(s.i64(3));
        } else {
          h.counts.push_back(s.i64(1));
        }
      }
    }
    txn.commit();
    return h;
  }

  // --- Alerts ---------------------------------------------------------------

  std::vector<AlertRecord> due_alerts(Timestamp now, int limit) override {
    return read_all(read_alert, std::string("SELECT ") + kAlertColumns +
                    " FROM alert_outbox WHERE delivered_at IS NULL AND next_attempt_at <= ? "
                    "ORDER BY next_attempt_at, id LIMIT ?", now, limit);
  }

  void mark_alert_delivered(int64_t alert_id, Timestamp now) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, true);
    stmt("UPDATE alert_outbox SET delivered_at = ?, attempts = attempts + 1, "
         "next_attempt_at = NULL WHERE id = ?")
        .bind(now, alert_id)
        .run();
    if (sqlite3_changes(db_) == 0) throw NotFoundError("no alert " + std::to_string(alert_id));
    txn.commit();
  }

  void mark_alert_failed(int64_t alert_id, const std::string& error,
                         std::optional<Timestamp> next_attempt_at) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, true);
    stmt("UPDATE alert_outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? "
         "WHERE id = ?")
        .bind(error, next_attempt_at, alert_id)
        .run();
    if (sqlite3_changes(db_) == 0) throw NotFoundError("no alert " + std::to_string(alert_id));
    txn.commit();
  }

  // --- SLAs -----------------------------------------------------------------

  bool arm_sla_timer(const SlaTimer& timer) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, true);
    stmt("INSERT INTO sla_timers (dag_id, run_id, task_id, kind, due_at) VALUES (?, ?, ?, ?, ?) "
         "ON CONFLICT (dag_id, run_id, task_id, kind) DO NOTHING")
        .bind(timer.dag_id, timer.run_id, timer.task_id, timer.kind, timer.due_at)
        .run();
    bool added = sqlite3_changes(db_) > 0;
    txn.commit();
    return added;
  }

  std::vector<SlaTimer> due_sla_timers(Timestamp now, int limit) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, false);
    std::vector<SlaTimer> out;
    {
      Stmt s = stmt(
          "SELECT id, dag_id, run_id, task_id, kind, due_at FROM sla_timers "
          "WHERE fired_at IS NULL AND due_at <= ? ORDER BY due_at, id LIMIT ?");
      s.bind(now, limit);
      while (s.step()) {
        out.push_back(SlaTimer{s.i64(0), s.str(1), s.str(2), s.str(3), s.str(4), s.ts(5)});
      }
    }
    txn.commit();
    return out;
  }

  std::optional<Timestamp> next_sla_due() override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, false);
    std::optional<Timestamp> out;
    {
      Stmt s = stmt("SELECT MIN(due_at) FROM sla_timers WHERE fired_at IS NULL");
      if (s.step()) out = s.opt_ts(0);
    }
    txn.commit();
    return out;
  }

  bool fire_sla_timer(int64_t timer_id, const std::optional<SlaMissRecord>& miss,
                      const std::optional<AlertEvent>& alert, Timestamp now) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, true);
    stmt("UPDATE sla_timers SET fired_at = ? WHERE id = ? AND fired_at IS NULL")
        .bind(now, timer_id)
        .run();
    bool recorded = false;
    if (miss) {
      stmt("INSERT INTO sla_misses (dag_id, run_id, task_id, kind, deadline, detected_at, "
           "alerted) VALUES (?, ?, ?, ?, ?, ?, ?) "
           "ON CONFLICT (dag_id, run_id, task_id, kind) DO NOTHING")
          .bind(miss->dag_id, miss->run_id, miss->task_id, miss->kind, miss->deadline, now,
                alert ? 1 : 0)
          .run();
      recorded = sqlite3_changes(db_) > 0;
    }
    if (recorded && alert) {
      stmt("INSERT INTO alert_outbox (event_id, event, dag_id, run_id, task_id, payload, "
           "attempts, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)")
          .bind(random_event_id(), alert->event, alert->dag_id, alert->run_id, alert->task_id,
                alert->payload.dump(), now, now)
          .run();
    }
    txn.commit();
    return recorded;
  }

  std::vector<SlaMissRecord> list_sla_misses(const std::string& dag_id, int limit) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, false);
    std::vector<SlaMissRecord> out;
    {
      Stmt s = stmt(
          "SELECT id, dag_id, run_id, task_id, kind, deadline, detected_at, alerted "
          "FROM sla_misses WHERE (? = '' OR dag_id = ?) ORDER BY detected_at DESC, id DESC "
          "LIMIT ?");
      s.bind(dag_id, dag_id, limit);
      while (s.step()) {
        out.push_back(SlaMissRecord{s.i64(0), s.str(1), s.str(2), s.str(3), s.str(4), s.ts(5),
                                    s.ts(6), s.i64(7) != 0});
      }
    }
    txn.commit();
    return out;
  }

  std::optional<RunRecord> last_successful_run(const std::string& dag_id) override {
    return read_one(kReadRun, std::string("SELECT ") + kRunColumns +
                    " FROM dag_runs WHERE dag_id = ? AND state = 'success' "
                    "ORDER BY ended_at DESC LIMIT 1", dag_id);
  }

  std::vector<AlertRecord> list_alerts(bool undelivered_only, int limit) override {
    return read_all(read_alert, std::string("SELECT ") + kAlertColumns +
                    " FROM alert_outbox WHERE (? = 0 OR delivered_at IS NULL) "
                    "ORDER BY id DESC LIMIT ?", undelivered_only ? 1 : 0, limit);
  }

  // --- Housekeeping ---------------------------------------------------------

  // --- Backfills ------------------------------------------------------------

  int64_t create_backfill(const BackfillRecord& b,
                          const std::vector<BackfillIntervalRecord>& intervals) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, true);
    stmt("INSERT INTO backfills (dag_id, range_from, range_to, reprocess, max_active_runs, "
         "backwards, conf, state, created_at, total_runs) "
         "VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)")
        .bind(b.dag_id, b.range_from, b.range_to, b.reprocess, b.max_active_runs,
              b.backwards ? 1 : 0, b.conf.dump(), b.created_at, b.total_runs)
        .run();
    int64_t id = sqlite3_last_insert_rowid(db_);
    for (const BackfillIntervalRecord& i : intervals) {
      stmt("INSERT INTO backfill_intervals (backfill_id, interval_start, interval_end, action, "
           "reason, run_pk) VALUES (?, ?, ?, ?, ?, ?)")
          .bind(id, i.interval.start, i.interval.end, i.action, i.reason, i.run_pk)
          .run();
    }
    txn.commit();
    return id;
  }

  std::optional<BackfillRecord> get_backfill(int64_t id) override {
    return read_one(read_backfill,
                    std::string("SELECT ") + kBackfillColumns + " FROM backfills WHERE id = ?", id);
  }

  std::vector<BackfillRecord> list_backfills(const std::string& dag_id, bool running_only,
                                             int limit) override {
    return read_all(read_backfill, std::string("SELECT ") + kBackfillColumns +
                    " FROM backfills WHERE (? = '' OR dag_id = ?) "
                    "AND (? = 0 OR state = 'running') ORDER BY id DESC LIMIT ?",
                    dag_id, dag_id, running_only ? 1 : 0, limit);
  }

  std::vector<BackfillIntervalRecord> list_backfill_intervals(int64_t backfill_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, false);
    std::vector<BackfillIntervalRecord> out;
    {
      Stmt s = stmt(
          "SELECT i.interval_start, i.interval_end, i.action, i.reason, i.run_pk, r.run_id, "
          "r.state FROM backfill_intervals i LEFT JOIN dag_runs r ON r.id = i.run_pk "
          "WHERE i.backfill_id = ? ORDER BY i.interval_start");
      s.bind(backfill_id);
      while (s.step()) {
        BackfillIntervalRecord i;
        i.interval = DataInterval{s.ts(0), s.ts(1)};
        i.action = s.str(2);
        i.reason = s.str(3);
        i.run_pk = s.opt_i64(4);
        i.run_id = s.str(5);
        if (!s.is_null(6)) i.run_state = run_state_of(s.str(6));
        out.push_back(std::move(i));
      }
    }
    txn.commit();
    return out;
  }

  std::string update_backfill_interval(int64_t backfill_id, Timestamp interval_start,
                                       const std::string& action, const std::string& reason,
                                       std::optional<int64_t> run_pk) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, true);
    stmt("UPDATE backfill_intervals SET action = ?, reason = ?, run_pk = ? "
         "WHERE backfill_id = ? AND interval_start = ?")
        .bind(action, reason, run_pk, backfill_id, interval_start)
        .run();
    std::string state;
    {
      Stmt s = stmt("SELECT state FROM backfills WHERE id = ?");
      s.bind(backfill_id);
      if (!s.step()) throw NotFoundError("no backfill " + std::to_string(backfill_id));
      state = s.str(0);
    }
    txn.commit();
    return state;
  }

  bool update_backfill(int64_t id, const std::string& state, int total_runs, int succeeded_runs,
                       int failed_runs, Timestamp now) override {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, true);
    bool finished = state != "running";
    stmt("UPDATE backfills SET state = ?, total_runs = ?, succeeded_runs = ?, failed_runs = ?, "
         "finished_at = CASE WHEN ? THEN ? ELSE NULL END WHERE id = ? AND state = 'running'")
        .bind(state, total_runs, succeeded_runs, failed_runs, finished ? 1 : 0, now, id)
        .run();
    bool changed = sqlite3_changes(db_) > 0;
    txn.commit();
    return changed;
  }

  bool rerun_for_backfill(int64_t run_pk, int64_t backfill_id, const nlohmann::json& conf,
                          Timestamp now) override {
    (void)now;
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, true);
    std::optional<RunRecord> run = run_by_pk_locked(run_pk);
    if (!run) throw NotFoundError("no run " + std::to_string(run_pk));
    if (!is_finished(run->state)) return false;
    stmt("UPDATE task_instances SET state = 'none', max_tries = try_number + max_tries, "
         "queued_at = NULL, started_at = NULL, ended_at = NULL, next_try_at = NULL, "
         "first_started_at = NULL, worker_id = NULL, exit_code = NULL, error = '', "
         "run_type_rank = 1 WHERE run_pk = ?")
        .bind(run_pk)
        .run();
    stmt("UPDATE dag_runs SET state = 'queued', started_at = NULL, ended_at = NULL, "
         "backfill_id = ?, conf = CASE WHEN ? THEN conf ELSE ? END WHERE id = ?")
        .bind(backfill_id, conf.empty() ? 1 : 0, conf.dump(), run_pk)
        .run();
    txn.commit();
    return true;
  }

  std::vector<RunRecord> list_interval_runs(const std::string& dag_id, Timestamp from,
                                            Timestamp to) override {
    return read_all(kReadRun, std::string("SELECT ") + kRunColumns +
                    " FROM dag_runs WHERE dag_id = ? AND run_type IN ('scheduled', 'backfill') "
                    "AND interval_start >= ? AND interval_start <= ? ORDER BY interval_start",
                    dag_id, from, to);
  }

  int64_t clean_finished_runs(Timestamp cutoff, int batch) override {
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

 private:
  /// A transaction on the store's connection; rolls back unless committed.
  class Txn {
   public:
    Txn(SqliteStore* store, bool write) : store_(store) {
      store_->stmt(write ? "BEGIN IMMEDIATE" : "BEGIN").run();
    }
    void commit() {
      store_->stmt("COMMIT").run();
      done_ = true;
    }
    ~Txn() {
      if (!done_ && sqlite3_get_autocommit(store_->db_) == 0) {
        sqlite3_exec(store_->db_, "ROLLBACK", nullptr, nullptr, nullptr);
      }
    }
    Txn(const Txn&) = delete;
    Txn& operator=(const Txn&) = delete;

   private:
    SqliteStore* store_;
    bool done_ = false;
  };

  // A read in a transaction of its own: `sql` bound to `args`, each row turned
  // into a record by `read`.
  template <typename Read, typename... Args>
  auto read_all(Read read, const std::string& sql, const Args&... args)
      -> std::vector<std::invoke_result_t<Read&, const Stmt&>> {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, false);
    std::vector<std::invoke_result_t<Read&, const Stmt&>> out;
    {
      Stmt s = stmt(sql);
      s.bind(args...);
      while (s.step()) out.push_back(read(s));
    }
    txn.commit();
    return out;
  }

  // read_all for at most one row.
  template <typename Read, typename... Args>
  auto read_one(Read read, const std::string& sql, const Args&... args)
      -> std::optional<std::invoke_result_t<Read&, const Stmt&>> {
    std::lock_guard<std::mutex> lock(mu_);
    Txn txn(this, false);
    std::optional<std::invoke_result_t<Read&, const Stmt&>> out;
    {
      Stmt s = stmt(sql);
      s.bind(args...);
      if (s.step()) out = read(s);
    }
    txn.commit();
    return out;
  }

  /// What apply_decider did: the decisions with only the transitions that
  /// took effect, and how many task instances it queued.
  struct Applied {
    RunDecisions decisions;
    int queued = 0;
  };

  // The cached statement for `sql`, prepared on first use.
  Stmt stmt(const std::string& sql) {
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

  void exec_raw(const char* sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string detail = err ? err : sqlite3_errstr(rc);
      sqlite3_free(err);
      throw StoreError(std::string("SQLite error while running `") + sql + "`: " + detail,
                       is_busy(rc));
    }
  }

  std::string pragma_text(const char* sql) {
    Stmt s = stmt(sql);
    std::string out = s.step() ? s.str(0) : std::string();
    s.run();
    return out;
  }

  SchemaStatus schema_status_locked() {
    SchemaStatus status;
    std::set<int> applied_versions;
    bool has_table = false;
    {
      Stmt s = stmt(
          "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'");
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

  std::map<std::string, int> pools_locked() {
    std::map<std::string, int> out;
    Stmt s = stmt("SELECT name, slots FROM pools");
    while (s.step()) out[s.str(0)] = s.i32(1);
    return out;
  }

  int64_t running_pool_slots(const std::string& pool) {
    Stmt s = stmt(
        "SELECT COALESCE(SUM(pool_slots), 0) FROM task_instances "
        "WHERE state = 'running' AND pool = ?");
    s.bind(pool);
    return s.step() ? s.i64(0) : 0;
  }

  // A DAG's running task instances and its max_active_tasks. A DAG with no
  // row (only possible when runs are made by hand, as in tests) has no limit.
  std::pair<int64_t, int64_t> dag_load_of(const std::string& dag_id) {
    int64_t limit = INT64_MAX;
    {
      Stmt s = stmt("SELECT max_active_tasks FROM dags WHERE dag_id = ?");
      s.bind(dag_id);
      if (s.step()) limit = s.i64(0);
    }
    Stmt s = stmt("SELECT COUNT(*) FROM task_instances WHERE state = 'running' AND dag_id = ?");
    s.bind(dag_id);
    return {s.step() ? s.i64(0) : 0, limit};
  }

  std::optional<RunRecord> run_by_pk_locked(int64_t run_pk) {
    Stmt s = stmt(std::string("SELECT ") + kRunColumns + " FROM dag_runs WHERE id = ?");
    s.bind(run_pk);
    if (!s.step()) return std::nullopt;
    return read_run(s);
  }

  std::optional<TaskInstanceRecord> ti_locked(int64_t ti_id) {
    Stmt s = stmt(std::string("SELECT ") + kTiColumns + kTiFrom + "WHERE ti.id = ?");
    s.bind(ti_id);
    if (!s.step()) return std::nullopt;
    return read_ti(s);
  }

  void put_log(int64_t ti_id, int try_number, int seq, const std::string& data) {
    // Re-sending a chunk (after a lost commit) replaces it rather than failing.
    Stmt s = stmt(
        "INSERT INTO task_logs (ti_id, try_number, seq, data) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (ti_id, try_number, seq) DO UPDATE SET data = excluded.data");
    s.bind(ti_id, try_number, seq, nullptr);
    s.bind_blob(4, data);
    try {
      s.run();
    } catch (const StoreError&) {
      if (!get_ti_exists(ti_id)) throw NotFoundError("no task instance " + std::to_string(ti_id));
      throw;
    }
  }

  bool get_ti_exists(int64_t ti_id) {
    Stmt s = stmt("SELECT 1 FROM task_instances WHERE id = ?");
    s.bind(ti_id);
    return s.step();
  }

  std::string random_event_id() {
    static const char* kHex = "0123456789abcdef";
    std::string out(32, '0');
    for (int i = 0; i < 32; i += 16) {
      uint64_t bits = rng_();
      for (int j = 0; j < 16; ++j) out[i + j] = kHex[(bits >> (4 * j)) & 0xf];
    }
    return out;
  }

  // Loads the run's snapshot, asks the decider, applies its decisions. Runs
  // inside the caller's write transaction; a decider that throws aborts it.
  Applied apply_decider(int64_t run_pk, const Decider& decider, Timestamp now,
                        const std::string* finished_task = nullptr) {
    RunSnapshot snap;
    {
      std::optional<RunRecord> run = run_by_pk_locked(run_pk);
      if (!run) throw NotFoundError("no run " + std::to_string(run_pk));
      snap.run = std::move(*run);
    }
    if (finished_task && decider.scope) {
      std::vector<std::string> scope = decider.scope(*finished_task);
      std::set<std::string> in_scope(scope.begin(), scope.end());
      // Is anything outside the scope unfinished? The index of unfinished
      // instances answers after at most |scope| + 1 rows.
      Stmt unfinished = stmt(
          "SELECT task_id FROM task_instances WHERE run_pk = ? AND state IN "
          "('none', 'scheduled', 'queued', 'running', 'up_for_retry', 'up_for_reschedule')");
      unfinished.bind(run_pk);
      while (unfinished.step()) {
        if (!in_scope.count(unfinished.str(0))) {
          snap.partial = true;
          break;
        }
      }
      unfinished.reset();
      if (snap.partial) {
        Stmt s = stmt(
            "SELECT id, task_id, map_index, state, try_number, max_tries, next_try_at "
            "FROM task_instances WHERE run_pk = ? AND task_id = ? ORDER BY map_index");
        for (const std::string& task_id : scope) {
          s.bind(run_pk, task_id);
          while (s.step()) {
            TaskStateView v;
            v.id = s.i64(0);
            v.task_id = s.str(1);
            v.map_index = s.i32(2);
            v.state = task_state_of(s.str(3));
            v.try_number = s.i32(4);
            v.max_tries = s.i32(5);
            v.next_try_at = s.opt_ts(6);
            snap.tasks.push_back(std::move(v));
          }
          s.reset();
        }
      }
    }
    auto whole_run = [&] {
      std::vector<TaskStateView> tasks;
      Stmt s = stmt(
          "SELECT id, task_id, map_index, state, try_number, max_tries, next_try_at "
          "FROM task_instances WHERE run_pk = ? ORDER BY task_id, map_index");
      s.bind(run_pk);
      while (s.step()) {
        TaskStateView v;
        v.id = s.i64(0);
        v.task_id = s.str(1);
        v.map_index = s.i32(2);
        v.state = task_state_of(s.str(3));
        v.try_number = s.i32(4);
        v.max_tries = s.i32(5);
        v.next_try_at = s.opt_ts(6);
        tasks.push_back(std::move(v));
      }
      return tasks;
    };
    if (!snap.partial) snap.tasks = whole_run();
    RunReads reads;
    reads.whole_run = whole_run;
    reads.previous_interval = [&] { return previous_interval(snap.run); };
    reads.run_end_context = [&](const RunSnapshot& s) { return run_end_context(s); };
    RunDecisions decisions = decide_run(snap, decider, reads);

    Applied applied;
    applied.decisions.run_state = decisions.run_state;
    applied.decisions.alerts = decisions.alerts;
    for (const TaskTransition& t : decisions.tasks) {
      bool queued = t.to == TaskState::kQueued;
      stmt("UPDATE task_instances SET state = ?, "
           "queued_at = CASE WHEN ? THEN ? ELSE queued_at END, "
           "ended_at = CASE WHEN ? THEN ? ELSE ended_at END, "
           "next_try_at = ?, error = CASE WHEN ? = '' THEN error ELSE ? END "
           "WHERE id = ? AND run_pk = ? AND state = ?")
          .bind(to_string(t.to), queued ? 1 : 0, now, is_finished(t.to) ? 1 : 0, now,
                t.next_try_at, t.error, t.error, t.ti_id, run_pk, to_string(t.from))
          .run();
      // A transition whose `from` no longer holds lost a race: skip it.
      if (sqlite3_changes(db_) == 0) continue;
      if (queued) ++applied.queued;
      applied.decisions.tasks.push_back(t);
    }
    if (decisions.run_state) {
      RunState s = *decisions.run_state;
      stmt("UPDATE dag_runs SET state = ?, "
           "started_at = CASE WHEN ? AND started_at IS NULL THEN ? ELSE started_at END, "
           "ended_at = CASE WHEN ? THEN COALESCE(ended_at, ?) ELSE NULL END WHERE id = ?")
          .bind(to_string(s), s == RunState::kRunning ? 1 : 0, now, is_finished(s) ? 1 : 0, now,
                run_pk)
          .run();
    }
    for (const AlertEvent& a : decisions.alerts) {
      stmt("INSERT INTO alert_outbox (event_id, event, dag_id, run_id, task_id, payload, "
           "attempts, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)")
          .bind(random_event_id(), a.event, a.dag_id, a.run_id, a.task_id, a.payload.dump(), now,
                now)
          .run();
    }
    return applied;
  }

  // What a run-ending decision's alerts need: the previous finished run's
  // state, and each failed task's error and log tail.
  RunEndContext run_end_context(const RunSnapshot& snap) {
    RunEndContext context;
    {
      Stmt s = stmt(
          "SELECT state FROM dag_runs WHERE dag_id = ? AND id <> ? AND state IN ('success', "
          "'failed') ORDER BY ended_at DESC LIMIT 1");
      s.bind(snap.run.dag_id, snap.run.id);
      if (s.step()) context.previous_run_state = run_state_of(s.str(0));
    }
    for (const TaskStateView& v : snap.tasks) {
      if (v.state != TaskState::kFailed) continue;
      RunEndContext::FailedTask failed;
      {
        Stmt s = stmt("SELECT error FROM task_instances WHERE id = ?");
        s.bind(v.id);
        if (s.step()) failed.error = s.str(0);
      }
      {
        Stmt s = stmt(
            "SELECT data FROM task_logs WHERE ti_id = ? AND try_number = ? "
            "ORDER BY seq DESC LIMIT 2");
        s.bind(v.id, v.try_number);
        while (s.step()) failed.log_tail = s.str(0) + failed.log_tail;
      }
      context.failed.emplace(v.id, std::move(failed));
    }
    return context;
  }

  // The instances of the previous interval's run (RunReads::previous_interval).
  std::optional<std::vector<std::pair<std::string, TaskState>>> previous_interval(
      const RunRecord& run) {
    std::optional<int64_t> prev;
    {
      Stmt s = stmt(
          "SELECT id FROM dag_runs WHERE dag_id = ? AND run_type IN ('scheduled', 'backfill') "
          "AND interval_start < ? ORDER BY interval_start DESC LIMIT 1");
      s.bind(run.dag_id, run.interval.start);
      if (s.step()) prev = s.i64(0);
    }
    if (!prev) return std::nullopt;
    std::vector<std::pair<std::string, TaskState>> out;
    Stmt s = stmt("SELECT task_id, state FROM task_instances WHERE run_pk = ? ORDER BY map_index");
    s.bind(*prev);
    while (s.step()) out.emplace_back(s.str(0), task_state_of(s.str(1)));
    return out;
  }

  // Called by SQLite while another connection holds the lock. SQLite's own
  // busy_timeout handler sleeps 1, 2, 5, 10 ... 100 ms between tries, far
  // longer than our transactions hold the lock (well under a millisecond), so
  // waiters would sleep through free windows. This one polls every 50 us at
  // first, backing off to 2 ms, until busy_timeout_ms has passed.
  static int on_busy(void* self, int count) {
    auto* store = static_cast<SqliteStore*>(self);
    auto now = std::chrono::steady_clock::now();
    if (count == 0) store->busy_since_ = now;
    if (now - store->busy_since_ >= store->busy_timeout_) return 0;
    auto pause = std::chrono::microseconds(50) * (1 << std::min(count / 8, 5));
    std::this_thread::sleep_for(
        std::min<std::chrono::microseconds>(pause, std::chrono::milliseconds(2)));
    return 1;
  }

  sqlite3* db_ = nullptr;
  std::chrono::milliseconds busy_timeout_{10000};
  std::chrono::steady_clock::time_point busy_since_;  // GUARDED_BY(mu_)
  std::mutex mu_;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;  // GUARDED_BY(mu_)
  std::mt19937_64 rng_;                                    // GUARDED_BY(mu_)
};

}  // namespace

std::unique_ptr<Store> open_sqlite_store(const std::string& path, const SqliteOptions& options) {
  return std::make_unique<SqliteStore>(path, options);
}

int sqlite_synchronous_level(Store& store) {
  auto* sqlite = dynamic_cast<SqliteStore*>(&store);
  return sqlite ? sqlite->synchronous_level() : -1;
}

}  // namespace sluice
