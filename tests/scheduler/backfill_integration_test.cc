// Backfills end to end with the real binary on SQLite: `sluice scheduler` and
// `sluice worker` as separate processes, shell tasks that record each
// execution in a file (one line per interval and task), and a marker file per
// day that makes that day's task fail.
#include <signal.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/store.h"
#include "tests/core/store_test_util.h"
#include "tests/test_util.h"

namespace sluice {
namespace {

using testing::Process;
using testing::TempDir;
using namespace std::chrono_literals;

class BackfillIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = testing::make_test_store("sqlite");
    url_ = testing::last_test_store_url("sqlite");
    dir_.write("sluice.yaml",
               "db: \"" + url_ + "\"\n"
               "dags: dags\n"
               "worker:\n  heartbeat_interval: 200ms\n  heartbeat_timeout: 5s\n"
               "scheduler:\n  dag_scan_interval: 200ms\n");
  }

  /// A paused daily DAG (backfills run regardless) whose task appends
  /// "DS" to executions.txt, sleeps `sleep`, and fails when fail_DS exists.
  void write_dag(const std::string& sleep = "0") {
    dir_.write("dags/daily.yaml",
               "dag: daily\n"
               "schedule: \"@daily\"\n"
               "start_date: 2026-01-01\n"
               "paused: true\n"
               "tasks:\n"
               "  - id: work\n"
               "    type: shell\n"
               "    command: \"echo {{ ds }} >> " + dir_.file("executions.txt") +
                   " && sleep " + sleep + " && test ! -e " + dir_.file("fail_{{ ds }}") + "\"\n");
  }

  void start_processes() {
    scheduler_ = start({"scheduler"}, "scheduler.log");
    worker_ = start({"worker", "--slots", "8"}, "worker.log");
  }

  std::unique_ptr<Process> start(const std::vector<std::string>& args, const std::string& log) {
    return std::make_unique<Process>(testing::sluice_argv(args), dir_.path(), dir_.file(log),
                                     std::map<std::string, std::string>{{"TMPDIR", dir_.path()}});
  }

  testing::CommandOutput sluice(const std::vector<std::string>& args) {
    return testing::run_sluice(args, dir_.path());
  }

  /// How often each ds ran.
  std::map<std::string, int> executions() {
    std::map<std::string, int> out;
    std::istringstream in(testing::read_file(dir_.file("executions.txt")));
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) ++out[line];
    }
    return out;
  }

  int total_executions() {
    int n = 0;
    for (const auto& [ds, count] : executions()) n += count;
    return n;
  }

  std::vector<RunRecord> runs() {
    RunFilter filter;
    filter.dag_id = "daily";
    filter.limit = 1000;
    return store_->list_runs(filter);
  }

  nlohmann::json json_of(const testing::CommandOutput& r) {
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.out << r.err;
    return j;
  }

  std::string logs() {
    return testing::read_file(dir_.file("scheduler.log")) +
           testing::read_file(dir_.file("worker.log"));
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
  std::string url_;
  std::unique_ptr<Process> scheduler_;
  std::unique_ptr<Process> worker_;
};

