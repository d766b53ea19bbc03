// The API's shared conventions over a real socket: every list pages with
// limit/offset and counts in X-Total-Count, lists filter by dag_id, a method
// a path does not take is 405 with Allow, a browser gets an HTML 404, and a
// bare POST without Content-Length is a request like any other.

#include <set>

#include "tests/web/api_test_fixture.h"
#include "web/api_routes.h"

namespace sluice::api_test {
namespace {

/// Records an SLA miss of `task_id` in run `run_id` of `dag_id`, with its
/// alert in the outbox.
void record_miss(Store& store, Timestamp now, const std::string& dag_id, const std::string& run_id,
                 const std::string& task_id) {
  store.arm_sla_timer({0, dag_id, run_id, task_id, "sla", now});
  for (const SlaTimer& timer : store.due_sla_timers(now, 100)) {
    if (timer.dag_id != dag_id || timer.run_id != run_id || timer.task_id != task_id) continue;
    SlaMissRecord miss{0, dag_id, run_id, task_id, "sla", timer.due_at, now, false};
    AlertEvent alert{"sla_miss", dag_id, run_id, task_id, json{{"event", "sla_miss"}}};
    ASSERT_TRUE(store.fire_sla_timer(timer.id, miss, alert, now));
  }
}

std::string error_of(const httplib::Result& res) {
  return json::parse(res->body).value("error", std::string());
}

TEST_F(ApiTest, BarePauseWithoutBodyOrContentLengthIsAccepted) {
  // curl -X POST sends no Content-Length and no body.
  for (const std::string method : {"POST", "PATCH"}) {
    for (const auto& [action, paused] : {std::pair{"pause", true}, std::pair{"unpause", false}}) {
      RawResponse res =
          raw_http(port_,
                   method + " /api/v1/dags/orders/" + action + " HTTP/1.1\r\nHost: " + host_ +
                       "\r\nConnection: close\r\n\r\n",
                   1 << 20);
      ASSERT_EQ(res.status, 200) << method << " " << action << ": " << res.body;
      EXPECT_EQ(json::parse(res.body)["paused"], paused);
      EXPECT_EQ(store_->get_dag("orders")->paused, paused) << method << " " << action;
    }
  }
  // Kept alive, the request after a bodyless one is read as the next request.
  RawResponse two = raw_http(port_,
                             "POST /api/v1/dags/orders/pause HTTP/1.1\r\nHost: " + host_ +
                                 "\r\n\r\nGET /api/v1/dags/adhoc HTTP/1.1\r\nHost: " + host_ +
                                 "\r\nConnection: close\r\n\r\n",
                             1 << 20);
  ASSERT_EQ(two.status, 200) << two.body;
  size_t second = two.body.find("HTTP/1.1 200 OK\r\n");
  ASSERT_NE(second, std::string::npos) << two.body;
  EXPECT_NE(two.body.find("\"dag_id\":\"adhoc\"", second), std::string::npos) << two.body;
}

TEST_F(ApiTest, ListsPageWithLimitAndOffsetAndCountInXTotalCount) {
  for (int i = 0; i < 3; ++i) {
    clock_.advance(std::chrono::minutes(1));
    trigger("orders");
  }
  trigger("adhoc");
  auto page = [&](const std::string& path) {
    auto res = get(path);
    EXPECT_EQ(res->status, 200) << path << ": " << res->body;
    EXPECT_TRUE(res->has_header("X-Total-Count")) << path;
    return std::pair{body(res), std::stoi(res->get_header_value("X-Total-Count"))};
  };
  // Sliced by the route: the DAG list.
  auto [dags, dag_count] = page("/api/v1/dags?limit=1&offset=1");
  EXPECT_EQ(dag_count, 2);
  ASSERT_EQ(dags.size(), 1u);
  EXPECT_EQ(dags[0]["dag_id"], "orders") << "adhoc comes first";
  EXPECT_EQ(page("/api/v1/dags").first.size(), 2u) << "no limit: the whole list";
  EXPECT_EQ(page("/api/v1/dags?offset=5").first, json::array());

  // Paged in the store: runs.
  auto [runs, run_count] = page("/api/v1/runs?dag_id=orders&limit=2&offset=1");
  EXPECT_EQ(run_count, 3);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(page("/api/v1/dags/orders/runs?limit=1").second, 3);
  EXPECT_EQ(page("/api/v1/runs").second, 4);

  // A run's task instances.
  std::string run_id = runs[0]["run_id"];
  auto [tasks, task_count] = page("/api/v1/dags/orders/runs/" + run_id + "/tasks?limit=2");
  EXPECT_EQ(task_count, 3);
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(page("/api/v1/dags/orders/runs/" + run_id + "/tasks?offset=2").first.size(), 1u);

  // Alerts and SLA misses, filtered by DAG.
  record_miss(*store_, clock_.now(), "orders", run_id, "extract");
  record_miss(*store_, clock_.now(), "orders", run_id, "load");
  std::string adhoc_run = body(get("/api/v1/runs?dag_id=adhoc"))[0]["run_id"].get<std::string>();
  record_miss(*store_, clock_.now(), "adhoc", adhoc_run, "only");
  EXPECT_EQ(page("/api/v1/alerts").second, 3);
  auto [alerts, alert_count] = page("/api/v1/alerts?dag_id=orders&limit=1");
  EXPECT_EQ(alert_count, 2);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0]["dag_id"], "orders");
  auto [misses, miss_count] = page("/api/v1/sla-misses?dag_id=adhoc");
  EXPECT_EQ(miss_count, 1);
  ASSERT_EQ(misses.size(), 1u);
  EXPECT_EQ(misses[0]["dag_id"], "adhoc");
  EXPECT_EQ(page("/api/v1/sla-misses?dag=orders").second, 2) << "dag, the older name, still works";
  EXPECT_EQ(page("/api/v1/sla-misses?offset=2").first.size(), 1u);
}

