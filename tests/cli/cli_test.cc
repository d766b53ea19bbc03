// The command line as a user runs it: the real binary, real files.
#include <fstream>

#include <filesystem>
#include <chrono>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/test_util.h"

namespace sluice {
namespace {

using testing::run_sluice;
using testing::TempDir;

const std::string kExamples = sluice::testing::source_dir() + "/dags";

TEST(CliTest, HelpListsTheCommands) {
  TempDir dir;
  auto result = run_sluice({"--help"}, dir.path());
  EXPECT_EQ(result.exit_code, 0);
  for (const char* command : {"standalone", "scheduler", "worker", "trigger", "dags", "runs",
                              "tasks", "db"}) {
    EXPECT_NE(result.out.find(command), std::string::npos) << command;
  }
  auto none = run_sluice({}, dir.path());
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.out.find("standalone"), std::string::npos);
}

TEST(CliTest, UnknownCommandOrFlagIsBadInput) {
  TempDir dir;
  auto result = run_sluice({"dags", "lisst"}, dir.path());
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("lisst"), std::string::npos) << result.err;
}

TEST(CliTest, ExampleDagsValidate) {
  TempDir dir;
  auto result = run_sluice({"dags", "validate", kExamples}, dir.path());
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("no problems"), std::string::npos) << result.out;
}

TEST(CliTest, ValidateReportsEveryProblemWithPositionAndExitsOne) {
  TempDir dir;
  dir.write("dags/good.yaml", "dag: good\nschedule: null\ntasks:\n  - {id: a, type: shell, command: \"true\"}\n");
  dir.write("dags/bad.yaml",
            "dag: bad\nschedule: null\ntasks:\n  - id: a\n    type: shell\n    comand: \"true\"\n"
            "  - id: b\n    type: shell\n    command: x\n    depends_on: [zz]\n");
  auto result = run_sluice({"dags", "validate", dir.file("dags")}, dir.path());
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.out.find("bad.yaml:6:5:"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("did you mean 'command'"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("zz"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("1 DAG valid"), std::string::npos) << result.out;
}

TEST(CliTest, ASecretWrittenInADagFileIsWarnedAboutAndNeverShown) {
  TempDir dir;
  dir.write("dags/signed.yaml",
            "dag: signed\nschedule: null\nalerts:\n  webhook: http://127.0.0.1:9/hook\n"
            "  secret: DagYamlSecret64\ntasks:\n  - {id: a, type: shell, command: \"true\"}\n");
  dir.write("dags/templated.yaml",
            "dag: templated\nschedule: null\nalerts:\n  webhook: http://127.0.0.1:9/hook\n"
            "  secret: \"{{ env.HOOK_SECRET }}\"\ntasks:\n  - {id: a, type: shell, command: \"true\"}\n");
  // when the folder is validated, then the file with the key itself is warned about, at the key
  auto validated = run_sluice({"dags", "validate", dir.file("dags")}, dir.path());
  EXPECT_EQ(validated.exit_code, 0) << validated.out << validated.err;
  EXPECT_NE(validated.err.find("signed.yaml:5:11: alerts.secret holds the key itself"),
            std::string::npos)
      << validated.err;
  EXPECT_NE(validated.err.find("sluice.yaml"), std::string::npos) << validated.err;
  EXPECT_EQ(validated.err.find("templated.yaml"), std::string::npos) << validated.err;
  auto one_file = run_sluice({"dags", "validate", dir.file("dags/signed.yaml")}, dir.path());
  EXPECT_NE(one_file.err.find("alerts.secret holds the key itself"), std::string::npos)
      << one_file.err;
  // when the DAG is shown, then its key is masked
  auto shown = run_sluice({"dags", "show", "signed", "--json", "--dags", dir.file("dags")},
                          dir.path());
  EXPECT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_EQ(shown.out.find("DagYamlSecret64"), std::string::npos) << shown.out;
  EXPECT_EQ(nlohmann::json::parse(shown.out)["alerts"]["secret"], "***") << shown.out;
}

TEST(CliTest, AnUnreachableDatabaseIsNamedWithItsPasswordMasked) {
  TempDir dir;
  // given a password with a raw '@', which libpq would split at the first one
  auto result = run_sluice({"runs", "list", "--db", "postgresql://u:Post@Secret42@127.0.0.1:1/x"},
                           dir.path());
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("postgresql://u:***@127.0.0.1:1/x"), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find("Secret42"), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find("Post@"), std::string::npos) << result.err;
}

TEST(CliTest, ValidateWarnsWhenCatchupWouldMakeMoreThanAThousandRuns) {
  TempDir dir;
  dir.write("dags/flood.yaml",
            "dag: flood\nschedule: \"* * * * *\"\nstart_date: 1970-01-01\ncatchup: true\n"
            "tasks:\n  - {id: a, type: shell, command: \"true\"}\n");
  dir.write("dags/yearly.yaml",
            "dag: yearly\nschedule: \"@yearly\"\nstart_date: 1970-01-01\ncatchup: true\n"
            "tasks:\n  - {id: a, type: shell, command: \"true\"}\n");
  auto result = run_sluice({"dags", "validate", dir.file("dags")}, dir.path());
  // A warning, not a problem: the DAG is valid.
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("2 DAGs valid"), std::string::npos) << result.out;
  EXPECT_NE(result.err.find("warning: " + dir.file("dags/flood.yaml") + ":4:1: catchup: true "
                            "from start_date 1970-01-01 with schedule '* * * * *' has more than "
                            "1,000 runs to catch up"),
            std::string::npos)
      << result.err;
  EXPECT_EQ(result.err.find("yearly"), std::string::npos) << result.err;
}

