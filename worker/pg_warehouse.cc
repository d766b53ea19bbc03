// The Postgres warehouse driver: libpqxx, COPY for bulk loads, upserts
// through a staging table.
#include <pqxx/pqxx>
#include <pqxx/tablewriter>

#include "core/secrets.h"
#include "core/text.h"
#include "worker/warehouse_drivers.h"

namespace sluice {
namespace {

using namespace warehouse_detail;

// Rows of COPY text are sent in chunks of about this size: few calls into
// libpq, little memory.
constexpr size_t kCopyChunkBytes = 256 * 1024;

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

  std::string placeholder(int n) const override { return "$" + std::to_string(n); }

  void stream_rows(const std::string& sql, const std::vector<std::string>& params,
                   size_t batch_rows, const BatchCallback& on_batch) override {
    bool own_tx = !tx_;
    if (own_tx) begin();
    try {
      std::string body = std::string(trim(sql));
      while (!body.empty() && body.back() == ';') body = std::string(trim(body.substr(0, body.size() - 1)));
      guard([&] {
        std::string declare = "DECLARE sluice_extract NO SCROLL CURSOR FOR " + body;
        if (params.empty()) {
          tx_->exec0(declare);
        } else {
          tx_->exec_params0(declare, pqxx::prepare::make_dynamic_params(params));
        }
      });
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

}  // namespace

std::unique_ptr<Warehouse> open_postgres_warehouse(const std::string& url) {
  return std::make_unique<PgWarehouse>(url);
}

}  // namespace sluice
