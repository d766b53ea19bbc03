// The REST API over a real socket on 127.0.0.1, with a real SQLite store.

#include "web/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/dag.h"
#include "core/dag_loader.h"
#include "core/error.h"
#include "core/store.h"
#include "engine/dag_cache.h"
#include "engine/run_factory.h"
#include "tests/test_util.h"
#include "web/assets.h"

namespace sluice {
namespace {

using nlohmann::json;

const char* kOrdersYaml = R"(dag: orders
description: Daily orders
schedule: "0 2 * * *"
timezone: Europe/Berlin
start_date: 2026-01-01
params: {country: us}
tasks:
  - id: extract
    type: shell
    command: echo extract
  - id: load
    type: shell
    command: echo load
    depends_on: [extract]
  - id: report
    type: shell
    command: echo report
    depends_on: [load]
)";

const char* kAdhocYaml = R"(dag: adhoc
schedule: null
start_date: 2026-01-01
tasks:
  - id: only
    type: shell
    command: echo only
)";

Timestamp at(const std::string& iso) { return *parse_timestamp(iso); }

/// An HTTP response as it came off the socket, before any client library
/// interprets Content-Length or Content-Range.
struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;                            // every byte after the headers
  bool truncated = false;                      // more than `max_bytes` arrived
};

/// Sends `request` to 127.0.0.1:`port` and reads until the server closes the
/// connection, 5 s pass, or `max_bytes` arrive.
RawResponse raw_http(int port, const std::string& request, size_t max_bytes) {
  RawResponse out;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return out;
  }
  send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string data;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  char buffer[65536];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    data.append(buffer, static_cast<size_t>(n));
    if (data.size() > max_bytes) {
      out.truncated = true;
      break;
    }
  }
  close(fd);
  size_t end = data.find("\r\n\r\n");
  if (end == std::string::npos) return out;
  std::vector<std::string> lines;
  for (size_t at = 0; at < end;) {
    size_t next = data.find("\r\n", at);
    lines.push_back(data.substr(at, std::min(next, end) - at));
    at = next + 2;
  }
  if (lines.empty() || lines[0].size() < 12) return out;
  out.status = std::stoi(lines[0].substr(9, 3));
  for (size_t i = 1; i < lines.size(); ++i) {
    size_t colon = lines[i].find(':');
    if (colon == std::string::npos) continue;
    std::string name = lines[i].substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    size_t value = lines[i].find_first_not_of(' ', colon + 1);
    out.headers[name] = value == std::string::npos ? "" : lines[i].substr(value);
  }
  out.body = data.substr(end + 4);
  return out;
}

/// A WebServer on a free port of 127.0.0.1 over a migrated SQLite store
/// holding two DAGs, and a client for it.
class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override { start_server(""); }
  void TearDown() override {
    if (server_) server_->stop();
  }

  void start_server(const std::string& token) {
    if (server_) server_->stop();
    server_.reset();
    client_.reset();
    if (!store_) {
      store_ = Store::open("sqlite://" + dir_.file("sluice.db"));
      store_->migrate();
      cache_ = std::make_unique<DagCache>(*store_);
      add_dag(kOrdersYaml, "orders.yaml");
      add_dag(kAdhocYaml, "adhoc.yaml");
    }
    config_.web.api_token = token;
    server_ = std::make_unique<WebServer>(*store_, *cache_, config_, clock_);
    if (on_change_) server_->on_change(on_change_);
    port_ = server_->start("127.0.0.1", 0);
    host_ = "127.0.0.1:" + std::to_string(port_);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
  }

  void add_dag(const std::string& yaml, const std::string& name) {
    std::string path = dir_.write("dags/" + name, yaml);
    LoadResult loaded = load_dag_text(path, yaml);
    ASSERT_TRUE(loaded.dag) << (loaded.errors.empty() ? "" : loaded.errors[0].to_string());
    store_->upsert_dag(loaded.dag->id, path, loaded.content_hash, yaml,
                       dag_to_json(*loaded.dag), false, 16, clock_.now());
  }

  httplib::Result get(const std::string& path, httplib::Headers headers = {}) {
    return client_->Get(path.c_str(), headers);
  }
  httplib::Result post(const std::string& path, const std::string& body,
                       httplib::Headers headers = {}) {
    return client_->Post(path.c_str(), headers, body, "application/json");
  }
  static json body(const httplib::Result& res) { return json::parse(res->body); }

  /// Triggers a manual run of `dag` through the API; returns its run id.
  std::string trigger(const std::string& dag, const std::string& request = "{}") {
    auto res = post("/api/v1/dags/" + dag + "/runs", request);
    EXPECT_EQ(res->status, 201) << res->body;
    return body(res)["run_id"];
  }

  /// Acts out what the scheduler and a worker do: starts the run and claims
  /// its ready tasks for worker "w1".
  std::vector<ClaimedTask> start_and_claim(const std::string& dag_id, const std::string& run_id) {
    RunRecord run = *store_->get_run(dag_id, run_id);
    auto dag = cache_->get(run.version_id);
    store_->reconcile_run(run.id, make_decider(dag, clock_.now(), true), clock_.now());
    ClaimRequest request;
    request.worker_id = "w1";
    request.now = clock_.now();
    request.max_tasks = 10;
    return store_->claim_tasks(request);
  }

  void finish(const ClaimedTask& claimed, TaskState state, const std::string& log) {
    auto dag = cache_->get(claimed.run.version_id);
    TaskResult result;
    result.ti_id = claimed.task.id;
    result.try_number = claimed.task.try_number;
    result.worker_id = "w1";
    result.state = state;
    result.ended_at = clock_.now();
    result.final_log = log;
    result.final_log_seq = 1;
    store_->finish_task(result, make_decider(dag, clock_.now()));
  }

  /// Restarts the server with a connection `wh` at `url` and stores `text`
  /// as the log of a new run's first task; returns the log's API path.
  std::string stored_log(const std::string& url, const std::string& text) {
    config_.connections["wh"] = Connection::parse("wh", url);
    start_server("");
    std::string run_id = trigger("orders");
    auto claimed = start_and_claim("orders", run_id);
    store_->append_log(claimed[0].task.id, 1, 0, text);
    return "/api/v1/dags/orders/runs/" + run_id + "/tasks/extract/logs";
  }

  std::string task_state(const std::string& dag_id, const std::string& run_id,
                         const std::string& task_id) {
    RunRecord run = *store_->get_run(dag_id, run_id);
    for (const auto& ti : store_->list_task_instances(run.id)) {
      if (ti.task_id == task_id) return to_string(ti.state);
    }
    return "missing";
  }

  testing::TempDir dir_;
  FakeClock clock_{at("2026-02-10T12:00:00Z")};
  Config config_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<DagCache> cache_;
  std::unique_ptr<WebServer> server_;
  std::function<void()> on_change_;  // set before start_server
  std::unique_ptr<httplib::Client> client_;
  int port_ = 0;
  std::string host_;
};

