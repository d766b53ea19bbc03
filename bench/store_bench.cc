// Store throughput: tasks claimed and finished per second, next to the raw
// single-row commit rate of the same database, measured in the same run.
//
//   store_bench --db sqlite:///tmp/x.db | --db postgresql://... [--tasks N]
//               [--claimers 1,4] [--raw-commits N] [--repeat 3]
//
// Each task is one claim_tasks (max_tasks=1) and one finish_task with a
// trivial decider (queue everything at creation, end the run when all its
// tasks finished), so the store does its real work per task: two
// transactions, the run's snapshot and the decisions. commits/task = raw
// commit rate / task rate: how many single-row commits one task costs.
// Postgres runs use a fresh schema per repetition, dropped afterwards.

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "core/store.h"

namespace sluice {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

bool is_sqlite(const std::string& url) { return url.rfind("sqlite://", 0) == 0; }

/// One fresh database for one repetition: a new SQLite file or a new
/// Postgres schema (dropped on destruction).
class Scratch {
 public:
  Scratch(const std::string& base, int rep) : base_(base) {
    std::string tag = std::to_string(getpid()) + "_" + std::to_string(rep);
    if (is_sqlite(base)) {
      path_ = base.substr(9) + "." + tag;
      url_ = "sqlite://" + path_;
    } else {
      schema_ = "bench_" + tag;
      pqxx::connection c(base);
      pqxx::nontransaction w(c);
      w.exec("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
      w.exec("CREATE SCHEMA " + schema_);
      url_ = base + (base.find('?') == std::string::npos ? "?" : "&") +
             "options=-csearch_path%3D" + schema_;
    }
  }
  ~Scratch() {
    if (!path_.empty()) {
      for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path_ + suffix).c_str());
    } else {
      try {
        pqxx::connection c(base_);
        pqxx::nontransaction w(c);
        w.exec("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
      } catch (const std::exception& e) {
        fprintf(stderr, "store_bench: cannot drop schema %s: %s\n", schema_.c_str(), e.what());
      }
    }
  }
  const std::string& url() const { return url_; }
  const std::string& path() const { return path_; }

 private:
  std::string base_, url_, path_, schema_;
};

Decider trivial_decider() {
  Decider d;
  d.decide = [](const RunSnapshot& snap) {
    RunDecisions out;
    bool all_done = true;
    for (const auto& t : snap.tasks) {
      if (t.state == TaskState::kNone) {
        out.tasks.push_back({t.id, TaskState::kNone, TaskState::kQueued, std::nullopt, ""});
      }
      if (!is_finished(t.state)) all_done = false;
    }
    if (all_done) {
      out.run_state = RunState::kSuccess;
    } else if (snap.run.state == RunState::kQueued) {
      out.run_state = RunState::kRunning;
    }
    return out;
  };
  return d;
}

// Tasks per second for `claimers` threads claiming and finishing `tasks`
// tasks (runs of 10 tasks).
double task_rate(Store& store, int tasks, int claimers) {
  const Timestamp now = from_epoch_ms(1770000000000);
  store.upsert_dag("bench", "bench.yaml", "h1", "dag: bench", nlohmann::json::object(), false,
                   1 << 20, now);
  Decider decider = trivial_decider();
  for (int r = 0; r * 10 < tasks; ++r) {
    NewRun run;
    run.dag_id = "bench";
    run.run_id = "manual__" + std::to_string(r);
    run.version_id = 1;
    run.interval = {now, now};
    for (int t = 0; t < 10 && r * 10 + t < tasks; ++t) {
      run.tasks.push_back({"t" + std::to_string(t), 1, "default", 0, "default"});
    }
    store.create_run(run, decider, now);
  }
  std::atomic<int> done{0};
  std::atomic<bool> failed{false};
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < claimers; ++c) {
    threads.emplace_back([&, c] {
      try {
        ClaimRequest req;
        req.worker_id = "w" + std::to_string(c);
        req.now = now;
        for (;;) {
          auto claimed = store.claim_tasks(req);
          if (claimed.empty()) break;
          TaskResult result;
          result.ti_id = claimed[0].task.id;
          result.try_number = claimed[0].task.try_number;
          result.worker_id = req.worker_id;
          result.state = TaskState::kSuccess;
          result.exit_code = 0;
          result.ended_at = now;
          result.final_log = "ok\n";
          store.finish_task(result, decider);
          ++done;
        }
      } catch (const std::exception& e) {
        fprintf(stderr, "store_bench: claimer %d: %s\n", c, e.what());
        failed = true;
      }
    });
  }
  for (auto& t : threads) t.join();
  double elapsed = seconds_since(start);
  if (failed || done != tasks) {
    throw std::runtime_error("finished " + std::to_string(done.load()) + " of " +
                             std::to_string(tasks) + " tasks");
  }
  return tasks / elapsed;
}