TEST(CliTest, ListAndShowWorkWithoutADatabase) {
  TempDir dir;
  auto list = run_sluice({"dags", "list", "--dags", kExamples}, dir.path());
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("hello_shell"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("orders_elt"), std::string::npos) << list.out;
  auto json = run_sluice({"dags", "list", "--dags", kExamples, "--json"}, dir.path());
  auto parsed = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << json.out;
  EXPECT_GE(parsed["dags"].size(), 2u);

  auto show = run_sluice({"dags", "show", "hello_shell", "--dags", kExamples}, dir.path());
  EXPECT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("Next data intervals"), std::string::npos) << show.out;
  // No database file appears as a side effect of read-only commands.
  EXPECT_FALSE(std::ifstream(dir.file("sluice.db")).good());

  auto missing = run_sluice({"dags", "show", "hello_shel", "--dags", kExamples}, dir.path());
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("did you mean 'hello_shell'"), std::string::npos) << missing.err;
}

TEST(CliTest, CommandsRefuseAnUnmigratedDatabaseAndSayWhatToRun) {
  TempDir dir;
  auto result = run_sluice({"runs", "list", "--db", "sqlite://" + dir.file("new.db")}, dir.path());
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("sluice db migrate"), std::string::npos) << result.err;
  auto migrate = run_sluice({"db", "migrate", "--db", "sqlite://" + dir.file("new.db")}, dir.path());
  EXPECT_EQ(migrate.exit_code, 0) << migrate.err;
  auto again = run_sluice({"db", "migrate", "--db", "sqlite://" + dir.file("new.db")}, dir.path());
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_NE(again.out.find("already current"), std::string::npos) << again.out;
  auto status = run_sluice({"db", "status", "--db", "sqlite://" + dir.file("new.db")}, dir.path());
  EXPECT_EQ(status.exit_code, 0) << status.out;
}

TEST(CliTest, DagsTestRunsTheShellExampleInProcess) {
  TempDir dir;
  // dags test runs the whole DAG in-process on a scratch store.
  auto test = run_sluice({"dags", "test", "hello_shell", "--dags", kExamples}, dir.path());
  EXPECT_EQ(test.exit_code, 0) << test.out << test.err;
  EXPECT_NE(test.out.find("run success"), std::string::npos) << test.out;
}

