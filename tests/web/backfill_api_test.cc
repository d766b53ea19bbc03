// The backfill endpoints over a real socket with a real SQLite store: the
// same plans as the CLI, errors naming the JSON field, cancel.
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/dag.h"
#include "core/dag_loader.h"
#include "core/store.h"
#include "engine/backfill.h"
#include "engine/dag_cache.h"
#include "tests/test_util.h"
#include "web/server.h"

namespace sluice {
namespace {

using nlohmann::json;

Timestamp at(const std::string& iso) { return *parse_timestamp(iso); }

class BackfillApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = Store::open("sqlite://" + dir_.file("sluice.db"));
    store_->migrate();
    cache_ = std::make_unique<DagCache>(*store_);
    const std::string yaml = R"(dag: orders
schedule: "0 2 * * *"
timezone: Europe/Berlin
start_date: 2026-01-01
params: {country: us}
tasks:
  - {id: extract, type: shell, command: "true"}
)";
    LoadResult loaded = load_dag_text("orders.yaml", yaml);
    ASSERT_TRUE(loaded.dag);
    store_->upsert_dag("orders", "orders.yaml", loaded.content_hash, yaml,
                       dag_to_json(*loaded.dag), true, 16, clock_.now());
    server_ = std::make_unique<WebServer>(*store_, *cache_, config_, clock_);
    int port = server_->start("127.0.0.1", 0);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port);
  }
  void TearDown() override {
    if (server_) server_->stop();
  }

  httplib::Result post(const std::string& path, const std::string& body) {
    return client_->Post(path.c_str(), body, "application/json");
  }
  static json body(const httplib::Result& res) { return json::parse(res->body); }

  testing::TempDir dir_;
  FakeClock clock_{at("2026-02-10T12:00:00Z")};
  Config config_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<DagCache> cache_;
  std::unique_ptr<WebServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(BackfillApiTest, DryRunPreviewsAndCreateStoresTheSamePlan) {
  const std::string request =
      R"({"dag_id": "orders", "from": "2026-01-01", "to": "2026-01-03", "conf": {"country": "de"},
          "max_active_runs": 2)";
  auto dry = post("/api/v1/backfills", request + R"(, "dry_run": true})");
  ASSERT_EQ(dry->status, 200) << dry->body;
  json preview = body(dry);
  EXPECT_TRUE(preview["backfill"].is_null());
  ASSERT_EQ(preview["intervals"].size(), 3u);
  // 02:00 in Berlin is 01:00 UTC in January.
  EXPECT_EQ(preview["intervals"][0]["data_interval_start"], "2026-01-01T01:00:00Z");
  EXPECT_EQ(preview["intervals"][0]["action"], "create");
  EXPECT_EQ(preview["intervals"][0]["reason"], "missing");
  EXPECT_TRUE(store_->list_backfills("", false, 10).empty());

  auto created = post("/api/v1/backfills", request + "}");
  ASSERT_EQ(created->status, 201) << created->body;
  json plan = body(created);
  EXPECT_EQ(plan["intervals"], preview["intervals"]);
  int64_t id = plan["backfill"]["id"];
  EXPECT_EQ(plan["backfill"]["max_active_runs"], 2);
  EXPECT_EQ(plan["backfill"]["conf"]["country"], "de");

  auto list = client_->Get("/api/v1/backfills");
  ASSERT_EQ(list->status, 200);
  ASSERT_EQ(body(list).size(), 1u);
  EXPECT_EQ(body(list)[0]["state"], "running");
  EXPECT_EQ(client_->Get("/api/v1/backfills?dag_id=other")->status, 404);
  EXPECT_EQ(client_->Get("/api/v1/backfills?dag_id=orders")->get_header_value("X-Total-Count"),
            "1");

  // The scheduler's pass starts the first two runs.
  BackfillPass pass(*store_, *cache_);
  pass.advance(clock_.now());
  auto shown = client_->Get(("/api/v1/backfills/" + std::to_string(id)).c_str());
  ASSERT_EQ(shown->status, 200);
  json detail = body(shown);
  EXPECT_EQ(detail["progress"]["running"], 2);
  EXPECT_EQ(detail["progress"]["pending"], 1);
  EXPECT_EQ(detail["intervals"][0]["run_id"], "backfill__2026-01-01T01:00:00Z");
  EXPECT_EQ(detail["intervals"][0]["run_state"], "queued");

  auto canceled = post("/api/v1/backfills/" + std::to_string(id) + "/cancel", "");
  ASSERT_EQ(canceled->status, 200) << canceled->body;
  EXPECT_EQ(body(canceled)["state"], "canceled");
  EXPECT_EQ(body(canceled)["progress"]["running"], 0) << "queued runs canceled";
  // An ended backfill cannot be canceled again: 409, as for an ended run.
  auto twice = post("/api/v1/backfills/" + std::to_string(id) + "/cancel", "");
  EXPECT_EQ(twice->status, 409) << twice->body;
  EXPECT_EQ(body(twice)["error"],
            "backfill " + std::to_string(id) + " already ended (canceled); nothing to cancel");
  // With now, a canceled backfill's running runs are stopped after all.
  auto now = post("/api/v1/backfills/" + std::to_string(id) + "/cancel?now=true", "");
  EXPECT_EQ(now->status, 200) << now->body;
  EXPECT_EQ(client_->Get("/api/v1/backfills/abc")->status, 404);
  EXPECT_EQ(client_->Get("/api/v1/backfills/7x")->status, 404);
  EXPECT_EQ(client_->Get("/api/v1/backfills/99")->status, 404);
}