TEST_F(ApiTest, ListsDagsWithScheduleNextRunAndRecentRuns) {
  // given a triggered run of orders
  std::string run_id = trigger("orders");

  auto res = get("/api/v1/dags");
  ASSERT_EQ(res->status, 200);
  json dags = body(res);
  ASSERT_EQ(dags.size(), 2u);
  EXPECT_EQ(dags[0]["dag_id"], "adhoc");  // sorted by id
  EXPECT_TRUE(dags[0]["schedule"].is_null());
  EXPECT_TRUE(dags[0]["next_run"].is_null());
  json orders = dags[1];
  EXPECT_EQ(orders["schedule"], "0 2 * * *");
  EXPECT_EQ(orders["timezone"], "Europe/Berlin");
  EXPECT_EQ(orders["paused"], false);
  ASSERT_EQ(orders["recent_runs"].size(), 1u);
  EXPECT_EQ(orders["recent_runs"][0]["run_id"], run_id);
  EXPECT_EQ(orders["recent_runs"][0]["state"], "queued");
  // No scheduled run yet and catchup off: the next run is the latest complete
  // interval, 2026-02-09 02:00 Berlin (01:00Z) to 2026-02-10 01:00Z.
  EXPECT_EQ(orders["next_run"]["data_interval_start"], "2026-02-09T01:00:00Z");
  EXPECT_EQ(orders["next_run"]["data_interval_end"], "2026-02-10T01:00:00Z");
}

TEST_F(ApiTest, ShowsParseErrorsOfFiles) {
  // given a file that failed to load, once loaded as orders
  store_->set_file_error({dir_.file("dags/broken.yaml"), "", "broken.yaml:3:1: unknown key 'taks'",
                          clock_.now()});
  store_->set_file_error({dir_.file("dags/orders.yaml"), "orders", "orders.yaml:2:1: bad cron",
                          clock_.now()});

  auto errors = body(get("/api/v1/import-errors"));
  ASSERT_EQ(errors.size(), 2u);
  auto dags = body(get("/api/v1/dags"));
  EXPECT_EQ(dags[1]["dag_id"], "orders");
  EXPECT_EQ(dags[1]["parse_error"], "orders.yaml:2:1: bad cron");
  EXPECT_EQ(dags[0]["parse_error"], "");
}

TEST_F(ApiTest, ShowsOneDagWithSourceAndTasks) {
  auto res = get("/api/v1/dags/orders");
  ASSERT_EQ(res->status, 200);
  json dag = body(res);
  EXPECT_EQ(dag["yaml"], kOrdersYaml);
  EXPECT_EQ(dag["definition"]["id"], "orders");
  ASSERT_EQ(dag["tasks"].size(), 3u);
  EXPECT_EQ(dag["tasks"][1]["id"], "load");
  EXPECT_EQ(dag["tasks"][1]["depends_on"], json::array({"extract"}));
  EXPECT_EQ(dag["params"]["country"], "us");
  EXPECT_TRUE(dag["version"]["id"].is_number());
}

TEST_F(ApiTest, UnknownDagIs404WithSuggestion) {
  auto res = get("/api/v1/dags/ordres");
  ASSERT_EQ(res->status, 404);
  EXPECT_NE(body(res)["error"].get<std::string>().find("did you mean 'orders'"),
            std::string::npos);
  EXPECT_EQ(get("/api/v1/dags/nope/runs")->status, 404);
  EXPECT_EQ(post("/api/v1/dags/nope/runs", "{}")->status, 404);
  EXPECT_EQ(get("/api/v1/no-such-endpoint")->status, 404);
  EXPECT_TRUE(body(get("/api/v1/no-such-endpoint")).contains("error"));
}

TEST_F(ApiTest, PausesAndUnpauses) {
  ASSERT_EQ(post("/api/v1/dags/orders/pause", "")->status, 200);
  EXPECT_TRUE(store_->get_dag("orders")->paused);
  ASSERT_EQ(post("/api/v1/dags/orders/unpause", "")->status, 200);
  EXPECT_FALSE(store_->get_dag("orders")->paused);
  auto res = client_->Patch("/api/v1/dags/orders", R"({"paused": true})", "application/json");
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(body(res)["paused"], true);
  EXPECT_TRUE(store_->get_dag("orders")->paused);
}

TEST_F(ApiTest, BadPauseInputIs400NamingTheField) {
  auto res = client_->Patch("/api/v1/dags/orders", R"({"paused": "yes"})", "application/json");
  ASSERT_EQ(res->status, 400);
  EXPECT_NE(body(res)["error"].get<std::string>().find("paused"), std::string::npos);
  res = client_->Patch("/api/v1/dags/orders", "{not json", "application/json");
  ASSERT_EQ(res->status, 400);
  EXPECT_NE(body(res)["error"].get<std::string>().find("not valid JSON"), std::string::npos);
}

TEST_F(ApiTest, TriggerCreatesAManualRunOfTheLatestCompleteInterval) {
  auto res = post("/api/v1/dags/orders/runs", R"({"conf": {"country": "de"}})");
  ASSERT_EQ(res->status, 201) << res->body;
  json run = body(res);
  EXPECT_EQ(run["run_id"], "manual__2026-02-10T12:00:00Z");
  EXPECT_EQ(run["type"], "manual");
  EXPECT_EQ(run["state"], "queued");
  EXPECT_EQ(run["conf"]["country"], "de");
  EXPECT_EQ(run["data_interval_start"], "2026-02-09T01:00:00Z");
  EXPECT_EQ(run["tasks"].size(), 3u);
  EXPECT_TRUE(store_->get_run("orders", "manual__2026-02-10T12:00:00Z"));
}

