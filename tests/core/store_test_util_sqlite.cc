// make_test_store for SQLite (a new file in a fresh temp folder per store),
// dispatching "postgres" to store_test_util_pg.cc.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <mutex>
#include <vector>

#include "core/store.h"
#include "tests/core/store_test_util.h"

namespace sluice::testing {
namespace {

/// Temp folders made for test stores, removed when the test binary exits.
class TempDirs {
 public:
  ~TempDirs() {
    for (const auto& dir : dirs_) {
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);
    }
  }
  std::filesystem::path make() {
    std::string pattern = (std::filesystem::temp_directory_path() / "sluice_store_XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      ADD_FAILURE() << "cannot create a temp folder from " << pattern;
      return std::filesystem::temp_directory_path();
    }
    std::lock_guard<std::mutex> lock(mu_);
    dirs_.emplace_back(pattern);
    return pattern;
  }
  void set_last_url(std::string url) {
    std::lock_guard<std::mutex> lock(mu_);
    last_url_ = std::move(url);
  }
  std::string last_url() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_url_;
  }

 private:
  std::mutex mu_;
  std::vector<std::filesystem::path> dirs_;  // GUARDED_BY(mu_)
  std::string last_url_;                     // GUARDED_BY(mu_)
};

TempDirs& temp_dirs() {
  static TempDirs dirs;
  return dirs;
}

}  // namespace

std::unique_ptr<Store> make_test_store(const std::string& backend) {
  if (backend == "postgres") return make_test_postgres_store();
  if (backend != "sqlite") {
    ADD_FAILURE() << "unknown store backend '" << backend << "'";
    return nullptr;
  }
  std::string url = "sqlite://" + (temp_dirs().make() / "sluice.db").string();
  temp_dirs().set_last_url(url);
  std::unique_ptr<Store> store = Store::open(url);
  store->migrate();
  return store;
}

std::string last_test_store_url(const std::string& backend) {
  if (backend == "postgres") return last_test_postgres_url();
  return temp_dirs().last_url();
}

}  // namespace sluice::testing
