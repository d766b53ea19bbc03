#include "web/server.h"

#include <algorithm>
#include <chrono>
#include <map>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/text.h"
#include "web/api.h"
#include "web/api_routes.h"
#include "web/assets.h"
#include "web/host_allowlist.h"
#include "web/http_body.h"
#include "web/request_router.h"
#include "web/sessions.h"

namespace sluice {

namespace {

constexpr const char* kSessionCookie = "sluice_session";

std::string sha256_hex(const std::string& text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : digest) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

/// Compares secrets in time independent of where they differ: both sides are
/// hashed first, so even their lengths do not leak.
bool secret_equals(const std::string& given, const std::string& expected) {
  std::string a = sha256_hex(given);
  std::string b = sha256_hex(expected);
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string cookie_value(const httplib::Request& req, const std::string& name) {
  std::string header = req.get_header_value("Cookie");
  for (const std::string& part : split(header, ';')) {
    std::string_view item = trim(part);
    if (item.size() > name.size() && item.substr(0, name.size()) == name &&
        item[name.size()] == '=') {
      return std::string(item.substr(name.size() + 1));
    }
  }
  return "";
}

/// "host:port" of an origin or URL ("http://h:1/x" -> "h:1"), lower-cased.
std::string authority_of(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return "";
  std::string rest = url.substr(scheme + 3);
  size_t end = rest.find_first_of("/?#");
  if (end != std::string::npos) rest.resize(end);
  return to_lower(rest);
}

bool is_mutating(const std::string& method) {
  return method == "POST" || method == "PATCH" || method == "PUT" || method == "DELETE";
}

const char* content_type_of(const std::string& name) {
  if (ends_with(name, ".html")) return "text/html; charset=utf-8";
  if (ends_with(name, ".js")) return "text/javascript; charset=utf-8";
  if (ends_with(name, ".css")) return "text/css; charset=utf-8";
  if (ends_with(name, ".svg")) return "image/svg+xml";
  if (ends_with(name, ".json")) return "application/json";
  return "application/octet-stream";
}

/// Makes httplib forget the request's `Range:`. httplib 0.11 slices every
/// response by it without bounding the range to the body: a sized content
/// provider was asked for bytes past its end (a heap over-read, sent with a
/// made-up Content-Length). Sluice serves small files and JSON, so it ignores
/// ranges, as RFC 9110 allows, and answers with the whole body. The hooks that
/// run before httplib applies ranges only get a const Request, but the object
/// is httplib's own non-const one for this request, so clearing it is well
/// defined.
void ignore_ranges(const httplib::Request& req) {
  const_cast<httplib::Request&>(req).ranges.clear();
}

/// 429 for a client that guessed too many wrong tokens.
void send_throttled(httplib::Response& res, Millis wait) {
  auto seconds = std::chrono::ceil<std::chrono::seconds>(wait).count();
  res.set_header("Retry-After", std::to_string(std::max<int64_t>(1, seconds)));
  send_error(
      res, 429,
      "too many wrong tokens from this address: try again in " + std::to_string(seconds) + " s");
}

/// Paths whose answers are JSON (or the metrics text), never a page.
bool is_api_path(const std::string& path) {
  return starts_with(path, "/api/") || path == "/metrics" || path == "/healthz";
}

std::string html_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

/// A page a browser shows for a path that is neither the UI nor the API.
void send_not_found_page(httplib::Response& res, const std::string& path) {
  res.status = 404;
  res.set_content(
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width\">"
      "<link rel=\"icon\" href=\"/favicon.svg\"><title>Not found - Sluice</title></head>\n"
      "<body><h1>Page not found</h1><p>Sluice has no page at <code>" +
          html_escape(path) +
          "</code>.</p><p><a href=\"/\">Go to the DAG list</a></p></body></html>\n",
      "text/html; charset=utf-8");
}

void set_security_headers(httplib::Response& res) {
  // Only our own files may run or load: an injected <script> would not execute
  // even if some value slipped past the UI's escaping.
  res.set_header("Content-Security-Policy",
                 "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                 "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
                 "form-action 'self'");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("X-Frame-Options", "DENY");
  res.set_header("Referrer-Policy", "same-origin");
}

}  // namespace

WebServer::WebServer(Store& store, DagCache& dags, const Config& config, const Clock& clock)
    : config_(config),
      api_(std::make_unique<Api>(store, dags, config, clock)),
      routes_(std::make_unique<RouteTable>()),
      allowed_hosts_(std::make_unique<HostAllowList>(config.web)),
      sessions_(std::make_unique<SessionStore>(clock)),
      throttle_(std::make_unique<LoginThrottle>(clock)),
      server_(std::make_unique<RequestRouter>()) {
  install_routes();
}

WebServer::~WebServer() { stop(); }

void WebServer::install_routes() {
  httplib::Server& server = *server_;
  server.set_payload_max_length(kMaxBodyBytes);
  server.set_post_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    bool mutating = req.method == "POST" || req.method == "PUT" || req.method == "PATCH" ||
                    req.method == "DELETE";
    if (on_change_ && mutating && res.status >= 200 && res.status < 300 &&
        req.path.rfind("/api/", 0) == 0) {
      on_change_();
    }
  });

