#pragma once
// A small interface over a warehouse connection (Postgres through libpqxx,
// SQLite through sqlite3): statements in a transaction, queries, bulk loads.
// Used by the extract, sql and check task types.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/time.h"

namespace sluice {

struct Config;
struct Connection;
class LogWriter;

/// A value as text; nullopt is SQL NULL.
using SqlValue = std::optional<std::string>;
using SqlRow = std::vector<SqlValue>;

/// A column of a table: name and SQL type as the database spells it.
struct ColumnDef {
  std::string name;
  std::string type;
};

/// The database refused a statement or the connection failed. The message is
/// the database's own (without secrets of the connection URL).
class WarehouseError : public Error {
 public:
  explicit WarehouseError(const std::string& message, bool interrupted = false)
      : Error(message), interrupted_(interrupted) {}
  /// True when the statement stopped because interrupt() was called.
  bool interrupted() const { return interrupted_; }

 private:
  bool interrupted_;
};

/// Receives rows for one table; rows are buffered and sent in batches.
class RowWriter {
 public:
  virtual ~RowWriter() = default;
  /// `row` has one value per column given when the writer was made.
  virtual void write(const SqlRow& row) = 0;
  /// Sends what is buffered and ends the load; returns the rows written.
  virtual int64_t finish() = 0;
};

/// One open connection to a warehouse. Not thread-safe, except interrupt().
class Warehouse {
 public:
  /// Opens `conn` (postgresql://, postgres://, a libpq key=value string, or
  /// sqlite://PATH). Throws UserError for another scheme, WarehouseError when
  /// the database cannot be reached.
  static std::unique_ptr<Warehouse> open(const Connection& conn);

  virtual ~Warehouse() = default;
  Warehouse(const Warehouse&) = delete;
  Warehouse& operator=(const Warehouse&) = delete;

  /// "postgresql" or "sqlite".
  virtual std::string dialect() const = 0;

  /// Statements between begin() and commit() form one transaction; outside
  /// one, each statement commits on its own.
  virtual void begin() = 0;
  virtual void commit() = 0;
  /// Never throws; a no-op outside a transaction.
  virtual void rollback() noexcept = 0;
  virtual bool in_transaction() const = 0;

  /// Runs one statement; returns the rows it inserted, updated or deleted
  /// (0 for statements that return rows).
  virtual int64_t execute(const std::string& sql) = 0;
  /// Runs one query and returns all its rows; column names go to `columns`.
  virtual std::vector<SqlRow> query(const std::string& sql,
                                    std::vector<std::string>* columns = nullptr) = 0;
  /// The first column of the first row; nullopt when there is no row.
  std::optional<SqlValue> query_scalar(const std::string& sql);

  /// Runs a query and hands its rows over in batches of at most `batch_rows`,
  /// without holding the whole result (Postgres: a server-side cursor, which
  /// needs a transaction: one is opened and closed when none is active).
  /// `on_batch` is called at least once, with the column names.
  using BatchCallback =
      std::function<void(const std::vector<std::string>& columns, std::vector<SqlRow>& rows)>;
  void stream_query(const std::string& sql, size_t batch_rows, const BatchCallback& on_batch) {
    stream_query(sql, {}, batch_rows, on_batch);
  }
  /// The same with bound parameters: $1, $2... (Postgres) or ?1, ?2...
  /// (SQLite, which binds a parameter that reads as a number as a number).
  void stream_query(const std::string& sql, const std::vector<std::string>& params,
                    size_t batch_rows, const BatchCallback& on_batch) {
    stream_rows(sql, params, batch_rows, on_batch);
  }
  /// `n`th parameter's placeholder in this dialect.
  virtual std::string placeholder(int n) const = 0;

  /// The columns of `table` in order; nullopt when there is no such table.
  /// `table` may be schema-qualified ("staging.orders").
  virtual std::optional<std::vector<ColumnDef>> table_columns(const std::string& table) = 0;

  /// Creates `table` with `columns` unless it exists; with `key`, also a
  /// unique index on those columns (upserts need one).
  void create_table(const std::string& table, const std::vector<ColumnDef>& columns,
                    const std::vector<std::string>& key = {});
  /// Deletes every row of `table` (Postgres: TRUNCATE, still transactional).
  virtual void delete_all(const std::string& table) = 0;
  /// Deletes the rows whose `column` equals `value`; returns how many.
  int64_t delete_where(const std::string& table, const std::string& column,
                       const std::string& value);

