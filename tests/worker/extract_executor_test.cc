#include "worker/extract_executor.h"

#include <httplib.h>

#include <condition_variable>
#include <thread>

#include <gtest/gtest.h>

#include "tests/core/store_test_util.h"
#include "tests/worker/elt_test_util.h"

namespace sluice {
namespace {

using testing_elt::Harness;
using testing_elt::TempDir;

using Rows = std::vector<std::vector<std::string>>;

/// Runs every test on a SQLite file and on the test Postgres.
class ExtractTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres") {
      url_ = testing_elt::pg_url();
      if (url_.empty()) FAIL() << "no Postgres to test against";
    } else {
      url_ = "sqlite://" + dir_.path() + "/wh.db";
    }
    prefix_ = testing_elt::unique_prefix();
  }

  std::string table(const std::string& name) const { return prefix_ + name; }

  /// A harness with connection `wh` and an extract task loading `csv`.
  std::unique_ptr<Harness> csv_task(const std::string& csv, ExtractTarget target,
                                    const std::string& on_bad_row = "fail") {
    auto h = std::make_unique<Harness>();
    h->add_connection("wh", url_);
    h->task.type = "extract";
    ExtractTask extract;
    extract.source = CsvSource{dir_.file(prefix_ + "in.csv", csv), ',', true};
    target.conn = "wh";
    extract.target = target;
    extract.on_bad_row = on_bad_row;
    h->task.spec = extract;
    return h;
  }

  TaskOutcome load(const std::string& csv, const ExtractTarget& target,
                   const std::string& on_bad_row = "fail", std::string* log = nullptr) {
    auto h = csv_task(csv, target, on_bad_row);
    ExtractExecutor executor;
    TaskOutcome outcome = h->run_with(executor);
    if (log) *log = h->log.text();
    return outcome;
  }

  /// The rows of `sql`, NULL as "NULL".
  Rows query(const std::string& sql) {
    auto wh = Warehouse::open(Connection::parse("wh", url_));
    Rows out;
    for (const SqlRow& row : wh->query(sql)) {
      std::vector<std::string> r;
      for (const SqlValue& v : row) r.push_back(v.value_or("NULL"));
      out.push_back(r);
    }
    return out;
  }
  void exec(const std::string& sql) { Warehouse::open(Connection::parse("wh", url_))->execute(sql); }

  static ExtractTarget target(const std::string& table, const std::string& mode) {
    ExtractTarget t;
    t.table = table;
    t.mode = mode;
    return t;
  }

  TempDir dir_;
  std::string url_;
  std::string prefix_;
};

TEST_P(ExtractTest, AppendCreatesTextTableFromHeaderAndFailedLoadLeavesNothing) {
  std::string t = table("orders");
  TaskOutcome ok = load("id,name\n1,a\n2,\"b, c\"\n", target(t, "append"));
  ASSERT_EQ(ok.status, TaskOutcome::Status::kSuccess) << ok.error;
  EXPECT_EQ(ok.outputs["rows"], 2);
  EXPECT_FALSE(ok.outputs.contains("rejected"));

  // A malformed row on line 3 fails the whole load: nothing of it stays.
  TaskOutcome bad = load("id,name\n3,x\n\"4\"z,y\n", target(t, "append"));
  EXPECT_EQ(bad.status, TaskOutcome::Status::kFailed);
  EXPECT_NE(bad.error.find("in.csv line 3"), std::string::npos) << bad.error;
  EXPECT_EQ(query("SELECT id, name FROM \"" + t + "\" ORDER BY id"),
            (Rows{{"1", "a"}, {"2", "b, c"}}));
}

TEST_P(ExtractTest, AppendWithRunIdColumnReplacesRowsOfTheSameRun) {
  std::string t = table("events");
  exec("CREATE TABLE \"" + t + "\" (id TEXT, _run_id TEXT, _loaded_at TEXT)");
  for (int i = 0; i < 2; ++i) {
    TaskOutcome o = load("id\n1\n2\n", target(t, "append"));
    ASSERT_EQ(o.status, TaskOutcome::Status::kSuccess) << o.error;
  }
  Rows rows = query("SELECT id, _run_id, _loaded_at FROM \"" + t + "\" ORDER BY id");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0][1], "scheduled__2026-01-01T00:00:00Z");
  EXPECT_NE(rows[0][2], "NULL");
}

TEST_P(ExtractTest, ReplaceLeavesExactlyTheLastLoad) {
  std::string t = table("dim");
  ASSERT_EQ(load("id,v\n1,a\n2,b\n3,c\n", target(t, "replace")).status, TaskOutcome::Status::kSuccess);
  ASSERT_EQ(load("id,v\n1,a\n2,b\n3,c\n", target(t, "replace")).status, TaskOutcome::Status::kSuccess);
  EXPECT_EQ(query("SELECT count(*) FROM \"" + t + "\""), (Rows{{"3"}}));
  ASSERT_EQ(load("id,v\n9,z\n", target(t, "replace")).status, TaskOutcome::Status::kSuccess);
  EXPECT_EQ(query("SELECT id, v FROM \"" + t + "\""), (Rows{{"9", "z"}}));
}