TEST(CliTest, DagsTestExitsTwoWhenTheRunFails) {
  TempDir dir;
  dir.write("dags/fails.yaml",
            "dag: fails\nschedule: null\ntasks:\n  - {id: boom, type: shell, command: \"echo oops; exit 3\"}\n");
  auto test = run_sluice({"dags", "test", "fails", "--dags", dir.file("dags")}, dir.path());
  EXPECT_EQ(test.exit_code, 2) << test.out << test.err;
  EXPECT_NE(test.out.find("oops"), std::string::npos) << test.out;
  EXPECT_NE(test.out.find("exit code 3"), std::string::npos) << test.out;
}

TEST(CliTest, DagsTestRunsOnlyTheRunAskedForOfAPausedScheduledDag) {
  TempDir dir;
  dir.write("dags/daily.yaml",
            "dag: daily\nschedule: \"@daily\"\nstart_date: 2026-01-01\ncatchup: true\n"
            "paused: true\ntasks:\n"
            "  - {id: mark, type: shell, command: \"touch '" + dir.file("ran_") + "{{ ds }}'\"}\n");
  auto test = run_sluice({"dags", "test", "daily", "--date", "2026-02-03", "--dags",
                          dir.file("dags")},
                         dir.path());
  EXPECT_EQ(test.exit_code, 0) << test.out << test.err;
  EXPECT_EQ(test.err.find("created run"), std::string::npos) << test.err;
  std::vector<std::string> ran;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    std::string name = entry.path().filename().string();
    if (name.rfind("ran_", 0) == 0) ran.push_back(name);
  }
  EXPECT_EQ(ran, std::vector<std::string>{"ran_2026-02-03"});
}

TEST(CliTest, DagsTestEndsAsSoonAsAFailedRunEnds) {
  // The failure cascades down the chain in the failing task's own finish, so
  // the run ends at once (it used to wait for a scheduler pass, ~10 s).
  TempDir dir;
  dir.write("dags/fails.yaml",
            "dag: fails\nschedule: null\ntasks:\n"
            "  - {id: boom, type: shell, command: \"exit 1\"}\n"
            "  - {id: b, type: shell, command: \"true\", depends_on: [boom]}\n"
            "  - {id: c, type: shell, command: \"true\", depends_on: [b]}\n"
            "  - {id: d, type: shell, command: \"true\", depends_on: [c]}\n"
            "  - {id: side, type: shell, command: \"sleep 0.3\"}\n");
  auto begin = std::chrono::steady_clock::now();
  auto test = run_sluice({"dags", "test", "fails", "--dags", dir.file("dags")}, dir.path());
  EXPECT_EQ(test.exit_code, 2) << test.out << test.err;
  EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(6)) << test.out;
}

TEST(CliTest, TasksTestRunsOneTaskAndStoresNothing) {
  TempDir dir;
  dir.write("dags/one.yaml",
            "dag: one\nschedule: \"@daily\"\nstart_date: 2026-01-01\ntasks:\n"
            "  - {id: hi, type: shell, command: \"echo hello {{ ds }}\"}\n");
  auto result = run_sluice({"tasks", "test", "one", "hi", "--date", "2026-02-03", "--dags",
                            dir.file("dags")},
                           dir.path());
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("hello 2026-02-03"), std::string::npos) << result.out;
  EXPECT_FALSE(std::ifstream(dir.file("sluice.db")).good());
}

