#pragma once
// What the warehouse drivers share (worker/pg_warehouse.cc,
// worker/sqlite_warehouse.cc) with worker/warehouse.cc, which opens them.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "worker/warehouse.h"

namespace sluice {

/// A Postgres warehouse at `url` (a URL or key=value connection string).
std::unique_ptr<Warehouse> open_postgres_warehouse(const std::string& url);
/// A SQLite warehouse: the database file at `path`.
std::unique_ptr<Warehouse> open_sqlite_warehouse(const std::string& path);

namespace warehouse_detail {

/// A dotted name's parts ("s.t" -> s, t); a leading dot is dropped.
std::vector<std::string> split_name(const std::string& name);
/// One part of a name, double-quoted for SQL.
std::string quote_part(const std::string& part);
/// `names` quoted by `w` and joined with ", ".
std::string quoted_list(const Warehouse& w, const std::vector<std::string>& names);
/// The database's message, on one line, without libpq's "ERROR:  " prefix.
std::string clean_message(std::string_view text);

}  // namespace warehouse_detail
}  // namespace sluice
