// Functions that the sources of the fuzz builds name but no fuzz target
// reaches: Store::open names the Postgres store. Building the real one would
// pull in libpqxx, twice the fuzz build's compile time for code the targets
// never run. Reaching it is a bug in the fuzz target, so it aborts.

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "core/postgres_store.h"
#include "core/store.h"

namespace sluice {
namespace {

[[noreturn]] void unreached(const char* what) {
  std::fprintf(stderr, "fuzz build: %s is not part of the fuzz build\n", what);
  std::abort();
}

}  // namespace

std::unique_ptr<Store> open_postgres_store(const std::string&) {
  unreached("the Postgres store");
}

}  // namespace sluice
