#pragma once
// Helpers for the tests of the extract, sql, check and spark_submit task
// types: a hand-built TaskContext, a log that collects text, warehouses.

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>

#include <gtest/gtest.h>

#include "core/config.h"
#include "core/dag.h"
#include "core/store.h"
#include "worker/executor.h"
#include "worker/task_runner.h"
#include "worker/warehouse.h"

namespace sluice {
namespace testing_elt {

/// A LogWriter that keeps everything written to it.
class CollectingLog : public LogWriter {
 public:
  void write(std::string_view text) override {
    std::lock_guard<std::mutex> lock(mutex_);
    text_.append(text);
  }
  std::string text() {
    std::lock_guard<std::mutex> lock(mutex_);
    return text_;
  }

 private:
  std::mutex mutex_;
  std::string text_;
};

/// The Postgres URL the test command provides; a test failure when unset.
inline std::string pg_url() {
  const char* url = std::getenv("SLUICE_TEST_PG_URL");
  if (!url || !*url) {
    ADD_FAILURE() << "SLUICE_TEST_PG_URL is not set: run the tests through "
                     "scripts/with-postgres.sh (scripts/test.sh does)";
    return "";
  }
  return url;
}

/// A table-name prefix no other test (or test process) uses.
inline std::string unique_prefix() {
  static std::atomic<int> counter{0};
  return "t" + std::to_string(::getpid()) + "_" + std::to_string(++counter) + "_";
}

/// A temporary directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "sluice-elt-test.XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name, const std::string& content) const {
    std::string p = path_ + "/" + name;
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }

 private:
  std::string path_;
};

/// Everything a TaskContext refers to, owned in one place.
struct Harness {
  Config config;
  Dag dag;
  Task task;
  RunRecord run;
  nlohmann::json context = {{"ds", "2026-01-01"}, {"ds_nodash", "20260101"}};
  CollectingLog log;
  std::atomic<bool> cancel{false};
  RealProcessLauncher real_launcher;
  ProcessLauncher* launcher = &real_launcher;
  std::optional<Millis> timeout;
  Store* store = nullptr;  // the metadata store, for the tasks that read it

  Harness() {
    dag.id = "elt_test";
    task.id = "task";
    run.run_id = "scheduled__2026-01-01T00:00:00Z";
  }
  void add_connection(const std::string& name, const std::string& url) {
    config.connections[name] = Connection::parse(name, url);
  }
  TaskOutcome run_with(TaskExecutor& executor) {
    TaskContext ctx{dag,    task, run,    1,       context, config, log,
                    cancel, *launcher, timeout, {}, std::nullopt, nullptr};
    ctx.store = store;
    return executor.execute(ctx);
  }
};

}  // namespace testing_elt
}  // namespace sluice