  const std::string token = config_.web.api_token;
  const std::string base_authority = authority_of(config_.web.base_url);

  // Runs before routing and before the body is read: refusals cost nothing.
  const HostAllowList& allowed_hosts = *allowed_hosts_;
  SessionStore& sessions = *sessions_;
  LoginThrottle& throttle = *throttle_;
  server.set_pre_routing_handler([token, base_authority, &allowed_hosts, &sessions, &throttle](
                                     const httplib::Request& req, httplib::Response& res) {
    ignore_ranges(req);
    set_security_headers(res);
    // DNS rebinding: a page on another name that resolves to this machine
    // reaches it as same-origin, and only the Host it names gives it away.
    std::string host_header = req.get_header_value("Host");
    if (!allowed_hosts.allows(host_header)) {
      std::string host = host_of_authority(host_header);
      send_error(res, 403,
                 "requests for host '" + (host.empty() ? "?" : host) +
                     "' are refused: this server answers to localhost, its loopback addresses, "
                     "the address it binds, the host of web.base_url and the hosts listed in "
                     "web.allowed_hosts in sluice.yaml");
      return httplib::Server::HandlerResponse::Handled;
    }
    bool api = starts_with(req.path, "/api/");
    bool metrics = req.path == "/metrics";
    if (!api && !metrics) return httplib::Server::HandlerResponse::Unhandled;
    res.set_header("Cache-Control", "no-store");

    // CSRF: a browser sends Origin (or at least Referer) with a cross-site
    // request; it must name this server. Clients that send neither (curl,
    // scripts) are not browsers and cannot be tricked into a request.
    if (is_mutating(req.method)) {
      std::string source;
      if (req.has_header("Origin")) {
        source = req.get_header_value("Origin");
      } else if (req.has_header("Referer")) {
        source = req.get_header_value("Referer");
      }
      if (!source.empty() || req.has_header("Origin")) {
        std::string from = authority_of(source);
        std::string host = to_lower(req.get_header_value("Host"));
        bool same = !from.empty() && (from == host || (!base_authority.empty() && from == base_authority));
        if (!same) {
          send_error(res, 403,
                     "cross-site request refused: Origin '" + source +
                         "' does not match this server (" + host + ")");
          return httplib::Server::HandlerResponse::Handled;
        }
      }
    }

    // The session endpoints log in; the API's description is public.
    if (token.empty() || req.path == "/api/v1/session" || req.path == "/api/v1/openapi.json") {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    std::string auth = req.get_header_value("Authorization");
    bool ok = false;
    if (!auth.empty()) {
      if (Millis wait = throttle.wait_for(req.remote_addr); wait > Millis(0)) {
        send_throttled(res, wait);
        return httplib::Server::HandlerResponse::Handled;
      }
      ok = starts_with(auth, "Bearer ") && secret_equals(std::string(trim(auth.substr(7))), token);
      if (!ok) throttle.failed(req.remote_addr);
    } else {
      ok = sessions.valid(cookie_value(req, kSessionCookie));
    }
    if (!ok) {
      res.set_header("WWW-Authenticate", "Bearer");
      send_error(res, 401,
                 auth.empty() ? "this API needs a token: send Authorization: Bearer TOKEN "
                                "(the value of SLUICE_API_TOKEN)"
                              : "the token is wrong");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  // The UI's login: trades the token for an HttpOnly cookie, so the page's
  // scripts never hold it.
  RouteTable& routes = *routes_;
  routes.add(
      "GET", "/api/v1/session",
      [token, &sessions](const httplib::Request& req, httplib::Response& res) {
        bool authenticated = token.empty() || sessions.valid(cookie_value(req, kSessionCookie));
        send_json(res, 200, {{"auth_required", !token.empty()}, {"authenticated", authenticated}});
      });
  const bool secure_cookie = starts_with(config_.web.base_url, "https://");
  routes.add("POST", "/api/v1/session", [token, secure_cookie, &sessions, &throttle](
                                            const httplib::Request& req, httplib::Response& res) {
    nlohmann::json body;
    try {
      body = nlohmann::json::parse(req.body);
    } catch (const nlohmann::json::exception&) {
      send_error(res, 400, "token is required: send {\"token\": \"...\"}");
      return;
    }
    if (!body.is_object() || !body.contains("token") || !body["token"].is_string()) {
      send_error(res, 400, "token is required: send {\"token\": \"...\"}");
      return;
    }
    if (token.empty()) {
      send_json(res, 200, {{"auth_required", false}, {"authenticated", true}});
      return;
    }
    if (Millis wait = throttle.wait_for(req.remote_addr); wait > Millis(0)) {
      send_throttled(res, wait);
      return;
    }
    if (!secret_equals(body["token"].get<std::string>(), token)) {
      throttle.failed(req.remote_addr);
      send_error(res, 401, "the token is wrong");
      return;
    }
    auto max_age = std::chrono::duration_cast<std::chrono::seconds>(SessionStore::kLifetime);
    res.set_header("Set-Cookie", std::string(kSessionCookie) + "=" + sessions.create() +
                                     "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" +
                                     std::to_string(max_age.count()) +
                                     (secure_cookie ? "; Secure" : ""));
    send_json(res, 200, {{"auth_required", true}, {"authenticated", true}});
  });
  routes.add("DELETE", "/api/v1/session", [&sessions](const httplib::Request& req,
                                                      httplib::Response& res) {
    sessions.end(cookie_value(req, kSessionCookie));
    res.set_header("Set-Cookie", std::string(kSessionCookie) +
                                     "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    send_json(res, 200, {{"authenticated", false}});
  });

  routes.add("GET", "/api/v1/openapi.json", [](const httplib::Request&, httplib::Response& res) {
    res.status = 200;
    set_raw_body(res, std::string(openapi_document()), "application/json", false);
  });
  api_->install(routes);
  routes.install(server);

  // The browser asks for /favicon.ico of every site: the UI's icon.
  server.Get("/favicon.ico", [](const httplib::Request&, httplib::Response& res) {
    res.status = 200;
    res.set_header("Cache-Control", "max-age=86400");
    set_raw_body(res, std::string(web_asset("favicon.svg")), "image/svg+xml", false);
  });

  // The UI: index.html for "/", the other embedded files by name.
  server.Get(R"(/([A-Za-z0-9_.-]*))", [](const httplib::Request& req, httplib::Response& res) {
    std::string name = req.matches[1];
    if (name.empty()) name = "index.html";
    for (const WebAsset& asset : web_assets()) {
      if (name == asset.name) {
        res.status = 200;
        res.set_header("Cache-Control", "no-cache");
        // Compressed once per process: the assets never change while it runs.
        static const std::map<std::string, std::string> gzipped = [] {
          std::map<std::string, std::string> out;
          for (const WebAsset& a : web_assets()) out[a.name] = gzip_compress(std::string(a.content));
          return out;
        }();
        bool gzip = accepts_gzip(req);
        set_raw_body(res, gzip ? gzipped.at(name) : std::string(asset.content),
                     content_type_of(name), gzip);
        return;
      }
    }
    res.status = 404;
  });

  server.set_error_handler([routes = routes_.get()](const httplib::Request& req, httplib::Response& res) {
    // Also reached without routing (a Range header httplib cannot parse).
    ignore_ranges(req);
    if (!res.body.empty()) return;
    if (res.status == 413) {
      send_error(res, 413,
                 "request body larger than " + std::to_string(kMaxBodyBytes) + " bytes");
    } else if (res.status == 404) {
      // A path some route takes, with a method none takes: 405, naming them.
      std::vector<std::string> allowed = routes->allowed_methods(req.path);
      if (!allowed.empty()) {
        res.set_header("Allow", join(allowed, ", "));
        send_error(res, 405,
                   req.method + " is not allowed on " + req.path + ": use " + join(allowed, ", "));
      } else if (is_api_path(req.path)) {
        send_error(res, 404, "no such endpoint: " + req.method + " " + req.path);
      } else {
        send_not_found_page(res, req.path);
      }
    } else {
      send_error(res, res.status, "request failed with HTTP status " + std::to_string(res.status));
    }
  });
  server.set_exception_handler([](const httplib::Request& req, httplib::Response& res,
                                  std::exception_ptr ep) {
    std::string what = "unknown error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    log_error("web", req.method + " " + req.path + ": " + what);
    send_error(res, 500, "internal error");
  });
}

int WebServer::start(const std::string& bind, int port) {
  if (listener_) throw UserError("the web server is already running");
  allowed_hosts_->allow_bind_address(bind);
  HttpListenerOptions limits = limits_;
  limits.max_body_bytes = kMaxBodyBytes;
  // The Keep-Alive header httplib writes tells clients the listener's limits.
  auto idle = std::chrono::ceil<std::chrono::seconds>(limits.request_timeout).count();
  server_->set_keep_alive_timeout(std::max<time_t>(1, idle));
  server_->set_keep_alive_max_count(limits.max_requests_per_connection);
  server_->start_accept_loop();
  listener_ = std::make_unique<HttpListener>(
      limits, [this](httplib::Stream& stream, bool close, bool& closed) {
        return server_->process_request(stream, close, closed, nullptr);
      });
  int bound = listener_->listen(bind, port);
  if (bound <= 0) {
    stop();
    throw UserError("cannot listen on " + bind + ":" + std::to_string(port) +
                    ": the port is in use or the address is not local; pick another with --port/--bind");
  }
  return bound;
}

void WebServer::stop() {
  listener_.reset();
  server_->stop_accept_loop();
}

}  // namespace sluice