  /// A writer that appends rows to `table`'s `columns` (Postgres: COPY;
  /// SQLite: one prepared INSERT).
  virtual std::unique_ptr<RowWriter> insert_rows(const std::string& table,
                                                 const std::vector<std::string>& columns) = 0;
  /// A writer that inserts rows or updates the row with the same `key`
  /// values; the last row of a key wins. The table needs a unique index on `key`.
  virtual std::unique_ptr<RowWriter> upsert_rows(const std::string& table,
                                                 const std::vector<std::string>& columns,
                                                 const std::vector<std::string>& key) = 0;

  /// stream_query's implementation.
  virtual void stream_rows(const std::string& sql, const std::vector<std::string>& params,
                           size_t batch_rows, const BatchCallback& on_batch) = 0;

  /// Stops the statement running now, from another thread; it fails with a
  /// WarehouseError whose interrupted() is true.
  virtual void interrupt() = 0;

  /// `name` quoted as an identifier, each dotted part on its own:
  /// staging.orders -> "staging"."orders".
  std::string quote_name(const std::string& name) const;
  /// `value` as a string literal.
  virtual std::string quote_literal(const std::string& value) const;

 protected:
  Warehouse() = default;
};

/// Looks up connection `name` in `config` and opens it. The UserError for an
/// unknown name says how to configure one.
std::unique_ptr<Warehouse> open_warehouse(const Config& config, const std::string& name);

/// Splits SQL text into statements at `;` outside quotes ('...', "..."),
/// comments (--, /* */) and dollar quotes ($tag$...$tag$). Statements holding
/// only whitespace and comments are dropped.
struct SqlStatement {
  std::string text;  // trimmed, without the `;`
  int line = 1;      // line of the text where the statement starts
};
std::vector<SqlStatement> split_sql(std::string_view sql);

/// While alive, watches a cancel flag and a deadline from a thread and calls
/// `warehouse.interrupt()` when either fires, so that a long statement stops.
class StatementWatchdog {
 public:
  using SteadyTime = std::chrono::steady_clock::time_point;
  StatementWatchdog(Warehouse& warehouse, const std::atomic<bool>& cancel,
                    std::optional<SteadyTime> deadline);
  ~StatementWatchdog();
  StatementWatchdog(const StatementWatchdog&) = delete;
  StatementWatchdog& operator=(const StatementWatchdog&) = delete;

  /// Why the watchdog fired, if it did: "canceled" or "timed out".
  bool canceled() const { return canceled_; }
  bool timed_out() const { return timed_out_; }
  /// Throws WarehouseError(interrupted) when the cancel flag is set or the
  /// deadline passed; call between batches.
  void check();

 private:
  Warehouse& warehouse_;
  const std::atomic<bool>& cancel_;
  std::optional<SteadyTime> deadline_;
  std::atomic<bool> canceled_{false};
  std::atomic<bool> timed_out_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;  // guarded by mutex_
  std::thread thread_;
};

/// Writes lines to a try's log with the configuration's secrets masked, for
/// the in-process task types (extract, sql, check, spark_submit).
class MaskedLog {
 public:
  MaskedLog(LogWriter& log, const Config& config);
  /// Writes `text` and a newline.
  void line(const std::string& text);
  /// `text` with every secret replaced by `***`.
  std::string mask(std::string text) const;

 private:
  LogWriter& log_;
  std::vector<std::string> secrets_;
};

/// When a try with `timeout` left, starting now, must end.
std::optional<std::chrono::steady_clock::time_point> deadline_after(std::optional<Millis> timeout);

struct TaskContext;
struct TaskOutcome;

/// Ends an in-process warehouse task that threw `e`: timed out when its
/// watchdog fired or its deadline passed, canceled when it was asked to stop,
/// otherwise failed with the error, secrets masked. Sets outcome.error.
void fail_warehouse_task(TaskOutcome& outcome, const std::exception& e,
                         const std::optional<StatementWatchdog>& watchdog,
                         std::optional<std::chrono::steady_clock::time_point> deadline,
                         const TaskContext& ctx, const MaskedLog& log);

}  // namespace sluice
