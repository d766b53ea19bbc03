#include "worker/extract_executor.h"

#include <httplib.h>

#include <condition_variable>
#include <thread>

#include <gtest/gtest.h>

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

INSTANTIATE_TEST_SUITE_P(Targets, ExtractTest, ::testing::Values("sqlite", "postgres"),
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
