#include "worker/warehouse.h"

#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <pqxx/pqxx>
#include <pqxx/tablewriter>

#include "core/config.h"
#include "core/secrets.h"
#include "core/text.h"
#include "worker/executor.h"

namespace sluice {
namespace {

// Rows of COPY text are sent in chunks of about this size: few calls into
// libpq, little memory.
constexpr size_t kCopyChunkBytes = 256 * 1024;
constexpr std::chrono::milliseconds kWatchdogTick{50};

std::vector<std::string> split_name(const std::string& name) {
  std::vector<std::string> parts = split(name, '.');
  if (parts.size() > 1 && parts.front().empty()) parts.erase(parts.begin());
  return parts;
}

std::string quote_part(const std::string& part) {
  std::string out = "\"";
  for (char c : part) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string quoted_list(const Warehouse& w, const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += ", ";
    out += w.quote_name(names[i]);
  }
  return out;
}

// The database's message, on one line, without libpq's "ERROR:  " prefix.
std::string clean_message(std::string_view text) {
  std::string out;
  for (const std::string& line : split(text, '\n')) {
    std::string_view t = trim(line);
    if (t.empty()) continue;
    if (!out.empty()) out += " ";
    out += t;
  }
  for (std::string_view prefix : {"ERROR:  ", "ERROR: ", "FATAL:  ", "FATAL: "}) {
    if (starts_with(out, prefix)) out.erase(0, prefix.size());
  }
  return out;
}

// ---- Postgres --------------------------------------------------------------

/// COPY text format: tab-separated, \N for NULL, backslash escapes.
void append_copy_value(std::string& out, const SqlValue& value) {
  if (!value) {
    out += "\\N";
    return;
  }
  const std::string& s = *value;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    const char* escaped = nullptr;
    switch (c) {
      case '\\': escaped = "\\\\"; break;
      case '\t': escaped = "\\t"; break;
      case '\n': escaped = "\\n"; break;
      case '\r': escaped = "\\r"; break;
      default: continue;
    }
    out.append(s, start, i - start);
    out += escaped;
    start = i + 1;
  }
  out.append(s, start, s.size() - start);
}

class PgWarehouse;

/// Appends rows to a table with COPY ... FROM STDIN.
class PgCopyWriter : public RowWriter {
 public:
  PgCopyWriter(PgWarehouse& owner, pqxx::transaction_base& tx, const std::string& table,
               const std::vector<std::string>& quoted_columns);
  ~PgCopyWriter() override;
  void write(const SqlRow& row) override;
  int64_t finish() override;

 private:
  void flush();
  PgWarehouse& owner_;
  std::unique_ptr<pqxx::tablewriter> writer_;
  std::string buffer_;
  int64_t rows_ = 0;
};

/// Copies rows into a temporary table, then merges them with
/// INSERT ... ON CONFLICT (key) DO UPDATE.
class PgUpsertWriter : public RowWriter {
 public:
  PgUpsertWriter(PgWarehouse& owner, pqxx::transaction_base& tx, const std::string& table,
                 const std::vector<std::string>& columns, const std::vector<std::string>& key);
  void write(const SqlRow& row) override { copy_->write(row); }
  int64_t finish() override;

 private:
  PgWarehouse& owner_;
  pqxx::transaction_base& tx_;
  std::string merge_sql_;
  std::string stage_;
  std::unique_ptr<PgCopyWriter> copy_;
};

/// A Postgres warehouse through libpqxx.
class PgWarehouse : public Warehouse {
 public:
  explicit PgWarehouse(const std::string& url) {
    try {
      conn_ = std::make_unique<pqxx::connection>(encode_userinfo(url));
    } catch (const std::exception& e) {
      throw WarehouseError("cannot connect: " + mask_url(clean_message(e.what())));
    }
  }
  ~PgWarehouse() override { rollback(); }

  std::string dialect() const override { return "postgresql"; }

  void begin() override {
    if (tx_) throw WarehouseError("a transaction is already open");
    guard([&] { tx_ = std::make_unique<pqxx::work>(*conn_); });
  }
  void commit() override {
    if (!tx_) return;
    guard([&] { tx_->commit(); });
    tx_.reset();
  }
  void rollback() noexcept override {
    if (!tx_) return;
    try {
      tx_->abort();
    } catch (...) {
      // The connection may be gone; the server rolls back on its own then.
    }
    tx_.reset();
  }
  bool in_transaction() const override { return tx_ != nullptr; }