TEST_F(ApiTest, ChangesWakeTheInProcessSchedulerAndWorkers) {
  std::atomic<int> changes{0};
  on_change_ = [&] { ++changes; };
  start_server("");
  // Reads and refused writes change nothing
  ASSERT_EQ(get("/api/v1/dags")->status, 200);
  ASSERT_EQ(post("/api/v1/dags/nope/runs", "{}")->status, 404);
  ASSERT_EQ(post("/api/v1/dags/orders/runs", R"({"conf": 5})")->status, 400);
  EXPECT_EQ(changes.load(), 0);
  // A trigger does, and is reported before its response arrives
  trigger("orders");
  EXPECT_EQ(changes.load(), 1);
}

TEST_F(ApiTest, TriggerWithDateAndUnscheduledDag) {
  json run = body(post("/api/v1/dags/orders/runs", R"({"date": "2026-02-03"})"));
  EXPECT_EQ(run["data_interval_start"], "2026-02-03T01:00:00Z");
  json adhoc = body(post("/api/v1/dags/adhoc/runs", ""));
  EXPECT_EQ(adhoc["data_interval_start"], "2026-02-10T12:00:00Z");
  EXPECT_EQ(adhoc["data_interval_end"], "2026-02-10T12:00:00Z");
}

TEST_F(ApiTest, BadTriggerInputIs400NamingTheField) {
  auto res = post("/api/v1/dags/orders/runs", R"({"conf": {"contry": "de"}})");
  ASSERT_EQ(res->status, 400);
  std::string error = body(res)["error"];
  EXPECT_NE(error.find("conf key 'contry'"), std::string::npos) << error;
  EXPECT_EQ(error.find("--conf"), std::string::npos) << error;

  res = post("/api/v1/dags/orders/runs", R"({"conf": [1]})");
  ASSERT_EQ(res->status, 400);
  EXPECT_EQ(body(res)["error"].get<std::string>().rfind("conf must be", 0), 0u);

  res = post("/api/v1/dags/orders/runs", R"({"date": "yesterday"})");
  ASSERT_EQ(res->status, 400);
  EXPECT_EQ(body(res)["error"].get<std::string>().rfind("date 'yesterday'", 0), 0u);

  res = post("/api/v1/dags/orders/runs", R"({"dat": "2026-02-03"})");
  ASSERT_EQ(res->status, 400);
  EXPECT_NE(body(res)["error"].get<std::string>().find("did you mean 'date'"), std::string::npos);
  EXPECT_TRUE(store_->list_runs({}).empty());
}

TEST_F(ApiTest, ListsRunsWithFiltersAndPaging) {
  for (int i = 0; i < 3; ++i) {
    trigger("orders", R"({"date": "2026-02-0)" + std::to_string(i + 1) + R"("})");
  }
  json runs = body(get("/api/v1/dags/orders/runs"));
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[0]["data_interval_start"], "2026-02-03T01:00:00Z");  // newest first
  json page = body(get("/api/v1/dags/orders/runs?limit=1&offset=1"));
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0]["data_interval_start"], "2026-02-02T01:00:00Z");
  EXPECT_EQ(body(get("/api/v1/dags/orders/runs?state=success")).size(), 0u);
  EXPECT_EQ(body(get("/api/v1/dags/orders/runs?state=queued")).size(), 3u);
  EXPECT_EQ(body(get("/api/v1/runs?dag_id=orders")).size(), 3u);

  auto res = get("/api/v1/dags/orders/runs?limit=ten");
  ASSERT_EQ(res->status, 400);
  EXPECT_EQ(body(res)["error"].get<std::string>().rfind("limit must be", 0), 0u);
  res = get("/api/v1/dags/orders/runs?state=done");
  ASSERT_EQ(res->status, 400);
  EXPECT_EQ(body(res)["error"].get<std::string>().rfind("state 'done'", 0), 0u);
}

TEST_F(ApiTest, ShowsARunWithItsTasksAndLatest) {
  trigger("orders", R"({"date": "2026-02-01"})");
  std::string newer = trigger("orders", R"({"date": "2026-02-05"})");
  auto res = get("/api/v1/dags/orders/runs/latest");
  ASSERT_EQ(res->status, 200);
  json run = body(res);
  EXPECT_EQ(run["run_id"], newer);
  EXPECT_EQ(run["timezone"], "Europe/Berlin");
  ASSERT_EQ(run["tasks"].size(), 3u);
  EXPECT_EQ(run["tasks"][0]["state"], "none");
  EXPECT_EQ(body(get("/api/v1/dags/orders/runs/" + newer + "/tasks")).size(), 3u);
  EXPECT_EQ(get("/api/v1/dags/orders/runs/manual__1999-01-01T00:00:00Z")->status, 404);
  EXPECT_EQ(get("/api/v1/dags/adhoc/runs/latest")->status, 404);
  EXPECT_EQ(get("/api/v1/dags/orders/runs/" + newer + "/tasks/nope")->status, 404);
}

TEST_F(ApiTest, GridHasRunsByTasks) {
  for (int i = 1; i <= 3; ++i) trigger("orders", R"({"date": "2026-02-0)" + std::to_string(i) + R"("})");
  json grid = body(get("/api/v1/dags/orders/grid?limit=2"));
  EXPECT_EQ(grid["tasks"], json::array({"extract", "load", "report"}));
  ASSERT_EQ(grid["runs"].size(), 2u);
  EXPECT_TRUE(grid["has_more"].get<bool>());
  EXPECT_EQ(grid["runs"][0]["tasks"]["load"]["state"], "none");
  json older = body(get("/api/v1/dags/orders/grid?limit=2&offset=2"));
  EXPECT_EQ(older["runs"].size(), 1u);
  EXPECT_FALSE(older["has_more"].get<bool>());
}

