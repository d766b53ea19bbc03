#pragma once
// The fixture of the API tests (api_test.cc, api_http_test.cc): a server on
// 127.0.0.1 over a fresh store with two DAGs, and a raw HTTP client.

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

namespace sluice::api_test {


using nlohmann::json;

inline const char* kOrdersYaml = R"(dag: orders
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

inline const char* kAdhocYaml = R"(dag: adhoc
schedule: null
start_date: 2026-01-01
tasks:
  - id: only
    type: shell
    command: echo only
)";

inline Timestamp at(const std::string& iso) { return *parse_timestamp(iso); }

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
inline RawResponse raw_http(int port, const std::string& request, size_t max_bytes) {
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

}  // namespace sluice::api_test
