#pragma once
#include <memory>
#include <string>

namespace sluice {
class Store;

/// Opens a Postgres store from a libpq URL or key=value string.
std::unique_ptr<Store> open_postgres_store(const std::string& conninfo);
}  // namespace sluice