TEST_P(ExtractTest, ReplacePartitionTouchesOnlyItsPartition) {
  std::string t = table("daily");
  auto part = [&](const std::string& day) {
    ExtractTarget target = ExtractTest::target(t, "replace_partition");
    target.partition_column = "load_date";
    target.partition_value = day;
    return target;
  };
  ASSERT_EQ(load("id\n1\n2\n3\n", part("2026-01-01")).status, TaskOutcome::Status::kSuccess);
  ASSERT_EQ(load("id\n4\n5\n", part("2026-01-02")).status, TaskOutcome::Status::kSuccess);
  // Rerunning day 1 (twice, with other data) replaces only day 1.
  ASSERT_EQ(load("id\n7\n", part("2026-01-01")).status, TaskOutcome::Status::kSuccess);
  TaskOutcome again = load("id\n7\n", part("2026-01-01"));
  ASSERT_EQ(again.status, TaskOutcome::Status::kSuccess) << again.error;
  EXPECT_EQ(query("SELECT load_date, id FROM \"" + t + "\" ORDER BY load_date, id"),
            (Rows{{"2026-01-01", "7"}, {"2026-01-02", "4"}, {"2026-01-02", "5"}}));
}

TEST_P(ExtractTest, UpsertUpdatesByKeyAndTheLastDuplicateWins) {
  std::string t = table("customers");
  ExtractTarget up = target(t, "upsert");
  up.key = {"id"};
  ASSERT_EQ(load("id,name\n1,a\n2,b\n", up).status, TaskOutcome::Status::kSuccess);
  for (int i = 0; i < 2; ++i) {
    TaskOutcome o = load("id,name\n2,B\n3,c\n3,C\n", up);
    ASSERT_EQ(o.status, TaskOutcome::Status::kSuccess) << o.error;
    EXPECT_EQ(o.outputs["rows"], 3);
  }
  EXPECT_EQ(query("SELECT id, name FROM \"" + t + "\" ORDER BY id"),
            (Rows{{"1", "a"}, {"2", "B"}, {"3", "C"}}));
}

TEST_P(ExtractTest, TypedColumnsRejectBadValuesIntoDeadLetterTable) {
  std::string t = table("typed");
  ExtractTarget typed = target(t, "replace_partition");
  typed.partition_column = "load_date";
  typed.partition_value = "2026-01-01";
  typed.columns = {{"order_id", "bigint"}, {"amount", "numeric(12,2)"}, {"status", "text"}};
  std::string csv = "order_id,amount,status\n1,9.50,paid\nabc,1,new\n3,2.25,\"unclosed\n";
  for (int i = 0; i < 2; ++i) {
    std::string log;
    TaskOutcome o = load(csv, typed, "reject", &log);
    ASSERT_EQ(o.status, TaskOutcome::Status::kSuccess) << o.error;
    EXPECT_EQ(o.outputs["rows"], 1);
    EXPECT_EQ(o.outputs["rejected"], 2);
    EXPECT_NE(log.find("line 3: column order_id: 'abc' is not a bigint"), std::string::npos) << log;
  }
  EXPECT_EQ(query("SELECT order_id, amount, status, load_date FROM \"" + t + "\""),
            (Rows{{"1", GetParam() == "postgres" ? "9.50" : "9.5", "paid", "2026-01-01"}}));
  // Rerun twice: still one set of rejects.
  EXPECT_EQ(query("SELECT line_number, raw_line, load_date FROM \"" + t +
                  "_rejected\" ORDER BY line_number"),
            (Rows{{"3", "abc,1,new", "2026-01-01"}, {"4", "3,2.25,\"unclosed\n", "2026-01-01"}}));
  Rows reason = query("SELECT reason FROM \"" + t + "_rejected\" WHERE line_number = 4");
  EXPECT_NE(reason.at(0).at(0).find("never closed"), std::string::npos);
}

TEST_P(ExtractTest, SkipCountsAndLogsBadRows) {
  std::string t = table("skipped");
  std::string log;
  TaskOutcome o = load("a,b\n1,2\n3\n4,5\n", target(t, "append"), "skip", &log);
  ASSERT_EQ(o.status, TaskOutcome::Status::kSuccess) << o.error;
  EXPECT_EQ(o.outputs["rows"], 2);
  EXPECT_EQ(o.outputs["skipped"], 1);
  EXPECT_NE(log.find("line 3: expected 2 fields, found 1"), std::string::npos) << log;
}

TEST_P(ExtractTest, CsvWithoutHeaderUsesDeclaredColumnsAndDelimiter) {
  std::string t = table("noheader");
  auto h = csv_task("1;x\n2;\"y;z\"\n", target(t, "append"));
  auto& extract = std::get<ExtractTask>(h->task.spec);
  std::get<CsvSource>(extract.source).delimiter = ';';
  std::get<CsvSource>(extract.source).header = false;
  extract.target.columns = {{"id", "integer"}, {"label", "text"}};
  ExtractExecutor executor;
  TaskOutcome o = h->run_with(executor);
  ASSERT_EQ(o.status, TaskOutcome::Status::kSuccess) << o.error;
  EXPECT_EQ(query("SELECT id, label FROM \"" + t + "\" ORDER BY id"),
            (Rows{{"1", "x"}, {"2", "y;z"}}));
}