TEST_F(ApiTest, EveryListRouteTakesLimitAndOffsetAndNamesTheBadOne) {
  std::string run_id = trigger("orders");
  // Each list route of the table, with its path's ids filled in.
  const std::map<std::string, std::string> ids = {
      {"{dag_id}", "orders"}, {"{run_id}", run_id}, {"{task_id}", "extract"}};
  int lists = 0;
  for (const ApiRoute& route : server_->routes().routes()) {
    if (route.paging == Paging::kNone) continue;
    ASSERT_EQ(route.method, "GET") << route.path;
    ++lists;
    std::string path = route.path;
    for (const auto& [name, value] : ids) {
      for (size_t at = path.find(name); at != std::string::npos; at = path.find(name)) {
        path.replace(at, name.size(), value);
      }
    }
    auto res = get(path + "?limit=1&offset=0");
    ASSERT_EQ(res->status, 200) << path << ": " << res->body;
    EXPECT_TRUE(body(res).is_array()) << path;
    EXPECT_LE(body(res).size(), 1u) << path;
    ASSERT_TRUE(res->has_header("X-Total-Count")) << path;
    EXPECT_GE(std::stoi(res->get_header_value("X-Total-Count")), static_cast<int>(body(res).size()))
        << path;
    for (const std::string bad : {"limit=0", "limit=abc", "limit=1001", "offset=-1", "offset=x"}) {
      auto refused = get(path + "?" + bad);
      EXPECT_EQ(refused->status, 400) << path << "?" << bad;
      std::string name = bad.substr(0, bad.find('='));
      EXPECT_EQ(error_of(refused).rfind(name + " must be", 0), 0u)
          << path << "?" << bad << ": " << refused->body;
    }
  }
  // dags, import-errors, runs (both), workers, schedulers, alerts, pools,
  // sla-misses, backfills, a run's tasks, a DAG's checks, a task's checks,
  // each DAG's last run.
  EXPECT_EQ(lists, 14);
}

TEST_F(ApiTest, DagIdFiltersNameAnUnknownDagWithA404) {
  trigger("orders");
  for (const std::string list :
       {"/api/v1/runs", "/api/v1/alerts", "/api/v1/sla-misses", "/api/v1/backfills"}) {
    auto res = get(list + "?dag_id=orderz");
    ASSERT_EQ(res->status, 404) << list << ": " << res->body;
    EXPECT_EQ(error_of(res), "no DAG 'orderz' (did you mean 'orders'?)") << list;
  }
  EXPECT_EQ(error_of(get("/api/v1/dags/orderz/runs")), "no DAG 'orderz' (did you mean 'orders'?)");
  EXPECT_EQ(get("/api/v1/sla-misses?dag=orderz")->status, 404);
  auto only = get("/api/v1/runs?dag_id=adhoc");
  ASSERT_EQ(only->status, 200);
  EXPECT_EQ(body(only), json::array());
  EXPECT_EQ(only->get_header_value("X-Total-Count"), "0");
}