TEST_F(ApiTest, LogsTailWhileRunningAndCarryRawText) {
  // given a running task that logged a line with markup in it
  std::string run_id = trigger("orders");
  auto claimed = start_and_claim("orders", run_id);
  ASSERT_EQ(claimed.size(), 1u);
  store_->append_log(claimed[0].task.id, 1, 0, "<script>alert(1)</script>\n");
  std::string logs = "/api/v1/dags/orders/runs/" + run_id + "/tasks/extract/logs";

  json first = body(get(logs));
  EXPECT_EQ(first["data"], "<script>alert(1)</script>\n");  // raw: the UI escapes
  EXPECT_EQ(first["complete"], false);
  EXPECT_EQ(first["try_number"], 1);
  int64_t offset = first["next_offset"];
  EXPECT_EQ(offset, 26);

  // when it finishes with more output
  finish(claimed[0], TaskState::kSuccess, "done\n");
  json rest = body(get(logs + "?try=1&offset=" + std::to_string(offset)));
  EXPECT_EQ(rest["data"], "done\n");
  EXPECT_EQ(rest["complete"], true);
  EXPECT_EQ(task_state("orders", run_id, "extract"), "success");

  auto res = get(logs + "?try=2");
  ASSERT_EQ(res->status, 400);
  EXPECT_EQ(body(res)["error"].get<std::string>().rfind("try must be", 0), 0u);
  EXPECT_EQ(get(logs + "?offset=-1")->status, 400);
}

TEST_F(ApiTest, LogsAndErrorsAreMasked) {
  std::string logs =
      stored_log("postgresql://u:hunter2secret@db/x", "connecting with hunter2secret\n");
  EXPECT_EQ(body(get(logs))["data"], "connecting with ***\n");
}

TEST_F(ApiTest, LogSlicesPutTogetherNeverRebuildASecret) {
  // given a stored log that holds a secret verbatim (written before masking)
  std::string logs =
      stored_log("postgresql://u:Post@Secret42@db/x", "connecting with Post@Secret42 to db\n");
  for (int size : {1, 3, 5, 10, 13}) {
    // when it is read in slices of `size` bytes
    std::string joined;
    int64_t offset = 0;
    while (true) {
      json slice = body(get(logs + "?offset=" + std::to_string(offset) +
                            "&limit=" + std::to_string(size)));
      joined += slice["data"].get<std::string>();
      if (slice["next_offset"] == offset) break;
      offset = slice["next_offset"];
    }
    // then no slice shows a byte of it
    EXPECT_EQ(offset, 36);
    EXPECT_EQ(joined.find("Post"), std::string::npos) << size << ": " << joined;
    EXPECT_EQ(joined.find("Secret42"), std::string::npos) << size << ": " << joined;
    EXPECT_EQ(joined.find("@S"), std::string::npos) << size << ": " << joined;
    EXPECT_EQ(joined.rfind("connecting with ***", 0), 0u) << size << ": " << joined;
    EXPECT_NE(joined.find("*** to db\n"), std::string::npos) << size << ": " << joined;
  }
}

TEST_F(ApiTest, ASecretWrittenInADagFileIsMaskedInItsYamlAndDefinition) {
  // given a DAG whose file holds its alerts key itself
  add_dag("dag: signed\nschedule: null\nstart_date: 2026-01-01\n"
          "alerts: {webhook: \"http://127.0.0.1:9/hook\", secret: DagYamlSecret64}\n"
          "tasks:\n  - {id: a, type: shell, command: \"true\"}\n",
          "signed.yaml");
  auto res = get("/api/v1/dags/signed");
  ASSERT_EQ(res->status, 200) << res->body;
  // then neither the YAML nor the definition shows it
  EXPECT_EQ(res->body.find("DagYamlSecret64"), std::string::npos) << res->body;
  json dag = body(res);
  EXPECT_NE(dag["yaml"].get<std::string>().find("secret: ***}"), std::string::npos) << dag["yaml"];
  EXPECT_EQ(dag["definition"]["alerts"]["secret"], "***");
}

TEST_F(ApiTest, MarksAndClearsTasksWithDownstream) {
  std::string run_id = trigger("orders");
  auto claimed = start_and_claim("orders", run_id);
  finish(claimed[0], TaskState::kFailed, "boom\n");
  EXPECT_EQ(task_state("orders", run_id, "load"), "upstream_failed");
  std::string base = "/api/v1/dags/orders/runs/" + run_id + "/tasks/";

  // when extract is marked success, load becomes ready
  auto res = post(base + "extract/mark", R"({"state": "success"})");
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(body(res)["state"], "success");
  EXPECT_EQ(task_state("orders", run_id, "extract"), "success");

  // when extract is cleared, its downstream is cleared too
  res = post(base + "extract/clear", "");
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(body(res)["task_ids"], json::array({"extract", "load", "report"}));
  EXPECT_EQ(task_state("orders", run_id, "report"), "none");

  res = post(base + "extract/mark", R"({"state": "running"})");
  ASSERT_EQ(res->status, 400);
  EXPECT_EQ(body(res)["error"].get<std::string>().rfind("state 'running'", 0), 0u);
  res = post(base + "extract/mark", R"({})");
  ASSERT_EQ(res->status, 400);
  EXPECT_EQ(body(res)["error"].get<std::string>().rfind("state is required", 0), 0u);
}

TEST_F(ApiTest, ClearsOnlyFailedTasksOfARun) {
  std::string run_id = trigger("orders");
  auto claimed = start_and_claim("orders", run_id);
  finish(claimed[0], TaskState::kFailed, "");
  auto res = post("/api/v1/dags/orders/runs/" + run_id + "/clear", R"({"failed_only": true})");
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(body(res)["task_ids"], json::array({"extract", "load", "report"}));
  // The failed run queues again; the scheduler starts it within max_active_runs.
  EXPECT_EQ(store_->get_run("orders", run_id)->state, RunState::kQueued);
}

