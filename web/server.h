#pragma once
// The web server: the REST API under /api/v1, /healthz, /metrics and the
// embedded browser UI (SPEC section 8).

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "web/http_listener.h"

namespace sluice {

class Api;
class Clock;
class DagCache;
class HostAllowList;
class LoginThrottle;
class RequestRouter;
class RouteTable;
class SessionStore;
class Store;
struct Config;

/// Serves the API and the UI on a background thread. Every read and change
/// goes through the Store; security (token, CSRF, body size) is enforced here
/// before any handler runs.
class WebServer {
 public:
  /// The largest request body accepted; larger ones get 413.
  static constexpr size_t kMaxBodyBytes = 1 << 20;

  WebServer(Store& store, DagCache& dags, const Config& config, const Clock& clock);
  ~WebServer();
  WebServer(const WebServer&) = delete;
  WebServer& operator=(const WebServer&) = delete;

  /// Limits on connections (timeouts, connections per client, threads).
  /// Set before start(); the body limit is always kMaxBodyBytes.
  void set_connection_limits(const HttpListenerOptions& limits) { limits_ = limits; }

  /// Listens on `bind`:`port` (port 0: any free port) and serves from
  /// background threads. Returns the bound port. Throws UserError when the
  /// address cannot be bound (in use, not local). Requests may name `bind`
  /// in their Host header besides loopback names and the configured hosts.
  int start(const std::string& bind, int port);
  /// Stops listening and waits for the serving threads. Safe to call twice.
  void stop();

  /// Called after every API call that changed something (a successful POST,
  /// PUT, PATCH or DELETE under /api/): an in-process scheduler and workers
  /// wake at once rather than at their next poll. Set before start().
  void on_change(std::function<void()> callback) { on_change_ = std::move(callback); }

  /// Every API route the server answers (the OpenAPI document lists them).
  const RouteTable& routes() const { return *routes_; }

 private:
  void install_routes();

  const Config& config_;
  std::unique_ptr<Api> api_;
  std::unique_ptr<RouteTable> routes_;
  // Written by start() before the serving thread exists, read-only after.
  std::unique_ptr<HostAllowList> allowed_hosts_;
  std::unique_ptr<SessionStore> sessions_;
  std::unique_ptr<LoginThrottle> throttle_;
  std::unique_ptr<RequestRouter> server_;
  HttpListenerOptions limits_;
  std::unique_ptr<HttpListener> listener_;
  std::function<void()> on_change_;
};

}  // namespace sluice
