// The SQLite warehouse driver.
#include <sqlite3.h>

#include <cstdlib>

#include "core/secrets.h"
#include "core/text.h"
#include "core/typed_value.h"
#include "worker/warehouse_drivers.h"

namespace sluice {
namespace {

using namespace warehouse_detail;

// ---- SQLite ----------------------------------------------------------------

/// Owns a prepared statement.
class Statement {
 public:
  Statement() = default;
  explicit Statement(sqlite3_stmt* s) : stmt_(s) {}
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

/// A SQLite warehouse: a database file.
class SqliteWarehouse : public Warehouse {
 public:
  explicit SqliteWarehouse(const std::string& path) {
    int rc = sqlite3_open_v2(path.c_str(), &db_,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI, nullptr);
    if (rc != SQLITE_OK) {
      std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close(db_);
      db_ = nullptr;
      throw WarehouseError("cannot open SQLite database '" + path + "': " + message);
    }
    // Another writer (a parallel task) holds the lock for a while at most.
    sqlite3_busy_timeout(db_, 30000);
  }
  ~SqliteWarehouse() override {
    rollback();
    sqlite3_close(db_);
  }

  std::string dialect() const override { return "sqlite"; }

  void begin() override {
    if (in_tx_) throw WarehouseError("a transaction is already open");
    // IMMEDIATE takes the write lock now, so that two loaders wait for each
    // other instead of failing with "database is locked" on upgrade.
    exec_simple("BEGIN IMMEDIATE");
    in_tx_ = true;
  }
  void commit() override {
    if (!in_tx_) return;
    exec_simple("COMMIT");
    in_tx_ = false;
  }
  void rollback() noexcept override {
    if (!in_tx_) return;
    in_tx_ = false;
    if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  bool in_transaction() const override { return in_tx_; }

  int64_t execute(const std::string& sql) override {
    int64_t affected = 0;
    const char* tail = sql.c_str();
    while (tail && *tail) {
      const char* next = nullptr;
      Statement stmt(prepare(tail, &next));
      tail = next;
      if (!stmt.get()) continue;  // only whitespace or comments
      bool writes = !sqlite3_stmt_readonly(stmt.get());
      int rc;
      while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
      }
      if (rc != SQLITE_DONE) fail(rc);
      if (writes) affected += sqlite3_changes(db_);
    }
    return affected;
  }

  std::vector<SqlRow> query(const std::string& sql, std::vector<std::string>* columns) override {
    std::vector<SqlRow> rows;
    stream_rows(sql, {}, 1000, [&](const std::vector<std::string>& names, std::vector<SqlRow>& batch) {
      if (columns) *columns = names;
      for (SqlRow& row : batch) rows.push_back(std::move(row));
    });
    return rows;
  }

  std::string placeholder(int n) const override { return "?" + std::to_string(n); }

  void stream_rows(const std::string& sql, const std::vector<std::string>& params,
                   size_t batch_rows, const BatchCallback& on_batch) override {
    Statement stmt(prepare(sql.c_str(), nullptr));
    if (!stmt.get()) throw WarehouseError("the query is empty");
    for (size_t i = 0; i < params.size(); ++i) {
      // A number binds as one: text would compare greater than every number
      // in a column without a numeric affinity.
      const std::string& p = params[i];
      int index = static_cast<int>(i + 1);
      int64_t whole = 0;
      int rc;
      if (parse_integer_value(p, &whole)) {
        rc = sqlite3_bind_int64(stmt.get(), index, whole);
      } else if (is_decimal_value(p)) {
        rc = sqlite3_bind_double(stmt.get(), index, std::strtod(p.c_str(), nullptr));
      } else {
        rc = sqlite3_bind_text(stmt.get(), index, p.data(), static_cast<int>(p.size()),
                               SQLITE_TRANSIENT);
      }
      if (rc != SQLITE_OK) fail(rc);
    }
    int n = sqlite3_column_count(stmt.get());
    std::vector<std::string> columns;
    for (int i = 0; i < n; ++i) columns.push_back(sqlite3_column_name(stmt.get(), i));
    std::vector<SqlRow> rows;
    bool called = false;
    int rc;
    while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
      SqlRow row(static_cast<size_t>(n));
      for (int i = 0; i < n; ++i) {
        if (sqlite3_column_type(stmt.get(), i) == SQLITE_NULL) continue;
        const unsigned char* text = sqlite3_column_text(stmt.get(), i);
        int size = sqlite3_column_bytes(stmt.get(), i);
        row[static_cast<size_t>(i)] = std::string(reinterpret_cast<const char*>(text),
                                                  static_cast<size_t>(size));
      }
      rows.push_back(std::move(row));
      if (rows.size() >= batch_rows) {
        on_batch(columns, rows);
        called = true;
        rows.clear();
      }
    }
    if (rc != SQLITE_DONE) fail(rc);
    if (!rows.empty() || !called) on_batch(columns, rows);
  }