TEST_P(ExtractTest, QuerySourceStreamsInBatches) {
  std::string src = table("src");
  std::string dst = table("dst");
  exec("CREATE TABLE \"" + src + "\" (id INTEGER, name TEXT)");
  exec("INSERT INTO \"" + src + "\" VALUES (1, 'a'), (2, NULL), (3, 'c'), (4, 'd'), (5, 'e')");
  Harness h;
  h.add_connection("wh", url_);
  h.add_connection("src", url_);
  ExtractTask extract;
  extract.source = QuerySource{"src", "SELECT id, name FROM \"" + src + "\" WHERE id > {{ params.min }};"};
  extract.target = target(dst, "replace");
  extract.target.conn = "wh";
  h.task.spec = extract;
  h.context["params"] = {{"min", 1}};
  ExtractExecutor::Options options;
  options.batch_rows = 2;  // several FETCHes
  ExtractExecutor executor(options);
  TaskOutcome o = h.run_with(executor);
  ASSERT_EQ(o.status, TaskOutcome::Status::kSuccess) << o.error;
  EXPECT_EQ(o.outputs["rows"], 4);
  EXPECT_EQ(query("SELECT id, name FROM \"" + dst + "\" ORDER BY 1"),
            (Rows{{"2", "NULL"}, {"3", "c"}, {"4", "d"}, {"5", "e"}}));
}


// ---- Typed loads -------------------------------------------------------------

TEST_P(ExtractTest, InfersColumnTypesFromEveryValueOfTheFileAndLogsThem) {
  std::string t = table("inferred");
  // Each column's first values suggest a narrower type than its last one.
  std::string csv =
      "id,cents,price,paid,day,at,code,late_numeric,late_timestamp,late_text,empty\n"
      "1,1000,9.50,true,2026-01-01,2026-01-01 10:00:00,007,1,2026-01-01,1,\n"
      "2,,,false,,,012,2,2026-01-02,2,\n"
      "3,250,0.5,TRUE,2026-01-03,2026-01-03T11:30:00,100,2.5,2026-01-03 04:05:06,yes,\"\"\n";
  std::string log;
  TaskOutcome o = load(csv, target(t, "append"), "fail", &log);
  ASSERT_EQ(o.status, TaskOutcome::Status::kSuccess) << o.error << log;
  EXPECT_NE(log.find("inferred column types: id integer, cents integer, price numeric, "
                     "paid boolean, day date, at timestamp, code text, late_numeric numeric, "
                     "late_timestamp timestamp, late_text text, empty text"),
            std::string::npos)
      << log;
  // Integer cents divide as numbers; empty cells of typed columns are NULL.
  EXPECT_EQ(query("SELECT id, cents / 100, code FROM \"" + t + "\" ORDER BY id"),
            (Rows{{"1", "10", "007"}, {"2", "NULL", "012"}, {"3", "2", "100"}}));
  EXPECT_EQ(query("SELECT count(*) FROM \"" + t + "\" WHERE paid"), (Rows{{"2"}}));
  EXPECT_EQ(query("SELECT count(*) FROM \"" + t + "\" WHERE day IS NULL"), (Rows{{"1"}}));
  EXPECT_EQ(query("SELECT count(*) FROM \"" + t + "\" WHERE price > 1"), (Rows{{"1"}}));
  EXPECT_EQ(query("SELECT count(*) FROM \"" + t + "\" WHERE late_numeric > 2"), (Rows{{"1"}}));
  if (GetParam() == "postgres") {
    Rows types = query(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = '" + t +
        "' ORDER BY ordinal_position");
    EXPECT_EQ(types, (Rows{{"id", "integer"},
                           {"cents", "integer"},
                           {"price", "numeric"},
                           {"paid", "boolean"},
                           {"day", "date"},
                           {"at", "timestamp without time zone"},
                           {"code", "text"},
                           {"late_numeric", "numeric"},
                           {"late_timestamp", "timestamp without time zone"},
                           {"late_text", "text"},
                           {"empty", "text"}}));
  } else {
    EXPECT_EQ(query("SELECT typeof(id), typeof(cents), typeof(paid) FROM \"" + t +
                    "\" WHERE id = 1"),
              (Rows{{"integer", "integer", "integer"}}));
  }
}

TEST_P(ExtractTest, JaffleShopSeedsLoadWithSensibleTypes) {
  // The first rows of dbt's jaffle_shop seeds, loaded without `columns:`.
  struct Seed {
    std::string name, csv;
  };
  std::vector<Seed> seeds = {
      {"raw_customers", "id,first_name,last_name\n1,Michael,P.\n2,Shawn,M.\n3,Kathleen,P.\n"},
      {"raw_orders",
       "id,user_id,order_date,status\n1,1,2018-01-01,returned\n2,3,2018-01-02,completed\n"
       "3,94,2018-01-04,completed\n4,50,2018-01-05,completed\n"},
      {"raw_payments",
       "id,order_id,payment_method,amount\n1,1,credit_card,1000\n2,2,credit_card,2000\n"
       "3,3,coupon,100\n4,4,coupon,2500\n"}};
  for (const Seed& seed : seeds) {
    std::string log;
    TaskOutcome o = load(seed.csv, target(table(seed.name), "replace"), "fail", &log);
    ASSERT_EQ(o.status, TaskOutcome::Status::kSuccess) << seed.name << ": " << o.error;
  }
  EXPECT_EQ(query("SELECT sum(amount / 100) FROM \"" + table("raw_payments") + "\""),
            (Rows{{"56"}}));
  EXPECT_EQ(query("SELECT count(*) FROM \"" + table("raw_orders") + "\" o JOIN \"" +
                  table("raw_customers") + "\" c ON c.id = o.user_id WHERE o.order_date < '2018-01-03'"),
            (Rows{{"2"}}));
}