  int64_t execute(const std::string& sql) override {
    int64_t affected = 0;
    with_tx([&](pqxx::transaction_base& tx) {
      pqxx::result r = tx.exec(sql);
      if (r.columns() == 0) affected = static_cast<int64_t>(r.affected_rows());
    });
    return affected;
  }

  std::vector<SqlRow> query(const std::string& sql, std::vector<std::string>* columns) override {
    std::vector<SqlRow> rows;
    with_tx([&](pqxx::transaction_base& tx) {
      pqxx::result r = tx.exec(sql);
      take_columns(r, columns);
      append_rows(r, rows);
    });
    return rows;
  }

  void stream_query(const std::string& sql, size_t batch_rows,
                    const BatchCallback& on_batch) override {
    bool own_tx = !tx_;
    if (own_tx) begin();
    try {
      std::string body = std::string(trim(sql));
      while (!body.empty() && body.back() == ';') body = std::string(trim(body.substr(0, body.size() - 1)));
      guard([&] { tx_->exec0("DECLARE sluice_extract NO SCROLL CURSOR FOR " + body); });
      std::string fetch = "FETCH FORWARD " + std::to_string(batch_rows) + " FROM sluice_extract";
      std::vector<std::string> columns;
      std::vector<SqlRow> rows;
      for (bool first = true;; first = false) {
        pqxx::result r;
        guard([&] { r = tx_->exec(fetch); });
        if (first) take_columns(r, &columns);
        rows.clear();
        append_rows(r, rows);
        if (!rows.empty() || first) on_batch(columns, rows);
        if (r.size() < batch_rows) break;
      }
      guard([&] { tx_->exec0("CLOSE sluice_extract"); });
    } catch (...) {
      if (own_tx) rollback();
      throw;
    }
    if (own_tx) commit();
  }

  std::optional<std::vector<ColumnDef>> table_columns(const std::string& table) override {
    std::string sql =
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = to_regclass(" + quote_literal(quote_name(table)) + ") "
        "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum";
    std::vector<SqlRow> rows = query(sql, nullptr);
    if (rows.empty()) return std::nullopt;
    std::vector<ColumnDef> out;
    for (const SqlRow& row : rows) out.push_back({row[0].value_or(""), row[1].value_or("")});
    return out;
  }

  void delete_all(const std::string& table) override { execute("TRUNCATE " + quote_name(table)); }

  std::unique_ptr<RowWriter> insert_rows(const std::string& table,
                                         const std::vector<std::string>& columns) override {
    std::vector<std::string> quoted;
    for (const std::string& c : columns) quoted.push_back(quote_name(c));
    return std::make_unique<PgCopyWriter>(*this, need_tx(), quote_name(table), quoted);
  }

  std::unique_ptr<RowWriter> upsert_rows(const std::string& table,
                                         const std::vector<std::string>& columns,
                                         const std::vector<std::string>& key) override {
    return std::make_unique<PgUpsertWriter>(*this, need_tx(), table, columns, key);
  }

  void interrupt() override {
    interrupted_ = true;
    try {
      conn_->cancel_query();
    } catch (...) {
      // Nothing running, or the connection is gone: nothing to stop.
    }
  }

  std::string quote_literal(const std::string& value) const override {
    return conn_->quote(value);
  }

  /// Runs `f`, turning libpqxx exceptions into WarehouseError.
  template <typename F>
  void guard(F&& f) {
    try {
      f();
    } catch (const WarehouseError&) {
      throw;
    } catch (const pqxx::sql_error& e) {
      bool canceled = e.sqlstate() == "57014";
      throw WarehouseError(clean_message(e.what()), canceled && interrupted_);
    } catch (const std::exception& e) {
      throw WarehouseError(clean_message(e.what()), interrupted_);
    }
  }

  pqxx::transaction_base& need_tx() {
    if (!tx_) throw WarehouseError("bulk loads need a transaction: call begin() first");
    return *tx_;
  }

