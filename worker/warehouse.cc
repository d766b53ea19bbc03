#include "worker/warehouse.h"

#include <algorithm>
#include <cctype>

#include "core/config.h"
#include "core/secrets.h"
#include "core/text.h"
#include "worker/executor.h"
#include "worker/warehouse_drivers.h"

namespace sluice {
namespace {

constexpr std::chrono::milliseconds kWatchdogTick{50};

}  // namespace

namespace warehouse_detail {

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

}  // namespace warehouse_detail

using namespace warehouse_detail;

// ---- Warehouse -------------------------------------------------------------

std::unique_ptr<Warehouse> Warehouse::open(const Connection& conn) {
  if (conn.scheme == "sqlite") return open_sqlite_warehouse(conn.schema);
  if (conn.scheme == "postgresql" || conn.scheme == "postgres" ||
      (conn.scheme.empty() && conn.url.find('=') != std::string::npos)) {
    return open_postgres_warehouse(conn.url);
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

void fail_warehouse_task(TaskOutcome& outcome, const std::exception& e,
                         const std::optional<StatementWatchdog>& watchdog,
                         std::optional<std::chrono::steady_clock::time_point> deadline,
                         const TaskContext& ctx, const MaskedLog& log) {
  outcome.status = TaskOutcome::Status::kFailed;
  outcome.timed_out = (watchdog && watchdog->timed_out()) ||
                      (deadline && std::chrono::steady_clock::now() >= *deadline);
  outcome.canceled = ((watchdog && watchdog->canceled()) || ctx.cancel) && !outcome.timed_out;
  if (outcome.timed_out) {
    outcome.error = "timed out after " + format_duration(ctx.timeout.value_or(Millis(0)));
  } else if (outcome.canceled) {
    outcome.error = "canceled";
  } else {
    outcome.error = log.mask(e.what());
  }
}

}  // namespace sluice
