// The API server as an HTTP server: the UI and its headers, compression,
// ranges, body limits, cross-site and host checks, tokens and sessions.

#include "tests/web/api_test_fixture.h"

namespace sluice::api_test {
namespace {

TEST_F(ApiTest, ServesTheUiWithAStrictContentSecurityPolicy) {
  auto index = get("/");
  ASSERT_EQ(index->status, 200);
  EXPECT_NE(index->get_header_value("Content-Type").find("text/html"), std::string::npos);
  EXPECT_NE(index->get_header_value("Content-Security-Policy").find("script-src 'self'"),
            std::string::npos);
  EXPECT_NE(index->body.find("ui.js"), std::string::npos);
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
}  // namespace sluice::api_test