TEST_F(ApiTest, CancelsARunOnce) {
  std::string run_id = trigger("orders");
  std::string path = "/api/v1/dags/orders/runs/" + run_id + "/cancel";
  auto res = post(path, "");
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(body(res)["state"], "canceled");
  EXPECT_EQ(store_->get_run("orders", run_id)->state, RunState::kCanceled);
  EXPECT_EQ(post(path, "")->status, 409);
}

TEST_F(ApiTest, ListsWorkersAlertsPoolsAndSlaMisses) {
  WorkerRecord worker;
  worker.id = "host-1:42";
  worker.host = "host-1";
  worker.pid = 42;
  worker.slots = 4;
  worker.started_at = clock_.now();
  worker.last_heartbeat = clock_.now();
  store_->register_worker(worker);
  json workers = body(get("/api/v1/workers"));
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(workers[0]["id"], "host-1:42");
  EXPECT_EQ(workers[0]["alive"], true);
  EXPECT_TRUE(body(get("/api/v1/alerts?undelivered=1")).is_array());
  EXPECT_EQ(get("/api/v1/alerts?undelivered=maybe")->status, 400);
  EXPECT_TRUE(body(get("/api/v1/pools")).is_array());
  EXPECT_EQ(body(get("/api/v1/sla-misses")), json::array());
}

TEST_F(ApiTest, HealthAndMetrics) {
  trigger("orders");
  auto health = get("/healthz");
  ASSERT_EQ(health->status, 200);
  EXPECT_EQ(body(health), json({{"status", "ok"}, {"store", "ok"}}));

  auto metrics = get("/metrics");
  ASSERT_EQ(metrics->status, 200);
  EXPECT_NE(metrics->body.find("sluice_runs{state=\"queued\"} 1\n"), std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("sluice_runs{state=\"success\"} 0\n"), std::string::npos);
  EXPECT_NE(metrics->body.find("sluice_task_instances{state=\"none\"} 3\n"), std::string::npos);
  EXPECT_NE(metrics->body.find("sluice_queue_depth 0\n"), std::string::npos);
  EXPECT_NE(metrics->body.find("sluice_alert_backlog 0\n"), std::string::npos);
}

/// The samples of a Prometheus text exposition, by series ("name{labels}").
std::map<std::string, std::string> parse_metrics(const std::string& text) {
  std::map<std::string, std::string> samples;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty() || line[0] == '#') continue;
    size_t space = line.rfind(' ');
    if (space == std::string::npos) continue;
    samples[line.substr(0, space)] = line.substr(space + 1);
  }
  return samples;
}

TEST_F(ApiTest, MetricsHaveATaskDurationHistogramAndSchedulerLoopLag) {
  // given a task that ran for 3.5 s and two schedulers that sent heartbeats
  std::string run_id = trigger("orders");
  auto claimed = start_and_claim("orders", run_id);
  ASSERT_EQ(claimed.size(), 1u);
  clock_.advance(Millis(3500));
  finish(claimed[0], TaskState::kSuccess, "done\n");
  store_->heartbeat_scheduler("sched-a", "host-a", true, Millis(250), clock_.now());
  store_->heartbeat_scheduler("sched-b", "host-b", false, Millis(0), clock_.now() - Millis(2000));

  auto res = get("/metrics");
  ASSERT_EQ(res->status, 200);
  const std::string& text = res->body;
  EXPECT_NE(text.find("# TYPE sluice_task_duration_seconds histogram\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE sluice_scheduler_loop_lag_seconds gauge\n"), std::string::npos);
  std::map<std::string, std::string> m = parse_metrics(text);

  // then the task counts from the 5 s bucket up, and buckets are cumulative
  EXPECT_EQ(m["sluice_task_duration_seconds_bucket{le=\"0.5\"}"], "0") << text;
  EXPECT_EQ(m["sluice_task_duration_seconds_bucket{le=\"1\"}"], "0");
  EXPECT_EQ(m["sluice_task_duration_seconds_bucket{le=\"5\"}"], "1");
  EXPECT_EQ(m["sluice_task_duration_seconds_bucket{le=\"21600\"}"], "1");
  EXPECT_EQ(m["sluice_task_duration_seconds_bucket{le=\"+Inf\"}"], "1");
  EXPECT_EQ(m["sluice_task_duration_seconds_sum"], "3.5");
  EXPECT_EQ(m["sluice_task_duration_seconds_count"], "1");
  std::vector<std::pair<double, int64_t>> buckets;  // (le, count)
  const std::string prefix = "sluice_task_duration_seconds_bucket{le=\"";
  for (const auto& [series, value] : m) {
    if (series.rfind(prefix, 0) != 0) continue;
    std::string le = series.substr(prefix.size(), series.size() - prefix.size() - 2);
    buckets.emplace_back(le == "+Inf" ? 1e300 : std::stod(le), std::stoll(value));
  }
  EXPECT_EQ(buckets.size(), 13u);  // twelve bounds and +Inf
  std::sort(buckets.begin(), buckets.end());
  for (size_t i = 1; i < buckets.size(); ++i) {
    EXPECT_LE(buckets[i - 1].second, buckets[i].second) << "le=" << buckets[i].first;
  }

  // and each scheduler's loop lag carries its id and leadership
  EXPECT_EQ(m["sluice_scheduler_loop_lag_seconds{scheduler=\"sched-a\",leader=\"true\"}"], "0.25");
  EXPECT_EQ(m["sluice_scheduler_loop_lag_seconds{scheduler=\"sched-b\",leader=\"false\"}"], "0");
  EXPECT_EQ(
      m["sluice_scheduler_heartbeat_age_seconds{scheduler=\"sched-b\",leader=\"false\"}"], "2");

  json schedulers = body(get("/api/v1/schedulers"));
  ASSERT_EQ(schedulers.size(), 2u);
  EXPECT_EQ(schedulers[0]["id"], "sched-a");
  EXPECT_EQ(schedulers[0]["leader"], true);
  EXPECT_EQ(schedulers[0]["loop_lag_ms"], 250);
  EXPECT_EQ(schedulers[1]["heartbeat_age_ms"], 2000);
}

