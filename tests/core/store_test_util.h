#pragma once
// Stores for tests: a fresh, migrated store of either backend.

#include <memory>
#include <string>

#include "core/store.h"

namespace sluice::testing {

/// The Postgres URL of the test command's throwaway server, from
/// SLUICE_TEST_PG_URL. Fails the calling test (never skips) when unset.
std::string test_postgres_url();

/// A fresh, empty, migrated store: "sqlite" (a new file in a temp folder) or
/// "postgres" (a new schema in the test server, dropped on destruction).
std::unique_ptr<Store> make_test_store(const std::string& backend);

/// The URL make_test_store used for the last store of `backend`, so that a
/// test can open a second connection or start a process against it.
std::string last_test_store_url(const std::string& backend);

/// The "postgres" half of make_test_store / last_test_store_url, defined in
/// store_test_util_pg.cc.
std::unique_ptr<Store> make_test_postgres_store();
std::string last_test_postgres_url();

}  // namespace sluice::testing