TEST_P(ExtractTest, ColumnsOverridesTheInferredTypeOfOneColumn) {
  std::string t = table("override");
  ExtractTarget with = target(t, "append");
  with.columns = {{"amount", "numeric"}};
  std::string log;
  TaskOutcome o = load("id,amount\n1,1000\n2,250\n", with, "fail", &log);
  ASSERT_EQ(o.status, TaskOutcome::Status::kSuccess) << o.error;
  EXPECT_NE(log.find("inferred column types: id integer\n"), std::string::npos) << log;
  EXPECT_NE(log.find("created table " + t + " (id INTEGER, amount numeric)"), std::string::npos)
      << log;
  EXPECT_EQ(query("SELECT id, amount FROM \"" + t + "\" WHERE id = 2"), (Rows{{"2", "250"}}));
}

TEST_P(ExtractTest, AnExistingTextTableTakesInferredValues) {
  std::string t = table("text_table");
  exec("CREATE TABLE \"" + t + "\" (id TEXT, at TEXT)");
  TaskOutcome o = load("id,at\n1,2026-01-01 00:00:00\n", target(t, "append"));
  ASSERT_EQ(o.status, TaskOutcome::Status::kSuccess) << o.error;
  EXPECT_EQ(query("SELECT id, at FROM \"" + t + "\""), (Rows{{"1", "2026-01-01 00:00:00"}}));
}

TEST_P(ExtractTest, SchemaChangesFailByDefaultNamingTheColumnAndBothTypes) {
  std::string t = table("evolving");
  ASSERT_EQ(load("id,name\n1,a\n", target(t, "append")).status, TaskOutcome::Status::kSuccess);

  TaskOutcome added = load("id,name,amount\n2,b,10\n", target(t, "append"));
  EXPECT_EQ(added.status, TaskOutcome::Status::kFailed);
  EXPECT_NE(added.error.find("source field 'amount' (integer) is not a column of table " + t),
            std::string::npos)
      << added.error;
  EXPECT_NE(added.error.find("on_schema_change: add_columns"), std::string::npos) << added.error;

  TaskOutcome changed = load("id,name\nx2,b\n", target(t, "append"));
  EXPECT_EQ(changed.status, TaskOutcome::Status::kFailed);
  EXPECT_NE(changed.error.find("column id of table " + t + " is " +
                               (GetParam() == "postgres" ? "integer" : "INTEGER") +
                               ", but the source's is text (inferred from "),
            std::string::npos)
      << changed.error;
  EXPECT_EQ(query("SELECT count(*) FROM \"" + t + "\""), (Rows{{"1"}}));
}

TEST_P(ExtractTest, OnSchemaChangeAddColumnsAndIgnore) {
  std::string t = table("evolve");
  ASSERT_EQ(load("id,name\n1,a\n", target(t, "append")).status, TaskOutcome::Status::kSuccess);
  auto run = [&](const std::string& csv, const std::string& on_schema_change, std::string* log) {
    auto h = csv_task(csv, target(t, "append"));
    std::get<ExtractTask>(h->task.spec).on_schema_change = on_schema_change;
    ExtractExecutor executor;
    TaskOutcome o = h->run_with(executor);
    *log = h->log.text();
    return o;
  };
  std::string log;
  TaskOutcome added = run("id,name,amount\n2,b,10\n", "add_columns", &log);
  ASSERT_EQ(added.status, TaskOutcome::Status::kSuccess) << added.error;
  EXPECT_NE(log.find("added column amount INTEGER to " + t), std::string::npos) << log;
  EXPECT_EQ(query("SELECT id, name, amount * 2 FROM \"" + t + "\" ORDER BY id"),
            (Rows{{"1", "a", "NULL"}, {"2", "b", "20"}}));

  // A changed type is not a column to add: still an error.
  TaskOutcome changed = run("id,name,amount\n3,c,1.5\n", "add_columns", &log);
  EXPECT_EQ(changed.status, TaskOutcome::Status::kFailed);
  EXPECT_NE(changed.error.find("column amount of table " + t), std::string::npos) << changed.error;

  TaskOutcome ignored = run("id,extra\n4,z\n", "ignore", &log);
  ASSERT_EQ(ignored.status, TaskOutcome::Status::kSuccess) << ignored.error;
  EXPECT_NE(log.find("source field extra is not a column of " + t + "; not loaded"),
            std::string::npos)
      << log;
  EXPECT_EQ(query("SELECT id, name FROM \"" + t + "\" WHERE id = 4"), (Rows{{"4", "NULL"}}));
}

INSTANTIATE_TEST_SUITE_P(Targets, ExtractTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });


// ---- Incremental extracts ----------------------------------------------------

/// An incremental extract from a growing upstream table, its marks kept in a
/// store of the same backend; each run goes as a worker's try does: claimed,
/// executed, reported (and the mark stored with the report).
class IncrementalExtractTest : public ExtractTest {
 protected:
  void SetUp() override {
    ExtractTest::SetUp();
    store_ = testing::make_test_store(GetParam());
    store_->upsert_dag("d", "dags/d.yaml", "hash", "dag: d", nlohmann::json{{"dag", "d"}}, false,
                       16, from_epoch_ms(0));
    src_ = table("src");
    dst_ = table("dst");
    exec("CREATE TABLE \"" + src_ + "\" (id INTEGER PRIMARY KEY, name TEXT, updated_at " +
         (GetParam() == "postgres" ? "TIMESTAMPTZ" : "TEXT") + ")");
  }

