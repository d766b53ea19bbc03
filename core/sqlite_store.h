#pragma once
#include <memory>
#include <string>

namespace sluice {
class Store;

/// Options of the SQLite store.
struct SqliteOptions {
  /// NORMAL (default): WAL commits survive a process crash but the last ones
  /// may be lost on power failure. FULL: also durable across power failure, at
  /// about a tenth of the commit rate.
  bool synchronous_full = false;
  int busy_timeout_ms = 10000;
};

/// Opens (creating if missing) the SQLite database at `path` in WAL mode.
std::unique_ptr<Store> open_sqlite_store(const std::string& path, const SqliteOptions& options = {});

/// The connection's PRAGMA synchronous (1 NORMAL, 2 FULL) of a store made by
/// open_sqlite_store, for tests; -1 for any other store.
int sqlite_synchronous_level(Store& store);
}  // namespace sluice