// Single-row INSERT + COMMIT per second on one connection of the backend,
// with the settings the store uses.
double raw_commit_rate(const Scratch& scratch, int commits) {
  if (!scratch.path().empty()) {
    sqlite3* db = nullptr;
    if (sqlite3_open(scratch.path().c_str(), &db) != SQLITE_OK) {
      throw std::runtime_error("cannot open " + scratch.path());
    }
    auto exec = [&](const char* sql) {
      char* err = nullptr;
      if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
        std::string message = err ? err : "?";
        sqlite3_free(err);
        throw std::runtime_error(message);
      }
    };
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    exec("CREATE TABLE IF NOT EXISTS bench_raw (id INTEGER PRIMARY KEY, v TEXT)");
    sqlite3_stmt* insert = nullptr;
    sqlite3_prepare_v2(db, "INSERT INTO bench_raw (v) VALUES ('x')", -1, &insert, nullptr);
    auto start = Clock::now();
    for (int i = 0; i < commits; ++i) {
      exec("BEGIN IMMEDIATE");
      sqlite3_step(insert);
      sqlite3_reset(insert);
      exec("COMMIT");
    }
    double rate = commits / seconds_since(start);
    sqlite3_finalize(insert);
    sqlite3_close(db);
    return rate;
  }
  pqxx::connection c(scratch.url());
  {
    pqxx::nontransaction w(c);
    w.exec("CREATE TABLE IF NOT EXISTS bench_raw (id BIGSERIAL PRIMARY KEY, v TEXT)");
  }
  c.prepare("raw_insert", "INSERT INTO bench_raw (v) VALUES ('x')");
  auto start = Clock::now();
  for (int i = 0; i < commits; ++i) {
    pqxx::work w(c);
    w.exec_prepared("raw_insert");
    w.commit();
  }
  return commits / seconds_since(start);
}

std::vector<int> parse_list(const std::string& text) {
  std::vector<int> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find(',', pos);
    if (end == std::string::npos) end = text.size();
    out.push_back(std::stoi(text.substr(pos, end - pos)));
    pos = end + 1;
  }
  return out;
}

int run(int argc, char** argv) {
  std::string db;
  int tasks = 2000, raw_commits = 2000, repeat = 3;
  std::vector<int> claimers = {1, 4};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--db") {
      db = value();
    } else if (arg == "--tasks") {
      tasks = std::stoi(value());
    } else if (arg == "--claimers") {
      claimers = parse_list(value());
    } else if (arg == "--raw-commits") {
      raw_commits = std::stoi(value());
    } else if (arg == "--repeat") {
      repeat = std::stoi(value());
    } else {
      throw std::invalid_argument("unknown argument " + arg);
    }
  }
  if (db.empty()) throw std::invalid_argument("--db URL is required");
  const char* backend = is_sqlite(db) ? "sqlite" : "postgres";
  for (int k : claimers) {
    std::vector<double> task_rates, raw_rates;
    for (int rep = 0; rep < repeat; ++rep) {
      Scratch scratch(db, rep);
      auto store = Store::open(scratch.url());
      store->migrate();
      raw_rates.push_back(raw_commit_rate(scratch, raw_commits));
      task_rates.push_back(task_rate(*store, tasks, k));
    }
    double t = median(task_rates), r = median(raw_rates);
    printf("%-9s claimers=%d  tasks/s=%8.0f  raw commits/s=%8.0f  commits/task=%5.2f\n", backend,
           k, t, r, r / t);
    fflush(stdout);
  }
  return 0;
}

}  // namespace
}  // namespace sluice

int main(int argc, char** argv) {
  try {
    return sluice::run(argc, argv);
  } catch (const std::exception& e) {
    fprintf(stderr, "store_bench: %s\n", e.what());
    return 1;
  }
}
