// http_get against real local servers on 127.0.0.1.

#include "worker/http_fetch.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>

#include "core/error.h"

namespace sluice {
namespace {

/// An httplib server on a free port of 127.0.0.1, served from a thread.
class LocalServer {
 public:
  LocalServer() {
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!server_.is_running() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
  }
  ~LocalServer() {
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

/// The credential headers a request arrived with.
struct Seen {
  std::mutex mutex;
  std::string authorization, cookie, api_key;
  int requests = 0;
  void record(const httplib::Request& req) {
    std::lock_guard<std::mutex> lock(mutex);
    authorization = req.get_header_value("Authorization");
    cookie = req.get_header_value("Cookie");
    api_key = req.get_header_value("X-Api-Key");
    ++requests;
  }
};

HttpFetchOptions with_credentials() {
  HttpFetchOptions options;
  options.headers = {
      {"Authorization", "Bearer tok-123"}, {"Cookie", "session=abc"}, {"X-Api-Key", "key-456"}};
  options.max_attempts = 1;
  options.timeout = std::chrono::seconds(5);
  return options;
}

TEST(HttpFetchTest, OriginOfSpellsOutTheDefaultPort) {
  EXPECT_EQ(origin_of("HTTPS://Api.Example/x?y"), "https://api.example:443");
  EXPECT_EQ(origin_of("http://api.example:80"), "http://api.example:80");
  EXPECT_EQ(origin_of("http://api.example"), "http://api.example:80");
  EXPECT_EQ(origin_of("http://[::1]:8080/"), "http://[::1]:8080");
  EXPECT_NE(origin_of("http://api.example"), origin_of("https://api.example"));
  EXPECT_NE(origin_of("http://api.example:8080"), origin_of("http://api.example:8081"));
}

TEST(HttpFetchTest, SameOriginRedirectKeepsTheHeaders) {
  LocalServer a;
  Seen seen;
  a.server().Get("/old", [](const httplib::Request&, httplib::Response& res) {
    res.set_redirect("/new?x=1", 301);
  });
  a.server().Get("/new", [&](const httplib::Request& req, httplib::Response& res) {
    seen.record(req);
    res.set_content("[1]", "application/json");
  });
  HttpResponse response = http_get(a.url("/old"), with_credentials());
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "[1]");
  EXPECT_EQ(seen.authorization, "Bearer tok-123");
  EXPECT_EQ(seen.cookie, "session=abc");
  EXPECT_EQ(seen.api_key, "key-456");
}

TEST(HttpFetchTest, RedirectToAnotherOriginDropsCredentials) {
  // given a redirect from one port to another (another origin), and from
  // there back to the first one
  LocalServer a;
  LocalServer b;
  Seen seen_b;
  Seen seen_back;
  a.server().Get("/start", [&](const httplib::Request&, httplib::Response& res) {
    res.set_redirect(b.url("/elsewhere"), 302);
  });
  b.server().Get("/elsewhere", [&](const httplib::Request& req, httplib::Response& res) {
    seen_b.record(req);
    res.set_redirect(a.url("/back"), 307);
  });
  a.server().Get("/back", [&](const httplib::Request& req, httplib::Response& res) {
    seen_back.record(req);
    res.set_content("{\"ok\": true}", "application/json");
  });

  HttpResponse response = http_get(a.url("/start"), with_credentials());

  // then neither the other origin nor the way back sees a credential
  EXPECT_EQ(response.body, "{\"ok\": true}");
  EXPECT_EQ(seen_b.requests, 1);
  EXPECT_EQ(seen_b.authorization, "");
  EXPECT_EQ(seen_b.cookie, "");
  EXPECT_EQ(seen_b.api_key, "");
  EXPECT_EQ(seen_back.requests, 1);
  EXPECT_EQ(seen_back.authorization, "");
  EXPECT_EQ(seen_back.api_key, "");
}

TEST(HttpFetchTest, EndlessRedirectsFail) {
  LocalServer a;
  a.server().Get("/loop", [](const httplib::Request&, httplib::Response& res) {
    res.set_redirect("loop", 302);
  });
  try {
    http_get(a.url("/loop"), with_credentials());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("more than 10 redirects"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sluice
