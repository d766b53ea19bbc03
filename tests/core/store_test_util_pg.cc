// make_test_store for Postgres: a fresh schema in the test server per store,
// migrated, and dropped again when the store is destroyed.

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <mutex>
#include <random>

#include <pqxx/pqxx>

#include "core/error.h"
#include "core/secrets.h"
#include "core/store.h"
#include "core/store_wrapper.h"
#include "tests/core/store_test_util.h"

namespace sluice::testing {
namespace {

std::mutex last_url_mu;
std::string last_url;  // GUARDED_BY(last_url_mu)

std::string random_schema_name() {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}() ^ static_cast<uint64_t>(getpid())};
  std::lock_guard<std::mutex> lock(mu);
  static const char* digits = "0123456789abcdef";
  std::string name = "t_";
  uint64_t v = rng();
  for (int i = 0; i < 12; ++i, v >>= 4) name += digits[v & 15];
  return name;
}

// The server URL with every new session's search_path set to `schema`.
std::string url_with_schema(const std::string& base, const std::string& schema) {
  if (base.find("://") == std::string::npos) {
    return base + " options='-csearch_path=" + schema + "'";  // key=value form
  }
  return base + (base.find('?') == std::string::npos ? "?" : "&") +
         "options=-csearch_path%3D" + schema;
}

/// A test store that drops its schema when destroyed; forwards everything
/// else. Only the process that made the schema drops it (forked children
/// that share the object must not).
class SchemaStore final : public StoreWrapper {
 public:
  SchemaStore(std::unique_ptr<Store> inner, std::string server_url, std::string schema)
      : StoreWrapper(std::move(inner)),
        server_url_(std::move(server_url)),
        schema_(std::move(schema)),
        owner_pid_(getpid()) {}

  ~SchemaStore() override {
    close_inner();  // close its connections first
    if (getpid() != owner_pid_) return;
    try {
      pqxx::connection conn(server_url_);
      pqxx::nontransaction w(conn);
      w.exec("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cannot drop test schema " << schema_ << ": " << e.what();
    }
  }

 private:
  std::string server_url_;
  std::string schema_;
  pid_t owner_pid_;
};

}  // namespace

std::string test_postgres_url() {
  const char* url = getenv("SLUICE_TEST_PG_URL");
  if (url == nullptr || *url == '\0') {
    ADD_FAILURE() << "SLUICE_TEST_PG_URL is not set: the Postgres tests need a server; run "
                     "them through scripts/with-postgres.sh (it starts a throwaway one)";
    return "";
  }
  return url;
}

std::unique_ptr<Store> make_test_postgres_store() {
  std::string server = test_postgres_url();
  if (server.empty()) throw StoreError("no test Postgres server (SLUICE_TEST_PG_URL unset)");
  std::string schema = random_schema_name();
  try {
    pqxx::connection conn(server);
    pqxx::nontransaction w(conn);
    w.exec("CREATE SCHEMA " + schema);
  } catch (const std::exception& e) {
    throw StoreError("cannot create test schema " + schema + " on " + mask_url(server) + ": " +
                     e.what());
  }
  std::string url = url_with_schema(server, schema);
  {
    std::lock_guard<std::mutex> lock(last_url_mu);
    last_url = url;
  }
  auto store = std::make_unique<SchemaStore>(Store::open(url), server, schema);
  store->migrate();
  return store;
}

std::string last_test_postgres_url() {
  std::lock_guard<std::mutex> lock(last_url_mu);
  return last_url;
}

}  // namespace sluice::testing
