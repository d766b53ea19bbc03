// Secrets never leave Sluice. A DAG's tasks print every configured secret
// (whole, split across output flushes, in `::output` values, in errors, past
// the size at which a log chunk is stored early); then every channel a user
// or a receiver sees is searched for each secret: CLI commands plain and
// --json, API endpoints (log slices of many sizes), webhook bodies, the
// processes' own logs and the store's contents. Real `sluice standalone`,
// real HTTP on 127.0.0.1.
#include <gtest/gtest.h>
#include <httplib.h>

#include <csignal>
#include <map>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <string>
#include <tuple>
#include <vector>

#include "core/store.h"
#include "tests/core/store_test_util.h"
#include "tests/test_util.h"

namespace sluice {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::TempDir;

// Each secret is distinctive, so that any of them found anywhere is a leak.
const std::string kPassword = "Post@Secret42";      // a raw '@' in a connection's password
const std::string kToken = "TokSecret77abc";         // an HTTP connection's token
const std::string kHeader = "HdrSecret55xyz";        // a secret-looking header's value
const std::string kAlertsSecret = "AlertSecret99qq";  // alerts.secret, from the environment
const std::string kApiToken = "ApiTokenSecret31zz";  // SLUICE_API_TOKEN
const std::string kDagSecret = "DagYamlSecret64";    // alerts.secret written in a DAG file
const std::string kConnUrl = "postgresql://etl:" + kPassword + "@127.0.0.1:1/dw";

/// What no channel may show: each secret, and the tail of the '@' password
/// (what a masker that stops at the first '@' leaves behind).
std::vector<std::string> needles(bool with_dag_secret) {
  std::vector<std::string> out = {kPassword, "Secret42", kToken, kHeader, kAlertsSecret,
                                  kApiToken};
  if (with_dag_secret) out.push_back(kDagSecret);
  return out;
}

const char* kLeakyDag = R"(dag: leaky
schedule: null
start_date: 2026-01-01
tasks:
  - id: leak
    type: shell
    command: |
      echo "conn $SLUICE_CONN_WH"
      echo "token $TEST_TOKEN header $TEST_HEADER alerts $SLUICE_ALERTS_SECRET api $SLUICE_API_TOKEN"
      echo "::output url=$SLUICE_CONN_WH"
      echo "::output token=$TEST_TOKEN"
      printf 'split %s' "$PW_HEAD"; sleep 1.1; printf '%s and %s' "$PW_TAIL" "$TOK_HEAD"
      sleep 1.1; printf '%s done\n' "$TOK_TAIL"
  - id: big
    type: shell
    command: |
      i=0
      while [ $i -lt 4000 ]; do
        echo "line $i $SLUICE_API_TOKEN $TEST_HEADER $SLUICE_CONN_WH padding padding padding"
        i=$((i+1))
      done
  - id: fails
    type: shell
    command: 'echo "login failed for $SLUICE_CONN_WH with token $TEST_TOKEN" >&2; exit 3'
    retries: 1
    retry_delay: 100ms
  - id: sql_error
    type: sql
    conn: wh
    sql: SELECT 1
)";

const char* kSignedDag = R"(dag: signed
schedule: null
start_date: 2026-01-01
alerts:
  webhook: "{{ env.TEST_HOOK }}"
  secret: DagYamlSecret64
  on: [success]
tasks:
  - id: echo_it
    type: shell
    command: 'echo "the key is $DAG_SECRET"'
)";

/// One place a user or a receiver can see, and what it showed.
struct Channel {
  std::string name;
  std::string text;
  bool may_hold_dag_secret = false;  // the store keeps a DAG file as written
};

class SecretMaskingTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    store_ = testing::make_test_store(GetParam());
    url_ = testing::last_test_store_url(GetParam());
    hook_port_ = receiver_.start();
    ASSERT_GT(hook_port_, 0);
    web_port_ = testing::free_port();
    std::string hook = "http://127.0.0.1:" + std::to_string(hook_port_) + "/hook";
    dir_.write("sluice.yaml", "db: \"" + url_ + "\"\ndags: dags\n" +
                                  "connections:\n  api: {url: \"https://api.example.com\", token: " +
                                  kToken + ", headers: {X-Api-Key: " + kHeader + "}}\n" +
                                  "alerts:\n  webhook: " + hook +
                                  "\n  on: [failure, retry, task_failure, success]\n"
                                  "worker: {heartbeat_interval: 200ms}\n"
                                  "scheduler: {dag_scan_interval: 200ms}\n");
    dir_.write("dags/leaky.yaml", kLeakyDag);
    dir_.write("dags/signed.yaml", kSignedDag);
    env_ = {{"SLUICE_CONN_WH", kConnUrl},
            {"SLUICE_ALERTS_SECRET", kAlertsSecret},
            {"SLUICE_API_TOKEN", kApiToken},
            {"SLUICE_ALERTS_FIRST_BACKOFF", "200ms"},
            {"TEST_TOKEN", kToken},
            {"TEST_HEADER", kHeader},
            {"TEST_HOOK", hook},
            {"DAG_SECRET", kDagSecret},
            // The pieces of secrets a task prints in separate flushes.
            {"PW_HEAD", kPassword.substr(0, 8)},
            {"PW_TAIL", kPassword.substr(8)},
            {"TOK_HEAD", kToken.substr(0, 9)},
            {"TOK_TAIL", kToken.substr(9)},
            {"TMPDIR", dir_.path()}};
  }

  testing::CommandOutput sluice(const std::vector<std::string>& args) {
    return testing::run_sluice(args, dir_.path(), env_);
  }

  /// Runs a CLI command plain and with --json; both outputs are channels.
  void add_command(const std::vector<std::string>& args) {
    for (bool as_json : {false, true}) {
      std::vector<std::string> full = args;
      if (as_json) full.push_back("--json");
      testing::CommandOutput result = sluice(full);
      std::string name = "sluice";
      for (const std::string& a : full) name += " " + a;
      channels_.push_back({name, result.out + "\n" + result.err});
    }
  }

  httplib::Result api(const std::string& path) {
    httplib::Client client("127.0.0.1", web_port_);
    client.set_bearer_token_auth(kApiToken);
    client.set_read_timeout(10, 0);
    return client.Get(path);
  }

  /// GET `path` as a channel; returns the body.
  std::string add_api(const std::string& path) {
    auto res = api(path);
    std::string body = res ? res->body : "no answer: " + httplib::to_string(res.error());
    channels_.push_back({"GET " + path, body});
    return body;
  }

  /// Reads a task's whole log through the API in slices of `size` bytes and
  /// adds the slices put together as one channel.
  void add_log_in_slices(const std::string& base, int64_t size) {
    std::string joined;
    int64_t offset = 0;
    for (int i = 0; i < 100000; ++i) {
      auto res = api(base + "?offset=" + std::to_string(offset) + "&limit=" + std::to_string(size));
      if (!res || res->status != 200) {
        joined += "\nfailed at offset " + std::to_string(offset);
        break;
      }
      json slice = json::parse(res->body, nullptr, false);
      joined += slice.value("data", "");
      int64_t next = slice.value("next_offset", offset);
      if (next == offset) break;
      offset = next;
    }
    channels_.push_back({"GET " + base + " in slices of " + std::to_string(size), joined});
  }

  std::string run_id_of(const std::string& dag) {
    auto result = sluice({"runs", "show", dag, "latest", "--json"});
    json j = json::parse(result.out, nullptr, false);
    return j.is_discarded() ? "" : j.value("run_id", "");
  }

  bool run_finished(const std::string& dag) {
    auto result = sluice({"runs", "show", dag, "latest", "--json"});
    json j = json::parse(result.out, nullptr, false);
    if (j.is_discarded()) return false;
    std::string state = j.value("state", "");
    return state == "success" || state == "failed";
  }

  /// Everything the store holds, as text.
  std::string store_contents() {
    if (GetParam() == "sqlite") {
      std::string path = url_.substr(std::string("sqlite://").size());
      path = path.substr(0, path.find('?'));
      return testing::read_file(path) + testing::read_file(path + "-wal");
    }
    std::string out;
    pqxx::connection conn(url_);
    pqxx::nontransaction tx(conn);
    std::map<std::string, std::vector<std::string>> columns;
    for (const auto& row : tx.exec(
             "SELECT table_name, column_name, data_type FROM information_schema.columns "
             "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position")) {
      std::string column = tx.quote_name(row[1].as<std::string>());
      columns[row[0].as<std::string>()].push_back(row[2].as<std::string>() == "bytea"
                                                      ? "encode(" + column + ", 'escape')"
                                                      : column + "::text");
    }
    for (const auto& [table, exprs] : columns) {
      std::string select;
      for (const std::string& e : exprs) select += (select.empty() ? "" : ", ") + e;
      for (const auto& row : tx.exec("SELECT " + select + " FROM " + tx.quote_name(table))) {
        for (const auto& field : row) out += std::string(field.c_str()) + "\n";
      }
    }
    return out;
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
  std::string url_;
  testing::WebhookReceiver receiver_;
  int hook_port_ = 0;
  int web_port_ = 0;
  std::map<std::string, std::string> env_;
  std::vector<Channel> channels_;
};