TEST_F(ApiTest, AMethodAPathDoesNotTakeIs405WithAllow) {
  struct Case {
    std::string method, path, allow;
  };
  for (const Case& c : {Case{"PUT", "/api/v1/dags", "GET, HEAD"},
                        Case{"DELETE", "/api/v1/dags/orders", "GET, HEAD, PATCH"},
                        Case{"GET", "/api/v1/dags/orders/pause", "PATCH, POST"},
                        Case{"POST", "/api/v1/backfills/7", "GET, HEAD"},
                        Case{"PUT", "/api/v1/session", "DELETE, GET, HEAD, POST"},
                        Case{"POST", "/healthz", "GET, HEAD"}}) {
    RawResponse res = raw_http(port_,
                               c.method + " " + c.path + " HTTP/1.1\r\nHost: " + host_ +
                                   "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                               1 << 20);
    EXPECT_EQ(res.status, 405) << c.method << " " << c.path << ": " << res.body;
    EXPECT_EQ(res.headers["allow"], c.allow) << c.method << " " << c.path;
    EXPECT_EQ(res.headers["content-type"], "application/json; charset=utf-8") << c.path;
    EXPECT_EQ(json::parse(res.body)["error"],
              c.method + " is not allowed on " + c.path + ": use " + c.allow);
  }
  // Unknown paths stay 404, in JSON under /api/.
  auto unknown = client_->Put("/api/v1/nothing", "", "application/json");
  EXPECT_EQ(unknown->status, 404);
  EXPECT_EQ(error_of(unknown), "no such endpoint: PUT /api/v1/nothing");
  EXPECT_EQ(get("/api/v1/dags/orders/nothing")->status, 404);
}

TEST_F(ApiTest, UnknownPagesAreHtmlForBrowsersAndTheFaviconIsServed) {
  for (const std::string path : {"/no/such/page", "/nothing.html"}) {
    auto res = get(path);
    ASSERT_EQ(res->status, 404) << path;
    EXPECT_EQ(res->get_header_value("Content-Type"), "text/html; charset=utf-8") << path;
    EXPECT_NE(res->body.find("<a href=\"/\">"), std::string::npos) << res->body;
    EXPECT_NE(res->body.find("<code>" + path + "</code>"), std::string::npos) << res->body;
  }
  // The path is shown escaped.
  auto tricky = get("/x%3Cscript%3E");
  EXPECT_EQ(tricky->status, 404);
  EXPECT_EQ(tricky->body.find("<script>"), std::string::npos) << tricky->body;
  EXPECT_NE(tricky->body.find("&lt;script&gt;"), std::string::npos) << tricky->body;

  for (const std::string path : {"/favicon.ico", "/favicon.svg"}) {
    auto icon = get(path);
    ASSERT_EQ(icon->status, 200) << path;
    EXPECT_EQ(icon->get_header_value("Content-Type"), "image/svg+xml") << path;
    EXPECT_EQ(icon->body.rfind("<svg", 0), 0u) << path;
  }
}

TEST_F(ApiTest, CliJsonAndTheApiNameFieldsAlike) {
  std::string run_id = trigger("orders");
  auto cli = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--db", "sqlite://" + dir_.file("sluice.db"), "--dags",
                               dir_.file("dags"), "--json"});
    testing::CommandOutput out = testing::run_sluice(args, dir_.path());
    EXPECT_EQ(out.exit_code, 0) << out.err;
    return json::parse(out.out);
  };
  auto keys = [](const json& object) {
    std::set<std::string> out;
    for (auto it = object.begin(); it != object.end(); ++it) out.insert(it.key());
    return out;
  };

  // DAGs: every field of `dags list --json` is the API's, with its value,
  // but next_interval_start (kept: it is next_run.data_interval_start). The
  // next run is computed from each side's clock, so only its shape is compared.
  json cli_dags = cli({"dags", "list"})["dags"];
  json api_dags = body(get("/api/v1/dags"));
  ASSERT_EQ(cli_dags.size(), api_dags.size());
  for (size_t i = 0; i < cli_dags.size(); ++i) {
    const json& mine = cli_dags[i];
    const json& api = api_dags[i];
    ASSERT_EQ(mine["dag_id"], api["dag_id"]);
    for (const std::string& key : keys(mine)) {
      if (key == "next_interval_start") {
        EXPECT_EQ(mine[key].is_null(), mine["next_run"].is_null());
        if (!mine[key].is_null()) EXPECT_EQ(mine[key], mine["next_run"]["data_interval_start"]);
        continue;
      }
      ASSERT_TRUE(api.contains(key)) << "the CLI's DAG field '" << key << "' is not the API's";
      if (key == "next_run") {
        EXPECT_EQ(mine[key].is_null(), api[key].is_null()) << mine["dag_id"];
        if (!mine[key].is_null()) EXPECT_EQ(keys(mine[key]), keys(api[key]));
      } else {
        EXPECT_EQ(mine[key], api[key]) << mine["dag_id"] << " " << key;
      }
    }
    EXPECT_TRUE(mine.contains("next_run")) << "next_run, as the API names it";
  }

  // Runs: the same objects in list and show.
  json cli_runs = cli({"runs", "list"});
  json api_runs = body(get("/api/v1/runs"));
  ASSERT_EQ(cli_runs.size(), 1u);
  EXPECT_EQ(cli_runs, api_runs);
  json cli_run = cli({"runs", "show", "orders", run_id});
  json api_run = body(get("/api/v1/dags/orders/runs/" + run_id));
  EXPECT_EQ(keys(cli_run), keys(api_run));
  EXPECT_EQ(cli_run["timezone"], "Europe/Berlin");
  EXPECT_EQ(cli_run["run_id"], api_run["run_id"]);
}

}  // namespace
}  // namespace sluice::api_test