 private:
  template <typename F>
  void with_tx(F&& f) {
    if (tx_) {
      guard([&] { f(*tx_); });
      return;
    }
    guard([&] {
      pqxx::nontransaction tx(*conn_);
      f(tx);
    });
  }

  static void take_columns(const pqxx::result& r, std::vector<std::string>* columns) {
    if (!columns) return;
    columns->clear();
    for (pqxx::row_size_type i = 0; i < r.columns(); ++i) columns->push_back(r.column_name(i));
  }

  static void append_rows(const pqxx::result& r, std::vector<SqlRow>& rows) {
    for (const auto& row : r) {
      SqlRow out;
      out.reserve(row.size());
      for (const auto& field : row) {
        if (field.is_null()) {
          out.emplace_back(std::nullopt);
        } else {
          out.emplace_back(std::string(field.c_str(), field.size()));
        }
      }
      rows.push_back(std::move(out));
    }
  }

  std::unique_ptr<pqxx::connection> conn_;
  std::unique_ptr<pqxx::work> tx_;
  std::atomic<bool> interrupted_{false};
};

// tablewriter is deprecated in favour of stream_to, but stream_to in libpqxx
// 6 escapes field by field and sends one libpq call per row; tablewriter's
// write_raw_line lets us send pre-escaped COPY text in large chunks, which is
// what makes loads as fast as psql's \copy.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
PgCopyWriter::PgCopyWriter(PgWarehouse& owner, pqxx::transaction_base& tx,
                           const std::string& table,
                           const std::vector<std::string>& quoted_columns)
    : owner_(owner) {
  owner_.guard([&] {
    writer_ = std::make_unique<pqxx::tablewriter>(tx, table, quoted_columns.begin(),
                                                  quoted_columns.end());
  });
  buffer_.reserve(kCopyChunkBytes + 4096);
}
#pragma GCC diagnostic pop

PgCopyWriter::~PgCopyWriter() {
  if (!writer_) return;
  try {
    writer_->complete();
  } catch (...) {
    // Abandoned after an error: the transaction is rolled back anyway.
  }
}

void PgCopyWriter::write(const SqlRow& row) {
  for (size_t i = 0; i < row.size(); ++i) {
    if (i) buffer_ += '\t';
    append_copy_value(buffer_, row[i]);
  }
  buffer_ += '\n';
  ++rows_;
  if (buffer_.size() >= kCopyChunkBytes) flush();
}

void PgCopyWriter::flush() {
  if (buffer_.empty()) return;
  // write_raw_line drops one trailing newline and adds its own; a chunk of
  // whole lines therefore goes through unchanged.
  owner_.guard([&] { writer_->write_raw_line(buffer_); });
  buffer_.clear();
}

int64_t PgCopyWriter::finish() {
  flush();
  owner_.guard([&] { writer_->complete(); });
  writer_.reset();
  return rows_;
}

PgUpsertWriter::PgUpsertWriter(PgWarehouse& owner, pqxx::transaction_base& tx,
                               const std::string& table, const std::vector<std::string>& columns,
                               const std::vector<std::string>& key)
    : owner_(owner), tx_(tx) {
  static std::atomic<int> counter{0};
  stage_ = "\"sluice_stage_" + std::to_string(++counter) + "\"";
  std::string cols = quoted_list(owner, columns);
  std::string keys = quoted_list(owner, key);
  owner_.guard([&] {
    tx_.exec0("CREATE TEMP TABLE " + stage_ + " (LIKE " + owner.quote_name(table) +
              " INCLUDING DEFAULTS)");
    tx_.exec0("ALTER TABLE " + stage_ + " ADD COLUMN _sluice_seq bigserial");
  });
  std::string updates;
  for (const std::string& c : columns) {
    if (std::find(key.begin(), key.end(), c) != key.end()) continue;
    if (!updates.empty()) updates += ", ";
    updates += owner.quote_name(c) + " = EXCLUDED." + owner.quote_name(c);
  }
  // DISTINCT ON keeps the last row of each key: ON CONFLICT may touch a row
  // only once per statement.
  merge_sql_ = "INSERT INTO " + owner.quote_name(table) + " (" + cols + ") SELECT DISTINCT ON (" +
               keys + ") " + cols + " FROM " + stage_ + " ORDER BY " + keys +
               ", _sluice_seq DESC ON CONFLICT (" + keys + ") DO " +
               (updates.empty() ? "NOTHING" : "UPDATE SET " + updates);
  std::vector<std::string> quoted;
  for (const std::string& c : columns) quoted.push_back(owner.quote_name(c));
  copy_ = std::make_unique<PgCopyWriter>(owner, tx, stage_, quoted);
}

int64_t PgUpsertWriter::finish() {
  int64_t rows = copy_->finish();
  owner_.guard([&] {
    tx_.exec0(merge_sql_);
    tx_.exec0("DROP TABLE " + stage_);
  });
  return rows;
}

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
    stream_query(sql, 1000, [&](const std::vector<std::string>& names, std::vector<SqlRow>& batch) {
      if (columns) *columns = names;
      for (SqlRow& row : batch) rows.push_back(std::move(row));
    });
    return rows;
  }

  void stream_query(const std::string& sql, size_t batch_rows,
                    const BatchCallback& on_batch) override {
    Statement stmt(prepare(sql.c_str(), nullptr));
    if (!stmt.get()) throw WarehouseError("the query is empty");
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

// ---- Warehouse -------------------------------------------------------------

std::unique_ptr<Warehouse> Warehouse::open(const Connection& conn) {
  if (conn.scheme == "sqlite") return std::make_unique<SqliteWarehouse>(conn.schema);
  if (conn.scheme == "postgresql" || conn.scheme == "postgres" ||
      (conn.scheme.empty() && conn.url.find('=') != std::string::npos)) {
    return std::make_unique<PgWarehouse>(conn.url);
  }
  throw UserError("connection '" + conn.name + "' is not a warehouse: its scheme is '" +
                  conn.scheme + "', expected postgresql:// or sqlite://");
}

std::optional<SqlValue> Warehouse::query_scalar(const std::string& sql) {
  std::vector<SqlRow> rows = query(sql, nullptr);
  if (rows.empty() || rows[0].empty()) return std::nullopt;
  return rows[0][0];
}

void Warehouse::create_table(const std::string& table, const std::vector<ColumnDef>& columns,
                             const std::vector<std::string>& key) {
  std::string sql = "CREATE TABLE IF NOT EXISTS " + quote_name(table) + " (";
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i) sql += ", ";
    sql += quote_name(columns[i].name) + " " + (columns[i].type.empty() ? "TEXT" : columns[i].type);
  }
  sql += ")";
  execute(sql);
  if (key.empty()) return;
  std::vector<std::string> parts = split_name(table);
  std::string index_name = parts.back() + "_key";
  std::string index;
  std::string on;
  if (dialect() == "sqlite" && parts.size() > 1) {
    // SQLite puts the schema on the index name, not on the table.
    index = quote_part(parts[0]) + "." + quote_part(index_name);
    on = quote_part(parts.back());
  } else {
    index = quote_part(index_name);
    on = quote_name(table);
  }
  execute("CREATE UNIQUE INDEX IF NOT EXISTS " + index + " ON " + on + " (" +
          quoted_list(*this, key) + ")");
}