TEST_P(SecretMaskingTest, NoChannelShowsAnySecret) {
  // given a standalone Sluice whose tasks print every configured secret
  auto standalone = std::make_unique<testing::Process>(
      testing::sluice_argv({"standalone", "--port", std::to_string(web_port_), "--slots", "4"}),
      dir_.path(), dir_.file("standalone.log"), env_);
  auto process_log = [&] {
    return "standalone " + standalone->status_text() + ", its log:\n" +
           testing::read_file(dir_.file("standalone.log"));
  };
  ASSERT_TRUE(testing::wait_until(
      [&] { return store_->get_dag("leaky").has_value() && store_->get_dag("signed").has_value(); },
      30s))
      << process_log();
  ASSERT_TRUE(testing::wait_until([&] { return api("/healthz") != nullptr; }, 10s))
      << process_log();
  ASSERT_EQ(sluice({"trigger", "leaky"}).exit_code, 0);
  ASSERT_EQ(sluice({"trigger", "signed"}).exit_code, 0);
  ASSERT_TRUE(testing::wait_until([&] { return run_finished("leaky") && run_finished("signed"); },
                                  60s))
      << process_log();
  // failure (the run), retry and task_failure (fails), task_failure (sql_error), success (signed)
  ASSERT_TRUE(testing::wait_until(
      [&] { return receiver_.hits().size() >= 5 && store_->list_alerts(true, 100).empty(); }, 30s))
      << process_log();
  const std::string leaky_run = run_id_of("leaky");
  const std::string signed_run = run_id_of("signed");

  // when every channel is read
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"dags", "list"},
           {"dags", "show", "leaky"},
           {"dags", "show", "signed"},
           {"dags", "validate"},
           {"runs", "list"},
           {"runs", "show", "leaky", "latest"},
           {"runs", "show", "signed", "latest"},
           {"tasks", "logs", "leaky", "latest", "leak"},
           {"tasks", "logs", "leaky", "latest", "big"},
           {"tasks", "logs", "leaky", "latest", "fails"},
           {"tasks", "logs", "leaky", "latest", "fails", "--try", "1"},
           {"tasks", "logs", "leaky", "latest", "sql_error"},
           {"tasks", "logs", "signed", "latest", "echo_it"},
           {"tasks", "test", "leaky", "leak"},
           {"tasks", "test", "leaky", "sql_error"},
           {"tasks", "test", "signed", "echo_it"},
           {"alerts", "list"},
           {"sla", "list"},
           {"workers", "list"},
           {"backfill", "list"},
           {"db", "status"},
           // a database URL whose password holds a raw '@', and one that is a secret by mistake
           {"runs", "list", "--db", "postgresql://u:" + kPassword + "@127.0.0.1:1/x"},
           {"runs", "list", "--db", kApiToken},
       }) {
    add_command(args);
  }
  add_command({"dags", "test", "leaky"});
  add_api("/healthz");
  add_api("/metrics");
  add_api("/api/v1/dags");
  add_api("/api/v1/dags/leaky");
  add_api("/api/v1/dags/signed");
  add_api("/api/v1/dags/leaky/grid");
  add_api("/api/v1/import-errors");
  add_api("/api/v1/runs");
  add_api("/api/v1/dags/leaky/runs");
  add_api("/api/v1/workers");
  add_api("/api/v1/schedulers");
  add_api("/api/v1/alerts");
  add_api("/api/v1/pools");
  add_api("/api/v1/sla-misses");
  add_api("/api/v1/backfills");
  for (const auto& [dag, run, tasks] :
       std::vector<std::tuple<std::string, std::string, std::vector<std::string>>>{
           {"leaky", leaky_run, {"leak", "big", "fails", "sql_error"}},
           {"signed", signed_run, {"echo_it"}}}) {
    std::string base = "/api/v1/dags/" + dag + "/runs/" + run;
    add_api(base);
    add_api(base + "/tasks");
    for (const std::string& task : tasks) {
      add_api(base + "/tasks/" + task);
      add_api(base + "/tasks/" + task + "/logs");
      add_api(base + "/tasks/" + task + "/logs?try=1");
      add_log_in_slices(base + "/tasks/" + task + "/logs", task == "big" ? 4093 : 10);
      if (task != "big") add_log_in_slices(base + "/tasks/" + task + "/logs", 7);
    }
  }
  for (const auto& hit : receiver_.hits()) channels_.push_back({"webhook body", hit.raw});
  standalone->kill(SIGTERM);
  standalone->wait(20s);
  channels_.push_back({"standalone's log", process_log()});
  channels_.push_back({"the store", store_contents(), /*may_hold_dag_secret=*/true});

  // then no channel shows any secret
  std::vector<std::string> leaks;
  for (const Channel& channel : channels_) {
    for (const std::string& needle : needles(!channel.may_hold_dag_secret)) {
      size_t at = channel.text.find(needle);
      if (at == std::string::npos) continue;
      size_t from = at < 80 ? 0 : at - 80;
      leaks.push_back(channel.name + ": '" + needle + "' in ..." +
                      channel.text.substr(from, needle.size() + 160) + "...");
    }
  }
  EXPECT_TRUE(leaks.empty()) << leaks.size() << " leaks in " << channels_.size()
                             << " channels:\n" << [&] {
                                  std::string all;
                                  for (const std::string& l : leaks) all += l + "\n\n";
                                  return all;
                                }();

  // and the output is there, masked: the secret split across flushes too
  std::map<std::string, std::string> by_name;
  for (const Channel& channel : channels_) by_name[channel.name] += channel.text;
  const std::string leak_log = by_name["sluice tasks logs leaky latest leak"];
  EXPECT_NE(leak_log.find("conn postgresql://etl:***@127.0.0.1:1/dw"), std::string::npos)
      << leak_log;
  EXPECT_NE(leak_log.find("split *** and *** done"), std::string::npos) << leak_log;
  json run = json::parse(sluice({"runs", "show", "leaky", "latest", "--json"}).out, nullptr, false);
  ASSERT_FALSE(run.is_discarded());
  for (const json& task : run["tasks"]) {
    if (task["task_id"] != "leak") continue;
    EXPECT_EQ(task["outputs"]["url"], "postgresql://etl:***@127.0.0.1:1/dw") << task;
    EXPECT_EQ(task["outputs"]["token"], "***") << task;
  }
  EXPECT_GT(by_name["GET /api/v1/dags/leaky/runs/" + leaky_run + "/tasks/big/logs in slices of 4093"]
                .size(),
            256u * 1024);
  EXPECT_NE(by_name["sluice dags validate"].find("alerts.secret holds the key itself"),
            std::string::npos)
      << by_name["sluice dags validate"];
}

INSTANTIATE_TEST_SUITE_P(Backends, SecretMaskingTest, ::testing::Values("sqlite", "postgres"));

}  // namespace
}  // namespace sluice