TEST(CliTest, DateMeansTheLocalDayOnDaysWithClockChanges) {
  TempDir dir;
  dir.write("dags/late.yaml",
            "dag: late\nschedule: \"30 23 * * *\"\ntimezone: Europe/Berlin\n"
            "start_date: 2026-01-01\ntasks:\n"
            "  - {id: hi, type: shell, command: \"echo start {{ ts }}\"}\n");
  dir.write("dags/monday.yaml",
            "dag: monday\nschedule: \"30 0 * * 1\"\ntimezone: Europe/Berlin\n"
            "start_date: 2026-01-01\ntasks:\n"
            "  - {id: hi, type: shell, command: \"echo start {{ ts }}\"}\n");
  // 2026-10-25 lasts 25 hours in Berlin; its 23:30 is in the last of them.
  auto long_day = run_sluice(
      {"tasks", "test", "late", "hi", "--date", "2026-10-25", "--dags", dir.file("dags")},
      dir.path());
  EXPECT_EQ(long_day.exit_code, 0) << long_day.err;
  EXPECT_NE(long_day.out.find("start 2026-10-25T23:30:00+01:00"), std::string::npos)
      << long_day.out;
  // 2026-03-29, a Sunday, lasts 23 hours: Monday 00:30 is not on it.
  auto short_day = run_sluice(
      {"tasks", "test", "monday", "hi", "--date", "2026-03-29", "--dags", dir.file("dags")},
      dir.path());
  EXPECT_EQ(short_day.exit_code, 1) << short_day.out;
  EXPECT_NE(short_day.err.find("starts on 2026-03-29"), std::string::npos) << short_day.err;
}

TEST(CliTest, TasksWatermarkShowsSetsAndResetsAnIncrementalExtractsMark) {
  TempDir dir;
  dir.write("dags/inc.yaml",
            "dag: inc\nschedule: null\ntasks:\n  - id: orders\n    type: extract\n"
            "    source: {query: {conn: src, sql: \"SELECT * FROM orders\"}}\n"
            "    incremental: {column: id}\n"
            "    target: {conn: wh, table: orders, mode: upsert, key: [id]}\n"
            "  - {id: other, type: shell, command: \"true\"}\n");
  std::string db = "sqlite://" + dir.file("sluice.db");
  ASSERT_EQ(run_sluice({"db", "migrate", "--db", db}, dir.path()).exit_code, 0);
  auto sluice = [&](std::vector<std::string> args) {
    args.insert(args.end(), {"--db", db, "--dags", dir.file("dags")});
    return run_sluice(args, dir.path());
  };
  auto none = sluice({"tasks", "watermark", "inc", "orders"});
  EXPECT_EQ(none.exit_code, 0) << none.out << none.err;
  EXPECT_NE(none.out.find("inc.orders: no high-water mark of id (the next run reads every row)"),
            std::string::npos)
      << none.out;

  auto set = sluice({"tasks", "watermark", "inc", "orders", "--set", "42"});
  EXPECT_EQ(set.exit_code, 0) << set.out << set.err;
  EXPECT_NE(set.out.find("inc.orders: id = 42 (number, set by hand at "), std::string::npos)
      << set.out;
  auto json = sluice({"tasks", "watermark", "inc", "orders", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  nlohmann::json j = nlohmann::json::parse(json.out);
  EXPECT_EQ(j["value"], "42");
  EXPECT_EQ(j["kind"], "number");

  auto reset = sluice({"tasks", "watermark", "inc", "orders", "--reset"});
  EXPECT_EQ(reset.exit_code, 0) << reset.err;
  EXPECT_NE(reset.out.find("removed the mark"), std::string::npos) << reset.out;
  EXPECT_EQ(nlohmann::json::parse(sluice({"tasks", "watermark", "inc", "orders", "--json"}).out)
                ["value"],
            nullptr);

  auto both = sluice({"tasks", "watermark", "inc", "orders", "--set", "1", "--reset"});
  EXPECT_NE(both.exit_code, 0);
  auto other = sluice({"tasks", "watermark", "inc", "other"});
  EXPECT_NE(other.exit_code, 0);
  EXPECT_NE(other.err.find("task 'other' of inc is not an extract with incremental:"),
            std::string::npos)
      << other.err;
  auto typo = sluice({"tasks", "watermark", "inc", "order"});
  EXPECT_NE(typo.err.find("did you mean 'orders'?"), std::string::npos) << typo.err;
}

}  // namespace
}  // namespace sluice