TEST_F(ApiTest, MetricsOfAnIdleStoreHaveEmptyHistogramAndNoSchedulers) {
  std::map<std::string, std::string> m = parse_metrics(get("/metrics")->body);
  EXPECT_EQ(m["sluice_task_duration_seconds_bucket{le=\"+Inf\"}"], "0");
  EXPECT_EQ(m["sluice_task_duration_seconds_sum"], "0");
  EXPECT_EQ(m["sluice_task_duration_seconds_count"], "0");
  for (const auto& [series, value] : m) {
    EXPECT_EQ(series.find("sluice_scheduler_loop_lag_seconds"), std::string::npos) << series;
  }
}

TEST_F(ApiTest, SlaMissesCarryTheDagTimeZone) {
  std::string run_id = trigger("orders");
  store_->arm_sla_timer({0, "orders", run_id, "load", "sla", clock_.now()});
  std::vector<SlaTimer> due = store_->due_sla_timers(clock_.now(), 10);
  ASSERT_EQ(due.size(), 1u);
  SlaMissRecord miss{0, "orders", run_id, "load", "sla", due[0].due_at, clock_.now(), false};
  ASSERT_TRUE(store_->fire_sla_timer(due[0].id, miss, std::nullopt, clock_.now()));

  json misses = body(get("/api/v1/sla-misses"));
  ASSERT_EQ(misses.size(), 1u);
  EXPECT_EQ(misses[0]["dag_id"], "orders");
  EXPECT_EQ(misses[0]["task_id"], "load");
  EXPECT_EQ(misses[0]["kind"], "sla");
  EXPECT_EQ(misses[0]["timezone"], "Europe/Berlin");
  EXPECT_EQ(misses[0]["deadline"], "2026-02-10T12:00:00Z");
}

TEST_F(ApiTest, ServesTheUiWithAStrictContentSecurityPolicy) {
  auto index = get("/");
  ASSERT_EQ(index->status, 200);
  EXPECT_NE(index->get_header_value("Content-Type").find("text/html"), std::string::npos);
  EXPECT_NE(index->get_header_value("Content-Security-Policy").find("script-src 'self'"),
            std::string::npos);
  EXPECT_NE(index->body.find("app.js"), std::string::npos);
  auto js = get("/app.js");
  ASSERT_EQ(js->status, 200);
  EXPECT_NE(js->get_header_value("Content-Type").find("javascript"), std::string::npos);
  EXPECT_EQ(get("/nothing.js")->status, 404);
}

TEST_F(ApiTest, BrowsersGetGzipNeverSlowBrotli) {
  // A browser accepts br too; httplib's own brotli took ~50 ms per app.js.
  httplib::Headers browser{{"Accept-Encoding", "gzip, deflate, br"}};
  std::string app_js;
  for (const WebAsset& asset : web_assets()) {
    if (std::string(asset.name) == "app.js") app_js = std::string(asset.content);
  }
  ASSERT_FALSE(app_js.empty());
  auto js = get("/app.js", browser);
  ASSERT_EQ(js->status, 200);
  EXPECT_EQ(js->get_header_value("Content-Encoding"), "gzip");
  EXPECT_EQ(js->body, app_js);  // the client inflated it
  EXPECT_NE(js->get_header_value("Content-Type").find("javascript"), std::string::npos);

  auto plain = get("/app.js");
  EXPECT_FALSE(plain->has_header("Content-Encoding"));
  EXPECT_EQ(plain->body, app_js);
  auto refused = get("/app.js", {{"Accept-Encoding", "gzip;q=0, br"}});
  EXPECT_FALSE(refused->has_header("Content-Encoding"));

  auto dags = get("/api/v1/dags", browser);
  ASSERT_EQ(dags->status, 200);
  EXPECT_FALSE(dags->has_header("Content-Encoding"));
  EXPECT_EQ(body(dags).size(), 2u);
  auto missing = get("/api/v1/dags/nope", browser);
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(missing->body.find("nope"), std::string::npos);
}

TEST_F(ApiTest, RangeRequestsNeverSendBytesPastTheBody) {
  // httplib slices every response by the request's Range without bounding the
  // range to the body: `bytes=999999999-` once sent process memory after
  // app.js. Ranges are ignored now; whatever comes back must be the body and
  // exactly as long as Content-Length says.
  std::string app_js;
  for (const WebAsset& asset : web_assets()) {
    if (std::string(asset.name) == "app.js") app_js = std::string(asset.content);
  }
  ASSERT_FALSE(app_js.empty());
  std::string dags = get("/api/v1/dags")->body;
  const std::vector<std::string> ranges = {
      "bytes=999999999-", "bytes=10-999999999", "bytes=-999999999", "bytes=-10",
      "bytes=0-0", "bytes=-0", "bytes=5-", "bytes=0-", "bytes=-",
      "bytes=0-1,999999999-", "bytes=999999999-,999999999-", "bytes=0-,0-,0-,0-",
      "bytes=999999-,999999-,5-1", "bytes=18446744073709551615-", "bytes=1-2, 3-999999999"};
  struct Target {
    std::string path;
    std::string headers;
    std::string expected_body;  // empty: only check the length and the bound
  };
  const std::vector<Target> targets = {
      {"/app.js", "", app_js},
      {"/app.js", "Accept-Encoding: gzip\r\n", ""},
      {"/api/v1/dags", "", dags},
      {"/api/v1/dags/nope", "", ""},
      {"/nothing.js", "", ""},
  };
  for (const Target& target : targets) {
    for (const std::string& range : ranges) {
      SCOPED_TRACE(target.path + " " + target.headers + "Range: " + range);
      RawResponse res = raw_http(port_,
                                 "GET " + target.path + " HTTP/1.1\r\nHost: " + host_ +
                                     "\r\n" + target.headers + "Range: " + range +
                                     "\r\nConnection: close\r\n\r\n",
                                 4 * app_js.size());
      ASSERT_NE(res.status, 0) << "no response";
      EXPECT_FALSE(res.truncated) << "far more bytes than the body";
      ASSERT_TRUE(res.headers.count("content-length")) << res.status;
      EXPECT_EQ(res.headers["content-length"], std::to_string(res.body.size()));
      EXPECT_NE(res.status, 206);
      EXPECT_FALSE(res.headers.count("content-range")) << res.headers["content-range"];
      if (!target.expected_body.empty() && res.status == 200) {
        EXPECT_EQ(res.body.size(), target.expected_body.size());
        EXPECT_TRUE(res.body == target.expected_body) << "the body differs from the asset";
      }
    }
  }
  // The server is still up.
  EXPECT_EQ(get("/app.js")->body, app_js);
}