  ExtractTask task(const std::string& sql, const std::string& lookback = "") {
    ExtractTask extract;
    extract.source = QuerySource{"wh", sql};
    extract.target = target(dst_, "upsert");
    extract.target.conn = "wh";
    extract.target.key = {"id"};
    extract.incremental = IncrementalSpec{"updated_at", lookback};
    return extract;
  }

  /// One try in a new run. `cancel`: asked to stop before it loads a row;
  /// `report`: false when the worker dies after the load's commit, before it
  /// reports the try.
  TaskOutcome run_try(const ExtractTask& extract, bool cancel = false, bool report = true,
                      std::string* log = nullptr) {
    NewRun run;
    run.dag_id = "d";
    run.run_id = "manual__" + std::to_string(++runs_);
    run.version_id = 1;
    run.interval = DataInterval{from_epoch_ms(0), from_epoch_ms(0)};
    run.tasks.push_back(NewRun::Task{"load"});
    Decider queue{[](const RunSnapshot& snap) {
      RunDecisions d;
      for (const TaskStateView& t : snap.tasks) {
        if (t.state == TaskState::kNone) {
          d.tasks.push_back(TaskTransition{t.id, TaskState::kNone, TaskState::kQueued, {}, ""});
        }
      }
      d.run_state = RunState::kRunning;
      return d;
    }};
    store_->create_run(run, queue, from_epoch_ms(0));
    std::vector<ClaimedTask> claimed =
        store_->claim_tasks(ClaimRequest{"w1", {"default"}, from_epoch_ms(0), 1});
    EXPECT_EQ(claimed.size(), 1u);
    Harness h;
    h.add_connection("wh", url_);
    h.dag.id = "d";
    h.task.id = "load";
    h.task.type = "extract";
    h.task.spec = extract;
    h.run = claimed.at(0).run;
    h.store = store_.get();
    h.cancel = cancel;
    ExtractExecutor::Options options;
    options.batch_rows = 1;
    ExtractExecutor executor(options);
    TaskOutcome outcome = h.run_with(executor);
    if (log) *log = h.log.text();
    if (!report) return outcome;
    TaskResult result;
    result.ti_id = claimed[0].task.id;
    result.task_id = "load";
    result.try_number = claimed[0].task.try_number;
    result.worker_id = "w1";
    result.ended_at = from_epoch_ms(runs_ * 1000);
    result.state = outcome.status == TaskOutcome::Status::kSuccess ? TaskState::kSuccess
                                                                   : TaskState::kFailed;
    if (outcome.watermark) {
      result.watermark = outcome.watermark;
      result.watermark->dag_id = "d";
      result.watermark->task_id = "load";
      result.watermark->run_id = h.run.run_id;
    }
    store_->finish_task(result, Decider{[](const RunSnapshot&) { return RunDecisions{}; }});
    return outcome;
  }

  void upstream(const std::string& values) {
    exec("INSERT INTO \"" + src_ + "\" (id, name, updated_at) VALUES " + values);
  }
  std::string mark() {
    std::optional<Watermark> m = store_->get_watermark("d", "load");
    return m ? m->value.substr(0, 19) : "(none)";
  }
  Rows loaded() { return query("SELECT id, name FROM \"" + dst_ + "\" ORDER BY id"); }

  std::unique_ptr<Store> store_;
  std::string src_, dst_;
  int runs_ = 0;
};

TEST_P(IncrementalExtractTest, NewAndUpdatedRowsArriveOverRunsWithoutDuplicates) {
  ExtractTask extract = task("SELECT id, name, updated_at FROM \"" + src_ + "\";", "1m");

  // Run 1: no mark yet, every row.
  upstream("(1, 'a', '2026-01-01 10:00:00'), (2, 'b', '2026-01-01 10:01:00')");
  std::string log;
  TaskOutcome first = run_try(extract, false, true, &log);
  ASSERT_EQ(first.status, TaskOutcome::Status::kSuccess) << first.error << log;
  EXPECT_EQ(first.outputs["rows"], 2);
  EXPECT_NE(log.find("no high-water mark of updated_at yet; reading every row"), std::string::npos)
      << log;
  EXPECT_EQ(mark(), "2026-01-01 10:01:00");

  // Run 2: a new row and a row updated in place; the 1m lookback reads row 2 again.
  upstream("(3, 'c', '2026-01-01 10:05:00')");
  exec("UPDATE \"" + src_ + "\" SET name = 'A', updated_at = '2026-01-01 10:06:00' WHERE id = 1");
  TaskOutcome second = run_try(extract, false, true, &log);
  ASSERT_EQ(second.status, TaskOutcome::Status::kSuccess) << second.error << log;
  EXPECT_EQ(second.outputs["rows"], 3) << log;  // 1, 3 and (lookback) 2
  EXPECT_NE(log.find("reading rows with updated_at > 2026-01-01 10:00:00"), std::string::npos)
      << log;
  EXPECT_EQ(loaded(), (Rows{{"1", "A"}, {"2", "b"}, {"3", "c"}}));
  EXPECT_EQ(mark(), "2026-01-01 10:06:00");

  // A try canceled mid-load commits nothing and leaves the mark.
  upstream("(4, 'd', '2026-01-01 10:10:00')");
  TaskOutcome canceled = run_try(extract, /*cancel=*/true);
  EXPECT_EQ(canceled.status, TaskOutcome::Status::kFailed);
  EXPECT_EQ(mark(), "2026-01-01 10:06:00");
  EXPECT_EQ(loaded().size(), 3u);

  // A try whose worker dies after the load committed, before it reported:
  // the rows are in, the mark did not move.
  TaskOutcome lost = run_try(extract, false, /*report=*/false);
  ASSERT_EQ(lost.status, TaskOutcome::Status::kSuccess) << lost.error;
  EXPECT_EQ(mark(), "2026-01-01 10:06:00");

  // Run 3 reads them again; the upsert leaves one row per id.
  exec("UPDATE \"" + src_ + "\" SET name = 'C', updated_at = '2026-01-01 10:11:00' WHERE id = 3");
  TaskOutcome third = run_try(extract, false, true, &log);
  ASSERT_EQ(third.status, TaskOutcome::Status::kSuccess) << third.error << log;
  EXPECT_EQ(third.outputs["rows"], 3) << log;  // 4 (again), 3 and (lookback) 1
  EXPECT_EQ(loaded(), (Rows{{"1", "A"}, {"2", "b"}, {"3", "C"}, {"4", "d"}}));
  EXPECT_EQ(query("SELECT count(*), count(DISTINCT id) FROM \"" + dst_ + "\""),
            (Rows{{"4", "4"}}));
  EXPECT_EQ(mark(), "2026-01-01 10:11:00");

  // Nothing new: the mark stays.
  TaskOutcome idle = run_try(extract, false, true, &log);
  ASSERT_EQ(idle.status, TaskOutcome::Status::kSuccess) << idle.error;
  EXPECT_FALSE(idle.watermark);
  EXPECT_EQ(mark(), "2026-01-01 10:11:00");
}