TEST_F(BackfillApiTest, BadRequestsNameTheJsonField) {
  auto error = [&](const std::string& request) {
    auto res = post("/api/v1/backfills", request);
    EXPECT_EQ(res->status, 400) << request << " -> " << res->body;
    return body(res)["error"].get<std::string>();
  };
  EXPECT_NE(error(R"({"dag_id": "orders", "to": "2026-01-02"})").find("from is required"),
            std::string::npos);
  EXPECT_NE(error(R"({"dag_id": "orders", "from": "soon", "to": "2026-01-02"})")
                .find("from 'soon' is not a date"),
            std::string::npos);
  EXPECT_NE(error(R"({"dag_id": "orders", "from": "2026-01-01", "to": "2026-01-02",
                      "reprocess": "some"})")
                .find("reprocess 'some'"),
            std::string::npos);
  EXPECT_NE(error(R"({"dag_id": "orders", "from": "2026-01-01", "to": "2026-01-02",
                      "max_active_runs": 0})")
                .find("max_active_runs must be at least 1"),
            std::string::npos);
  EXPECT_NE(error(R"({"dag_id": "orders", "from": "2026-01-01", "to": "2026-01-02",
                      "backward": true})")
                .find("unknown field 'backward'"),
            std::string::npos);
  auto missing = post("/api/v1/backfills",
                      R"({"dag_id": "nope", "from": "2026-01-01", "to": "2026-01-02"})");
  EXPECT_EQ(missing->status, 404);
}

TEST_F(BackfillApiTest, RangesOfTooManyIntervalsAreRefused) {
  // Found by the HTTP fuzz target: a dry run over two thousand years listed
  // every day of them (740,000 intervals) and held a server thread for
  // seconds; stored, it would have been as many rows.
  for (const char* dry_run : {"true", "false"}) {
    auto res = post("/api/v1/backfills",
                    std::string(R"({"dag_id": "orders", "from": "2026-01-01", "to": "4052-01-05",
                                    "dry_run": )") +
                        dry_run + "}");
    ASSERT_EQ(res->status, 400) << dry_run;
    EXPECT_NE(body(res)["error"].get<std::string>().find("more than 10000 data intervals"),
              std::string::npos)
        << res->body;
  }
  EXPECT_TRUE(store_->list_backfills("orders", false, 10).empty());
}

}  // namespace
}  // namespace sluice