TEST_F(ApiTest, AnUnreadableAcceptEncodingNeverFailsARequest) {
  std::string app_js;
  for (const WebAsset& asset : web_assets()) {
    if (std::string(asset.name) == "app.js") app_js = std::string(asset.content);
  }
  for (const char* header : {"gzip;q=abc", "gzip;q=", "gzip;q=1e999", "gzip;q=-1", "gzip;q=nan",
                             "gzip;q=0.5", "gzip;q=99999999999999999999999999999999999999"}) {
    SCOPED_TRACE(header);
    auto res = get("/app.js", {{"Accept-Encoding", header}});
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body, app_js);
  }
  EXPECT_EQ(get("/app.js", {{"Accept-Encoding", "gzip;q=0.5"}})->get_header_value("Content-Encoding"),
            "gzip");
  EXPECT_FALSE(get("/app.js", {{"Accept-Encoding", "gzip;q=abc"}})->has_header("Content-Encoding"));
}

TEST_F(ApiTest, UiScriptNeverParsesDataAsHtml) {
  // Weak by nature (the e2e test shows a <script> log line as text), but it
  // catches the usual slip cheaply.
  for (const WebAsset& asset : web_assets()) {
    if (std::string(asset.name) != "app.js") continue;
    for (const char* sink : {"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write",
                             "eval(", "new Function"}) {
      EXPECT_EQ(asset.content.find(sink), std::string_view::npos) << sink;
    }
    return;
  }
  FAIL() << "app.js is not embedded";
}

TEST_F(ApiTest, BodyTooLargeIs413) {
  std::string big = "{\"conf\": {\"x\": \"" + std::string(WebServer::kMaxBodyBytes + 10, 'a') + "\"}}";
  auto res = post("/api/v1/dags/orders/runs", big);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413);
  EXPECT_TRUE(store_->list_runs({}).empty());
}

TEST_F(ApiTest, CrossSiteMutationsAreRefused) {
  auto res = post("/api/v1/dags/orders/pause", "", {{"Origin", "http://evil.example"}});
  ASSERT_EQ(res->status, 403);
  EXPECT_NE(body(res)["error"].get<std::string>().find("cross-site"), std::string::npos);
  EXPECT_FALSE(store_->get_dag("orders")->paused);

  res = post("/api/v1/dags/orders/pause", "", {{"Referer", "http://evil.example/page"}});
  EXPECT_EQ(res->status, 403);
  res = post("/api/v1/dags/orders/pause", "", {{"Origin", "null"}});
  EXPECT_EQ(res->status, 403);
  EXPECT_FALSE(store_->get_dag("orders")->paused);

  // Reads are not refused; same-origin writes pass.
  EXPECT_EQ(get("/api/v1/dags", {{"Origin", "http://evil.example"}})->status, 200);
  res = post("/api/v1/dags/orders/pause", "", {{"Origin", "http://" + host_}});
  EXPECT_EQ(res->status, 200);
  EXPECT_TRUE(store_->get_dag("orders")->paused);
}

TEST_F(ApiTest, RequestsForAnotherHostAreRefused) {
  // A page on evil.example that rebinds the name to 127.0.0.1 sends
  // `Host: evil.example`, with or without Origin.
  for (const httplib::Headers& headers :
       {httplib::Headers{{"Host", "evil.example"}},
        httplib::Headers{{"Host", "evil.example:" + std::to_string(port_)},
                         {"Origin", "http://evil.example:" + std::to_string(port_)}}}) {
    auto res = get("/api/v1/dags", headers);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 403);
    std::string error = body(res)["error"];
    EXPECT_NE(error.find("'evil.example'"), std::string::npos) << error;
    EXPECT_NE(error.find("web.allowed_hosts"), std::string::npos) << error;
    EXPECT_EQ(get("/", headers)->status, 403);
    EXPECT_EQ(get("/healthz", headers)->status, 403);
    EXPECT_EQ(post("/api/v1/dags/orders/pause", "", headers)->status, 403);
    EXPECT_EQ(post("/api/v1/dags/orders/runs", "{}", headers)->status, 403);
  }
  EXPECT_FALSE(store_->get_dag("orders")->paused);
  EXPECT_TRUE(store_->list_runs({}).empty());

  // Loopback names and addresses pass, with a same-origin Origin too.
  std::string port = ":" + std::to_string(port_);
  for (const std::string& host :
       {"localhost" + port, "127.0.0.1" + port, "[::1]" + port, std::string("localhost")}) {
    EXPECT_EQ(get("/api/v1/dags", {{"Host", host}})->status, 200) << host;
  }
  auto res = post("/api/v1/dags/orders/pause", "",
                  {{"Host", "localhost" + port}, {"Origin", "http://localhost" + port}});
  EXPECT_EQ(res->status, 200);
  EXPECT_TRUE(store_->get_dag("orders")->paused);
}

TEST_F(ApiTest, ConfiguredHostsAreServed) {
  config_.web.base_url = "https://sluice.example.com";
  config_.web.allowed_hosts = {"etl.internal"};
  start_server("");
  std::string port = ":" + std::to_string(port_);
  EXPECT_EQ(get("/api/v1/dags", {{"Host", "sluice.example.com"}})->status, 200);
  EXPECT_EQ(get("/api/v1/dags", {{"Host", "etl.internal" + port}})->status, 200);
  EXPECT_EQ(post("/api/v1/dags/orders/pause", "",
                 {{"Host", "etl.internal" + port}, {"Origin", "http://etl.internal" + port}})
                ->status,
            200);
  EXPECT_EQ(get("/api/v1/dags", {{"Host", "evil.example"}})->status, 403);
}