  std::optional<std::vector<ColumnDef>> table_columns(const std::string& table) override {
    std::vector<std::string> parts = split_name(table);
    std::string pragma = parts.size() > 1 ? quote_part(parts[0]) + ".table_info(" +
                                                quote_literal(parts[1]) + ")"
                                          : "table_info(" + quote_literal(parts[0]) + ")";
    std::vector<SqlRow> rows = query("PRAGMA " + pragma, nullptr);
    if (rows.empty()) return std::nullopt;
    std::vector<ColumnDef> out;
    for (const SqlRow& row : rows) out.push_back({row[1].value_or(""), row[2].value_or("")});
    return out;
  }

  void delete_all(const std::string& table) override { execute("DELETE FROM " + quote_name(table)); }

  std::unique_ptr<RowWriter> insert_rows(const std::string& table,
                                         const std::vector<std::string>& columns) override {
    return std::make_unique<Writer>(*this, insert_sql(table, columns));
  }

  std::unique_ptr<RowWriter> upsert_rows(const std::string& table,
                                         const std::vector<std::string>& columns,
                                         const std::vector<std::string>& key) override {
    std::string updates;
    for (const std::string& c : columns) {
      if (std::find(key.begin(), key.end(), c) != key.end()) continue;
      if (!updates.empty()) updates += ", ";
      updates += quote_name(c) + " = excluded." + quote_name(c);
    }
    std::string sql = insert_sql(table, columns) + " ON CONFLICT (" + quoted_list(*this, key) +
                      ") DO " + (updates.empty() ? "NOTHING" : "UPDATE SET " + updates);
    return std::make_unique<Writer>(*this, sql);
  }

  void interrupt() override {
    interrupted_ = true;
    sqlite3_interrupt(db_);
  }

 private:
  /// One prepared INSERT, stepped once per row.
  class Writer : public RowWriter {
   public:
    Writer(SqliteWarehouse& owner, const std::string& sql)
        : owner_(owner), stmt_(owner.prepare(sql.c_str(), nullptr)) {}
    void write(const SqlRow& row) override {
      sqlite3_stmt* s = stmt_.get();
      for (size_t i = 0; i < row.size(); ++i) {
        int index = static_cast<int>(i) + 1;
        if (row[i]) {
          sqlite3_bind_text(s, index, row[i]->data(), static_cast<int>(row[i]->size()),
                            SQLITE_STATIC);
        } else {
          sqlite3_bind_null(s, index);
        }
      }
      int rc = sqlite3_step(s);
      sqlite3_reset(s);
      if (rc != SQLITE_DONE) owner_.fail(rc);
      ++rows_;
    }
    int64_t finish() override { return rows_; }

   private:
    SqliteWarehouse& owner_;
    Statement stmt_;
    int64_t rows_ = 0;
  };

  std::string insert_sql(const std::string& table, const std::vector<std::string>& columns) {
    std::string marks;
    for (size_t i = 0; i < columns.size(); ++i) marks += i ? ", ?" : "?";
    return "INSERT INTO " + quote_name(table) + " (" + quoted_list(*this, columns) +
           ") VALUES (" + marks + ")";
  }

  sqlite3_stmt* prepare(const char* sql, const char** tail) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql, -1, &stmt, tail);
    if (rc != SQLITE_OK) fail(rc);
    return stmt;
  }

  void exec_simple(const char* sql) {
    int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) fail(rc);
  }

  [[noreturn]] void fail(int rc) {
    bool interrupted = (rc & 0xff) == SQLITE_INTERRUPT;
    throw WarehouseError(sqlite3_errmsg(db_), interrupted && interrupted_);
  }

  sqlite3* db_ = nullptr;
  bool in_tx_ = false;
  std::atomic<bool> interrupted_{false};
};

}  // namespace

std::unique_ptr<Warehouse> open_sqlite_warehouse(const std::string& path) {
  return std::make_unique<SqliteWarehouse>(path);
}

}  // namespace sluice