TEST_P(IncrementalExtractTest, WatermarkTemplateAndNumericMarks) {
  upstream("(1, 'a', NULL), (2, 'b', NULL), (10, 'c', NULL)");
  // The query filters itself with {{ watermark }}; the mark is the id.
  ExtractTask extract = task("SELECT id, name FROM \"" + src_ +
                             "\" WHERE id > {{ watermark | default('0') }}");
  extract.incremental->column = "id";
  ASSERT_EQ(run_try(extract).status, TaskOutcome::Status::kSuccess);
  EXPECT_EQ(mark(), "10");  // as a number: 10 > 2
  upstream("(11, 'd', NULL)");
  std::string log;
  TaskOutcome o = run_try(extract, false, true, &log);
  ASSERT_EQ(o.status, TaskOutcome::Status::kSuccess) << o.error << log;
  EXPECT_EQ(o.outputs["rows"], 1);
  EXPECT_EQ(o.outputs["watermark"], "11");
  EXPECT_EQ(mark(), "11");

  // A column the query does not return is named with the columns it has.
  extract.incremental->column = "updated";
  TaskOutcome missing = run_try(extract);
  EXPECT_EQ(missing.status, TaskOutcome::Status::kFailed);
  EXPECT_NE(missing.error.find("incremental column 'updated' is not a column of the query's result"),
            std::string::npos)
      << missing.error;
}

INSTANTIATE_TEST_SUITE_P(Targets, IncrementalExtractTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

// ---- HTTP source -----------------------------------------------------------

/// A local JSON API on a free port, served from a thread.
class FakeApi {
 public:
  FakeApi() {
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // Bound and listening already; wait for the accept loop so that stop() in
    // the destructor cannot come before it.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!server_.is_running() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
  }
  ~FakeApi() {
    server_.stop();
    thread_.join();
  }
  httplib::Server& server() { return server_; }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

class ExtractHttpTest : public ::testing::Test {
 protected:
  ExtractHttpTest() {
    h_.add_connection("wh", "sqlite://" + dir_.path() + "/wh.db");
    options_.http.backoff = Millis(5);
    options_.http.max_attempts = 3;
  }
  TaskOutcome run(HttpSource source, ExtractTarget target) {
    ExtractTask extract;
    extract.source = std::move(source);
    target.conn = "wh";
    extract.target = std::move(target);
    h_.task.spec = extract;
    ExtractExecutor executor(options_);
    return h_.run_with(executor);
  }
  Rows query(const std::string& sql) {
    auto wh = Warehouse::open(h_.config.connections.at("wh"));
    Rows out;
    for (const SqlRow& row : wh->query(sql)) {
      std::vector<std::string> r;
      for (const SqlValue& v : row) r.push_back(v.value_or("NULL"));
      out.push_back(r);
    }
    return out;
  }
  TempDir dir_;
  Harness h_;
  ExtractExecutor::Options options_;
  FakeApi api_;
};

TEST_F(ExtractHttpTest, FollowsNextLinksAndSendsTemplatedHeaders) {
  std::string seen_auth;
  api_.server().Get("/orders", [&](const httplib::Request& req, httplib::Response& res) {
    seen_auth = req.get_header_value("Authorization");
    if (req.get_param_value("page") == "2") {
      res.set_content(R"({"data": {"items": [{"id": 3, "tags": ["x"], "ok": true}]}, "links": {"next": null}})",
                      "application/json");
    } else {
      res.set_content(R"({"data": {"items": [{"id": 1, "name": "a"}, {"id": 2, "name": null}]},
                          "links": {"next": ")" + api_.url("/orders?page=2") + R"("}})",
                      "application/json");
    }
  });
  HttpSource source{api_.url("/orders?date={{ ds }}"), {{"Authorization", "Bearer {{ ds_nodash }}"}},
                    "data.items", "links.next"};
  ExtractTarget target;
  target.table = "api_orders";
  target.mode = "upsert";
  target.key = {"id"};
  target.columns = {{"id", "integer"}, {"name", "text"}, {"tags", "text"}};
  TaskOutcome o = run(source, target);
  ASSERT_EQ(o.status, TaskOutcome::Status::kSuccess) << o.error << h_.log.text();
  EXPECT_EQ(o.outputs["rows"], 3);
  EXPECT_EQ(seen_auth, "Bearer 20260101");
  EXPECT_EQ(o.rendered["source"]["http"]["headers"]["Authorization"], "***");
  EXPECT_EQ(query("SELECT id, name, tags FROM api_orders ORDER BY id"),
            (Rows{{"1", "a", "NULL"}, {"2", "NULL", "NULL"}, {"3", "NULL", "[\"x\"]"}}));
}