TEST_F(ApiTest, TokenIsRequiredWhenConfigured) {
  start_server("s3cret-token");
  auto res = get("/api/v1/dags");
  EXPECT_EQ(res->status, 401);
  EXPECT_EQ(res->get_header_value("WWW-Authenticate"), "Bearer");
  EXPECT_EQ(get("/api/v1/dags", {{"Authorization", "Bearer wrong"}})->status, 401);
  EXPECT_EQ(get("/metrics")->status, 401);
  EXPECT_EQ(post("/api/v1/dags/orders/pause", "")->status, 401);
  EXPECT_FALSE(store_->get_dag("orders")->paused);

  EXPECT_EQ(get("/api/v1/dags", {{"Authorization", "Bearer s3cret-token"}})->status, 200);
  // The UI and health checks load without it.
  EXPECT_EQ(get("/healthz")->status, 200);
  EXPECT_EQ(get("/")->status, 200);
  EXPECT_EQ(body(get("/api/v1/session"))["auth_required"], true);
}

TEST_F(ApiTest, CsrfIsCheckedEvenWithAValidToken) {
  start_server("s3cret-token");
  auto res = post("/api/v1/dags/orders/pause", "",
                  {{"Authorization", "Bearer s3cret-token"}, {"Origin", "http://evil.example"}});
  EXPECT_EQ(res->status, 403);
  EXPECT_FALSE(store_->get_dag("orders")->paused);
}

TEST_F(ApiTest, SessionCookieStandsInForTheToken) {
  start_server("s3cret-token");
  EXPECT_EQ(post("/api/v1/session", R"({"token": "nope"})")->status, 401);
  EXPECT_EQ(post("/api/v1/session", R"({"tokn": "s3cret-token"})")->status, 400);

  auto res = post("/api/v1/session", R"({"token": "s3cret-token"})");
  ASSERT_EQ(res->status, 200);
  std::string set_cookie = res->get_header_value("Set-Cookie");
  EXPECT_NE(set_cookie.find("HttpOnly"), std::string::npos);
  EXPECT_NE(set_cookie.find("SameSite=Strict"), std::string::npos);
  EXPECT_EQ(set_cookie.find("s3cret-token"), std::string::npos);
  std::string cookie = set_cookie.substr(0, set_cookie.find(';'));

  EXPECT_EQ(get("/api/v1/dags", {{"Cookie", cookie}})->status, 200);
  EXPECT_EQ(body(get("/api/v1/session", {{"Cookie", cookie}}))["authenticated"], true);
  EXPECT_EQ(get("/api/v1/dags", {{"Cookie", "sluice_session=forged"}})->status, 401);
  EXPECT_EQ(get("/api/v1/dags", {{"Cookie", "sluice_session=" + std::string(64, '0')}})->status,
            401);
  // A cookie rides along on cross-site requests only if SameSite fails; the
  // Origin check still stops them.
  EXPECT_EQ(post("/api/v1/dags/orders/pause", "",
                 {{"Cookie", cookie}, {"Origin", "http://evil.example"}})
                ->status,
            403);
  EXPECT_EQ(post("/api/v1/dags/orders/pause", "", {{"Cookie", cookie}})->status, 200);
}

TEST_F(ApiTest, SessionsAreRandomEndAtLogoutAndExpire) {
  start_server("s3cret-token");
  auto login = [&] {
    auto res = post("/api/v1/session", R"({"token": "s3cret-token"})");
    EXPECT_EQ(res->status, 200);
    std::string set_cookie = res->get_header_value("Set-Cookie");
    EXPECT_NE(set_cookie.find("Max-Age=43200"), std::string::npos) << set_cookie;
    return set_cookie.substr(0, set_cookie.find(';'));
  };
  std::string first = login();
  std::string second = login();
  EXPECT_NE(first, second);
  EXPECT_EQ(first.size(), std::string("sluice_session=").size() + 64);

  // Logout ends that session only.
  auto res = client_->Delete("/api/v1/session", {{"Cookie", first}});
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(get("/api/v1/dags", {{"Cookie", first}})->status, 401);
  EXPECT_EQ(body(get("/api/v1/session", {{"Cookie", first}}))["authenticated"], false);
  EXPECT_EQ(get("/api/v1/dags", {{"Cookie", second}})->status, 200);

  // 12 hours after login a session is over.
  clock_.advance(std::chrono::hours(12) - std::chrono::seconds(1));
  EXPECT_EQ(get("/api/v1/dags", {{"Cookie", second}})->status, 200);
  clock_.advance(std::chrono::seconds(2));
  EXPECT_EQ(get("/api/v1/dags", {{"Cookie", second}})->status, 401);

  // A restarted server knows no session.
  std::string third = login();
  start_server("s3cret-token");
  EXPECT_EQ(get("/api/v1/dags", {{"Cookie", third}})->status, 401);
}

TEST_F(ApiTest, RepeatedWrongTokensAreThrottled) {
  start_server("s3cret-token");
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(get("/api/v1/dags", {{"Authorization", "Bearer guess" + std::to_string(i)}})->status,
              401);
    EXPECT_EQ(post("/api/v1/session", R"({"token": "guess"})")->status, 401);
  }
  // The 11th guess within a minute, and even the right token, get 429.
  auto res = get("/api/v1/dags", {{"Authorization", "Bearer guess-11"}});
  EXPECT_EQ(res->status, 429);
  EXPECT_EQ(res->get_header_value("Retry-After"), "60");
  EXPECT_NE(body(res)["error"].get<std::string>().find("too many wrong tokens"), std::string::npos);
  EXPECT_EQ(get("/api/v1/dags", {{"Authorization", "Bearer s3cret-token"}})->status, 429);
  EXPECT_EQ(post("/api/v1/session", R"({"token": "s3cret-token"})")->status, 429);
  // Once the first failures leave the minute, the right token passes again.
  clock_.advance(std::chrono::seconds(61));
  EXPECT_EQ(get("/api/v1/dags", {{"Authorization", "Bearer s3cret-token"}})->status, 200);
}

TEST_F(ApiTest, StartFailsOnAPortInUse) {
  Config config;
  WebServer second(*store_, *cache_, config, clock_);
  EXPECT_THROW(second.start("127.0.0.1", port_), UserError);
}

}  // namespace
}  // namespace sluice