int64_t Warehouse::delete_where(const std::string& table, const std::string& column,
                                const std::string& value) {
  return execute("DELETE FROM " + quote_name(table) + " WHERE " + quote_name(column) + " = " +
                 quote_literal(value));
}

std::string Warehouse::quote_name(const std::string& name) const {
  std::string out;
  for (const std::string& part : split_name(name)) {
    if (!out.empty()) out += ".";
    out += quote_part(part);
  }
  return out;
}

std::string Warehouse::quote_literal(const std::string& value) const {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'') out += '\'';
    out += c;
  }
  out += '\'';
  return out;
}

std::unique_ptr<Warehouse> open_warehouse(const Config& config, const std::string& name) {
  auto it = config.connections.find(name);
  if (it == config.connections.end()) {
    std::vector<std::string> names;
    for (const auto& [n, c] : config.connections) names.push_back(n);
    throw UserError("unknown connection '" + name + "'" + did_you_mean(name, names) +
                    ": define it under connections: in sluice.yaml or as SLUICE_CONN_" +
                    to_upper(name) + "=URL");
  }
  try {
    return Warehouse::open(it->second);
  } catch (const WarehouseError& e) {
    throw WarehouseError("connection '" + name + "' (" + mask_url(it->second.url) +
                         "): " + e.what());
  }
}