TEST_F(ExtractHttpTest, CursorValuesAreSentAsCursorParameterAndTablesComeFromFirstRecordKeys) {
  api_.server().Get("/items", [&](const httplib::Request& req, httplib::Response& res) {
    std::string cursor = req.get_param_value("cursor");
    if (cursor.empty()) {
      res.set_content(R"([{"k": "a", "v": 1}])", "application/json");
      res.set_header("X-Unused", "1");
    }
    (void)cursor;
  });
  // Root array, no `next`: a single page.
  TaskOutcome single = run(HttpSource{api_.url("/items"), {}, "", ""}, [] {
    ExtractTarget t;
    t.table = "items";
    t.mode = "replace";
    return t;
  }());
  ASSERT_EQ(single.status, TaskOutcome::Status::kSuccess) << single.error;
  EXPECT_EQ(query("SELECT k, v FROM items"), (Rows{{"a", "1"}}));

  api_.server().Get("/pages", [&](const httplib::Request& req, httplib::Response& res) {
    std::string cursor = req.get_param_value("cursor");
    if (cursor.empty()) {
      res.set_content(R"({"rows": [{"n": 1}], "meta": {"cursor": "c 2"}})", "application/json");
    } else if (cursor == "c 2" && req.get_param_value("size") == "1") {
      res.set_content(R"({"rows": [{"n": 2}], "meta": {"cursor": ""}})", "application/json");
    } else {
      res.status = 400;
    }
  });
  ExtractTarget t;
  t.table = "pages";
  t.mode = "append";
  TaskOutcome paged = run(HttpSource{api_.url("/pages?size=1"), {}, "rows", "meta.cursor"}, t);
  ASSERT_EQ(paged.status, TaskOutcome::Status::kSuccess) << paged.error;
  EXPECT_EQ(query("SELECT n FROM pages ORDER BY n"), (Rows{{"1"}, {"2"}}));
}

TEST_F(ExtractHttpTest, IncrementalSourcesSendTheWatermarkAndLeaveOutOlderRecords) {
  std::unique_ptr<Store> store = testing::make_test_store("sqlite");
  Watermark mark = make_watermark("updated", "2026-01-02T00:00:00Z");
  mark.dag_id = h_.dag.id;
  mark.task_id = h_.task.id;
  store->set_watermark(mark);
  h_.store = store.get();
  std::string since;
  api_.server().Get("/changes", [&](const httplib::Request& req, httplib::Response& res) {
    since = req.get_param_value("since");
    // An API that ignores `since` sends an older record too.
    res.set_content(R"([{"id": 1, "updated": "2026-01-01T23:00:00Z"},
                        {"id": 2, "updated": "2026-01-02T05:00:00Z"},
                        {"id": 3, "updated": "2026-01-02T04:00:00Z"}])",
                    "application/json");
  });
  ExtractTask extract;
  extract.source = HttpSource{api_.url("/changes?since={{ watermark | default('') }}"), {}, "", ""};
  extract.target = ExtractTarget{"wh", "changes", "upsert", {"id"}, "", "", {}};
  extract.incremental = IncrementalSpec{"updated", "30m"};
  h_.task.spec = extract;
  ExtractExecutor executor(options_);
  TaskOutcome o = h_.run_with(executor);
  ASSERT_EQ(o.status, TaskOutcome::Status::kSuccess) << o.error << h_.log.text();
  EXPECT_EQ(since, "2026-01-01T23:30:00Z");  // the mark less the lookback
  EXPECT_NE(h_.log.text().find("1 records at or below updated 2026-01-01T23:30:00Z left out"),
            std::string::npos)
      << h_.log.text();
  EXPECT_EQ(query("SELECT id FROM changes ORDER BY id"), (Rows{{"2"}, {"3"}}));
  ASSERT_TRUE(o.watermark);
  EXPECT_EQ(o.watermark->value, "2026-01-02T05:00:00Z");
  EXPECT_EQ(o.watermark->kind, "timestamp");
}

