// The Postgres store: the connection pool and error messages.

#include "core/postgres/pg_store_impl.h"

namespace sluice::pg {

std::unique_ptr<pqxx::connection> PostgresStore::connect() {
  std::unique_ptr<pqxx::connection> conn;
  try {
    conn = std::make_unique<pqxx::connection>(session_info_);
  } catch (const std::exception& e) {
    throw StoreError("cannot connect to Postgres at " + mask_url(conninfo_) + ": " +
                         mask_url(trim_message(e.what())),
                     /*retryable=*/true);
  }
  // After a lost connection libpqxx 6 would silently open a new session
  // and carry on; a pooled connection is dropped and replaced instead.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  conn->inhibit_reactivation(true);
#pragma GCC diagnostic pop
  for (const auto& [name, sql] : statements()) conn->prepare(name, sql);
  return conn;
}

Lease PostgresStore::acquire() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      Lease lease{std::move(idle_.back()), true};
      idle_.pop_back();
      return lease;
    }
  }
  return Lease{connect(), false};
}

void PostgresStore::release(std::unique_ptr<pqxx::connection> conn) {
  if (!conn || !conn->is_open()) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (idle_.size() < kMaxIdleConnections) idle_.push_back(std::move(conn));
}

void PostgresStore::drop_idle() {
  std::vector<std::unique_ptr<pqxx::connection>> stale;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stale.swap(idle_);
  }
}

std::string PostgresStore::server_message(const std::string& what) {
  std::string s = what;
  if (s.rfind("ERROR:", 0) == 0) s = s.substr(6);
  while (!s.empty() && s.front() == ' ') s.erase(0, 1);
  auto nl = s.find('\n');
  if (nl != std::string::npos) s.resize(nl);
  return s;
}

std::string PostgresStore::trim_message(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

void PostgresStore::end_failed(std::unique_ptr<pqxx::connection> conn, bool open_transaction) {
  if (!conn || !conn->is_open()) return;
  if (open_transaction) {
    try {
      Tx w(*conn);
      w.exec("ROLLBACK");
    } catch (const std::exception&) {
      return;  // dropped
    }
  }
  release(std::move(conn));
}

}  // namespace sluice::pg