// ---- split_sql ---------------------------------------------------------------

std::vector<SqlStatement> split_sql(std::string_view sql) {
  std::vector<SqlStatement> out;
  size_t start = std::string_view::npos;  // first real character of the statement
  int start_line = 1;
  int line = 1;
  size_t i = 0;
  auto finish = [&](size_t end) {
    if (start != std::string_view::npos) {
      out.push_back({std::string(trim(sql.substr(start, end - start))), start_line});
    }
    start = std::string_view::npos;
  };
  auto mark = [&]() {
    if (start == std::string_view::npos) {
      start = i;
      start_line = line;
    }
  };
  auto is_ident = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  };
  // Advances i past the closing `close`; counts lines.
  auto skip_until = [&](std::string_view close) {
    while (i < sql.size()) {
      if (sql.compare(i, close.size(), close) == 0) {
        i += close.size();
        return;
      }
      if (sql[i] == '\n') ++line;
      ++i;
    }
  };
  while (i < sql.size()) {
    char c = sql[i];
    if (c == '\n') {
      ++line;
      ++i;
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      while (i < sql.size() && sql[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      // Postgres block comments nest.
      int depth = 0;
      while (i < sql.size()) {
        if (sql.compare(i, 2, "/*") == 0) {
          ++depth;
          i += 2;
        } else if (sql.compare(i, 2, "*/") == 0) {
          i += 2;
          if (--depth == 0) break;
        } else {
          if (sql[i] == '\n') ++line;
          ++i;
        }
      }
    } else if (c == ';') {
      finish(i);
      ++i;
    } else if (c == '\'' || c == '"' || c == '`') {
      mark();
      ++i;
      // A doubled quote reads as closing and reopening: same result.
      skip_until(std::string_view(&sql[i - 1], 1));
    } else if (c == '$' && (i == 0 || !is_ident(sql[i - 1]))) {
      mark();
      size_t j = i + 1;
      while (j < sql.size() && (is_ident(sql[j])) && !std::isdigit(static_cast<unsigned char>(sql[i + 1]))) ++j;
      if (j < sql.size() && sql[j] == '$') {
        std::string tag(sql.substr(i, j - i + 1));
        i = j + 1;
        skip_until(tag);
      } else {
        ++i;
      }
    } else {
      mark();
      ++i;
    }
  }
  finish(sql.size());
  return out;
}

// ---- StatementWatchdog ---------------------------------------------------------

StatementWatchdog::StatementWatchdog(Warehouse& warehouse, const std::atomic<bool>& cancel,
                                     std::optional<SteadyTime> deadline)
    : warehouse_(warehouse), cancel_(cancel), deadline_(deadline) {
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stop_) {
      wake_.wait_for(lock, kWatchdogTick);
      if (stop_) break;
      if (cancel_) canceled_ = true;
      if (deadline_ && std::chrono::steady_clock::now() >= *deadline_) timed_out_ = true;
      // Repeated while fired: an interrupt that arrives between two
      // statements would otherwise be lost.
      if (canceled_ || timed_out_) warehouse_.interrupt();
    }
  });
}

StatementWatchdog::~StatementWatchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void StatementWatchdog::check() {
  if (cancel_) canceled_ = true;
  if (deadline_ && std::chrono::steady_clock::now() >= *deadline_) timed_out_ = true;
  if (canceled_) throw WarehouseError("canceled", true);
  if (timed_out_) throw WarehouseError("timed out", true);
}

// ---- MaskedLog ---------------------------------------------------------------

MaskedLog::MaskedLog(LogWriter& log, const Config& config)
    : log_(log), secrets_(config.secrets()) {}

void MaskedLog::line(const std::string& text) { log_.write(mask(text + "\n")); }

std::string MaskedLog::mask(std::string text) const {
  return mask_secrets(std::move(text), secrets_);
}

std::optional<std::chrono::steady_clock::time_point> deadline_after(std::optional<Millis> timeout) {
  if (!timeout) return std::nullopt;
  return std::chrono::steady_clock::now() + *timeout;
}

}  // namespace sluice