TEST_F(ExtractHttpTest, NextLinksToAnotherOriginGoWithoutHeaders) {
  FakeApi other;
  std::string first_auth = "unset";
  std::string other_auth = "unset";
  api_.server().Get("/first", [&](const httplib::Request& req, httplib::Response& res) {
    first_auth = req.get_header_value("Authorization");
    res.set_content(R"({"items": [{"id": 1}], "next": ")" + other.url("/second") + R"("})",
                    "application/json");
  });
  other.server().Get("/second", [&](const httplib::Request& req, httplib::Response& res) {
    other_auth = req.get_header_value("Authorization");
    res.set_content(R"({"items": [{"id": 2}], "next": null})", "application/json");
  });
  ExtractTarget target;
  target.table = "two_origins";
  target.mode = "append";
  TaskOutcome o = run(
      HttpSource{api_.url("/first"), {{"Authorization", "Bearer tok-9"}}, "items", "next"}, target);
  ASSERT_EQ(o.status, TaskOutcome::Status::kSuccess) << o.error << h_.log.text();
  EXPECT_EQ(first_auth, "Bearer tok-9");
  EXPECT_EQ(other_auth, "");
  EXPECT_EQ(query("SELECT id FROM two_origins ORDER BY id"), (Rows{{"1"}, {"2"}}));
}

TEST_F(ExtractHttpTest, RetriesTooManyRequestsAndServerErrors) {
  int calls = 0;
  api_.server().Get("/flaky", [&](const httplib::Request&, httplib::Response& res) {
    ++calls;
    if (calls == 1) {
      res.status = 429;
    } else if (calls == 2) {
      res.status = 503;
    } else {
      res.set_content(R"([{"x": "1"}])", "application/json");
    }
  });
  ExtractTarget t;
  t.table = "flaky";
  TaskOutcome o = run(HttpSource{api_.url("/flaky"), {}, "", ""}, t);
  ASSERT_EQ(o.status, TaskOutcome::Status::kSuccess) << o.error;
  EXPECT_EQ(calls, 3);
  EXPECT_NE(h_.log.text().find("HTTP 429; retry 1 of 2"), std::string::npos) << h_.log.text();
}

TEST_F(ExtractHttpTest, GivesUpAfterAttemptsAndOnClientErrors) {
  int calls = 0;
  api_.server().Get("/down", [&](const httplib::Request&, httplib::Response& res) {
    ++calls;
    res.status = 500;
  });
  api_.server().Get("/missing", [&](const httplib::Request&, httplib::Response& res) {
    res.status = 404;
    res.set_content("no such thing", "text/plain");
  });
  ExtractTarget t;
  t.table = "never";
  TaskOutcome down = run(HttpSource{api_.url("/down"), {}, "", ""}, t);
  EXPECT_EQ(down.status, TaskOutcome::Status::kFailed);
  EXPECT_EQ(calls, 3);
  EXPECT_NE(down.error.find("HTTP 500 after 3 attempts"), std::string::npos) << down.error;
  TaskOutcome missing = run(HttpSource{api_.url("/missing"), {}, "", ""}, t);
  EXPECT_NE(missing.error.find("HTTP 404: no such thing"), std::string::npos) << missing.error;
  EXPECT_TRUE(query("SELECT name FROM sqlite_master WHERE name = 'never'").empty());
}

TEST_F(ExtractHttpTest, ASlowServerHitsTheRequestTimeout) {
  std::mutex m;
  std::condition_variable cv;
  bool release = false;
  api_.server().Get("/slow", [&](const httplib::Request&, httplib::Response& res) {
    std::unique_lock<std::mutex> lock(m);
    cv.wait_for(lock, std::chrono::seconds(10), [&] { return release; });
    res.set_content("[]", "application/json");
  });
  options_.http.timeout = Millis(200);
  options_.http.max_attempts = 1;
  ExtractTarget t;
  t.table = "slow";
  auto start = std::chrono::steady_clock::now();
  TaskOutcome o = run(HttpSource{api_.url("/slow"), {}, "", ""}, t);
  {
    std::lock_guard<std::mutex> lock(m);
    release = true;
  }
  cv.notify_all();
  EXPECT_EQ(o.status, TaskOutcome::Status::kFailed);
  EXPECT_NE(o.error.find("network error"), std::string::npos) << o.error;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

// ---- Secrets -----------------------------------------------------------------

TEST(ExtractSecrets, PasswordInAFailingConnectionNeverShows) {
  std::string url = testing_elt::pg_url();
  if (url.empty()) return;
  // The password doubles as the database name, so the server's own error
  // message ("database ... does not exist") carries it.
  Connection pg = Connection::parse("wh", url);
  std::string secret = "hunter2secret";
  std::string bad = "postgresql://" + pg.login + ":" + secret + "@" + pg.host + ":" +
                    std::to_string(pg.port) + "/" + secret;
  TempDir dir;
  Harness h;
  h.add_connection("wh", bad);
  ExtractTask extract;
  extract.source = CsvSource{dir.file("x.csv", "a\n1\n"), ',', true};
  extract.target.conn = "wh";
  extract.target.table = "x";
  h.task.spec = extract;
  ExtractExecutor executor;
  TaskOutcome o = h.run_with(executor);
  EXPECT_EQ(o.status, TaskOutcome::Status::kFailed);
  EXPECT_NE(o.error.find("***"), std::string::npos) << o.error;
  EXPECT_EQ(o.error.find(secret), std::string::npos) << o.error;
  EXPECT_EQ(h.log.text().find(secret), std::string::npos) << h.log.text();
  EXPECT_EQ(o.outputs.dump().find(secret), std::string::npos);
  EXPECT_EQ(o.rendered.dump().find(secret), std::string::npos);
}

}  // namespace
}  // namespace sluice
