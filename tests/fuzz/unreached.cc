// Functions that the sources of the fuzz builds name but no fuzz target
// reaches: Store::open names the Postgres store, and the backfill routes'
// file also registers the backfill pass with the scheduler loop. Building the
// real ones would pull in libpqxx, the Postgres store and the scheduler loop,
// twice the fuzz build's compile time for code the targets never run. Reaching
// one of these is a bug in the fuzz target, so they abort.

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "core/postgres_store.h"
#include "core/store.h"
#include "scheduler/scheduler.h"

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

void Scheduler::add_pass(std::string, Pass) { unreached("the scheduler loop"); }

}  // namespace sluice