TEST_F(BackfillIntegrationTest, ThirtyOneDaysRunOnceAndAgainCreateNothing) {
  write_dag();
  start_processes();
  auto first = sluice({"backfill", "daily", "--from", "2026-01-01", "--to", "2026-01-31",
                       "--max-active-runs", "8", "--wait"});
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err << logs();
  EXPECT_NE(first.out.find("31 runs to create"), std::string::npos) << first.out;
  EXPECT_NE(first.out.find("31/31 done, 0 failed"), std::string::npos) << first.out;
  EXPECT_NE(first.out.find("backfill 1 success: 31 succeeded"), std::string::npos) << first.out;

  auto all = runs();
  ASSERT_EQ(all.size(), 31u);
  for (const RunRecord& r : all) {
    EXPECT_EQ(r.state, RunState::kSuccess) << r.run_id;
    EXPECT_EQ(r.type, RunType::kBackfill);
  }
  EXPECT_EQ(all.back().run_id, "backfill__2026-01-01T00:00:00Z");
  auto counts = executions();
  EXPECT_EQ(counts.size(), 31u);
  for (const auto& [ds, n] : counts) EXPECT_EQ(n, 1) << ds;

  auto again = sluice({"backfill", "daily", "--from", "2026-01-01", "--to", "2026-01-31",
                       "--wait"});
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_NE(again.out.find("0 runs to create, 0 to re-run, 31 intervals skipped"),
            std::string::npos)
      << again.out;
  EXPECT_EQ(runs().size(), 31u);
  EXPECT_EQ(total_executions(), 31);

  // list and show, as text and JSON.
  auto list = sluice({"backfill", "list", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  auto listed = json_of(list);
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[1]["state"], "success");
  EXPECT_EQ(listed[1]["succeeded_runs"], 31);
  auto show = sluice({"backfill", "show", "1"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("31/31 done"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("backfill__2026-01-31T00:00:00Z  success"), std::string::npos)
      << show.out;
  EXPECT_EQ(sluice({"backfill", "show", "7"}).exit_code, 1);
  EXPECT_EQ(sluice({"backfill"}).exit_code, 1);
  auto no_range = sluice({"backfill", "daily", "--from", "2026-01-01"});
  EXPECT_EQ(no_range.exit_code, 1);
  EXPECT_NE(no_range.err.find("needs --from and --to"), std::string::npos) << no_range.err;
}

TEST_F(BackfillIntegrationTest, ReprocessFailedRerunsExactlyTheFailedIntervalsAsDryRunSaid) {
  write_dag();
  for (const char* ds : {"2026-02-03", "2026-02-05", "2026-02-08"}) {
    dir_.write(std::string("fail_") + ds, "");
  }
  start_processes();
  auto first = sluice({"backfill", "daily", "--from", "2026-02-01", "--to", "2026-02-10",
                       "--max-active-runs", "4", "--wait"});
  ASSERT_EQ(first.exit_code, 2) << first.out << first.err << logs();
  EXPECT_NE(first.out.find("7 succeeded, 3 failed"), std::string::npos) << first.out;

  for (const char* ds : {"2026-02-03", "2026-02-05", "2026-02-08"}) {
    std::remove(dir_.file(std::string("fail_") + ds).c_str());
  }
  auto dry = sluice({"backfill", "daily", "--from", "2026-02-01", "--to", "2026-02-10",
                     "--reprocess", "failed", "--dry-run", "--json"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  std::set<std::string> planned;
  nlohmann::json preview = json_of(dry);
  for (const auto& i : preview["intervals"]) {
    if (i["action"] != "skip") {
      EXPECT_EQ(i["action"], "rerun");
      EXPECT_EQ(i["reason"], "failed");
      planned.insert(i["data_interval_start"].get<std::string>());
    }
  }
  EXPECT_EQ(planned, (std::set<std::string>{"2026-02-03T00:00:00Z", "2026-02-05T00:00:00Z",
                                            "2026-02-08T00:00:00Z"}));
  auto dry_text = sluice({"backfill", "daily", "--from", "2026-02-01", "--to", "2026-02-10",
                          "--reprocess", "failed", "--dry-run"});
  EXPECT_NE(dry_text.out.find("rerun   2026-02-03T00:00:00Z  failed     "
                              "backfill__2026-02-03T00:00:00Z"),
            std::string::npos)
      << dry_text.out;
  EXPECT_NE(dry_text.out.find("would create 0 runs, re-run 3, skip 7; nothing changed"),
            std::string::npos)
      << dry_text.out;
  EXPECT_EQ(store_->list_backfills("", false, 10).size(), 1u) << "dry run changed nothing";

  auto second = sluice({"backfill", "daily", "--from", "2026-02-01", "--to", "2026-02-10",
                        "--reprocess", "failed", "--wait"});
  ASSERT_EQ(second.exit_code, 0) << second.out << second.err << logs();
  // What ran is what the dry run said: the three failed days, once more each.
  auto show = json_of(sluice({"backfill", "show", "2", "--json"}));
  std::set<std::string> ran;
  for (const auto& i : show["intervals"]) {
    if (!i["run_id"].is_null()) ran.insert(i["data_interval_start"].get<std::string>());
  }
  EXPECT_EQ(ran, planned);
  auto counts = executions();
  for (const auto& [ds, n] : counts) {
    bool failed_before = ds == "2026-02-03" || ds == "2026-02-05" || ds == "2026-02-08";
    EXPECT_EQ(n, failed_before ? 2 : 1) << ds;
  }
  EXPECT_EQ(runs().size(), 10u) << "cleared in place";
  for (const RunRecord& r : runs()) EXPECT_EQ(r.state, RunState::kSuccess) << r.run_id;
}

TEST_F(BackfillIntegrationTest, CancelStopsTheBackfillAndKeepsFinishedRuns) {
  write_dag("0.3");
  start_processes();
  auto created = sluice({"backfill", "daily", "--from", "2026-03-01", "--to", "2026-03-31",
                         "--max-active-runs", "2"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  ASSERT_TRUE(testing::wait_until([&] { return total_executions() >= 3; }, 20s)) << logs();
  auto cancel = sluice({"backfill", "cancel", "1"});
  ASSERT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_NE(cancel.out.find("backfill 1 canceled"), std::string::npos) << cancel.out;
  size_t at_cancel = runs().size();
  ASSERT_TRUE(testing::wait_until(
      [&] {
        for (const RunRecord& r : runs()) {
          if (!is_finished(r.state)) return false;
        }
        return true;
      },
      10s));
  EXPECT_EQ(runs().size(), at_cancel) << "no interval starts after cancel";
  EXPECT_LT(runs().size(), 31u);
  auto b = store_->get_backfill(1);
  EXPECT_EQ(b->state, "canceled");
  auto again = sluice({"backfill", "cancel", "1"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("already ended (canceled)"), std::string::npos) << again.err;
}

TEST_F(BackfillIntegrationTest, KilledSchedulerResumesWithNoIntervalRunTwice) {
  write_dag("0.2");
  start_processes();
  auto created = sluice({"backfill", "daily", "--from", "2026-04-01", "--to", "2026-04-20",
                         "--max-active-runs", "3"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  ASSERT_TRUE(testing::wait_until([&] { return total_executions() >= 5; }, 20s)) << logs();
  scheduler_->kill(SIGKILL);
  scheduler_->wait(5s);
  scheduler_ = start({"scheduler"}, "scheduler2.log");
  ASSERT_TRUE(testing::wait_until(
      [&] {
        auto b = store_->get_backfill(1);
        return b && b->state != "running";
      },
      25s))
      << logs() << testing::read_file(dir_.file("scheduler2.log"));
  EXPECT_EQ(store_->get_backfill(1)->state, "success");
  EXPECT_NE(testing::read_file(dir_.file("scheduler2.log")).find("backfill 1: create"),
            std::string::npos)
      << "the restarted scheduler carried on";
  EXPECT_EQ(runs().size(), 20u);
  auto counts = executions();
  EXPECT_EQ(counts.size(), 20u);
  for (const auto& [ds, n] : counts) EXPECT_EQ(n, 1) << ds << " ran twice";
}

}  // namespace
}  // namespace sluice
