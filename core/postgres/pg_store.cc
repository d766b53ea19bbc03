// The Postgres store: schema migrations, housekeeping and open_postgres_store.

#include "core/postgres/pg_store_impl.h"

namespace sluice::pg {

SchemaStatus PostgresStore::schema_status() {
  return transact("read the schema status", [](Tx& w) { return read_status(w); });
}

SchemaStatus PostgresStore::migrate() {
  for (const Migration& m : postgres_migrations()) {
    // Two processes migrating at once: the second waits for the lock taken
    // with BEGIN, then finds the migration recorded and skips it.
    const std::string begin =
        "BEGIN; SELECT pg_advisory_xact_lock(" + std::to_string(kMigrateLockKey) + ")";
    transact("apply migration " + std::string(m.name), begin, [&](Tx& w, const pqxx::result&) {
      w.exec(
          "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
          "name TEXT NOT NULL, applied_at BIGINT NOT NULL)");
      pqxx::result done =
          w.exec("SELECT 1 FROM schema_migrations WHERE version = " + std::to_string(m.version));
      if (!done.empty()) return 0;
      w.exec(m.sql);
      w.exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (" +
             std::to_string(m.version) + ", " + w.quote(std::string(m.name)) +
             ", (extract(epoch from clock_timestamp()) * 1000)::bigint)");
      return 0;
    });
  }
  return schema_status();
}

int64_t PostgresStore::clean_finished_runs(Timestamp cutoff, int batch) {
  if (batch <= 0) batch = 500;
  int64_t total = 0;
  for (;;) {
    int64_t n = transact("delete finished runs", [&](Tx& w) {
      return static_cast<int64_t>(
          w.exec_prepared("clean_runs", to_epoch_ms(cutoff), batch).affected_rows());
    });
    total += n;
    if (n < batch) return total;
  }
}

SchemaStatus PostgresStore::read_status(Tx& w) {
  SchemaStatus status;
  std::set<int> applied;
  if (!w.exec("SELECT to_regclass('schema_migrations')")[0][0].is_null()) {
    for (const auto& row : w.exec("SELECT version, name FROM schema_migrations ORDER BY version")) {
      int version = row[0].as<int>();
      applied.insert(version);
      status.applied.push_back(text(row[1]));
      status.current = std::max(status.current, version);
    }
  }
  for (const Migration& m : postgres_migrations()) {
    status.latest = std::max(status.latest, m.version);
    if (!applied.count(m.version)) status.pending.push_back(m.name);
  }
  return status;
}
}  // namespace sluice::pg

namespace sluice {

std::unique_ptr<Store> open_postgres_store(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(encode_userinfo(conninfo).c_str(), &error);
  if (!options) {
    std::string message = error ? error : "out of memory";
    if (error) PQfreemem(error);
    while (!message.empty() && message.back() == '\n') message.pop_back();
    throw UserError("malformed Postgres URL '" + mask_url(conninfo) + "': " + mask_url(message) +
                    " (use postgresql://user:pass@host:port/db or key=value pairs)");
  }
  PQconninfoFree(options);
  return std::make_unique<pg::PostgresStore>(conninfo);
}

}  // namespace sluice
