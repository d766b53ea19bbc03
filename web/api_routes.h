#pragma once
// The API's routes in one table: httplib gets them from it, the 405 answer
// asks it which methods a path takes, and a test holds the OpenAPI document
// (web/openapi/openapi.json) against it both ways.

#include <functional>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace sluice {

/// How a route that answers a list pages it. Every list takes `limit` and
/// `offset`, answers a bare JSON array and says in X-Total-Count how many
/// items there are before paging.
enum class Paging {
  kNone,     // not a list
  kSliced,   // the handler sends the whole list; the route sends the page asked for
  kHandler,  // the handler pages (in the store) and sets X-Total-Count itself
};

/// One method on one path of the API.
struct ApiRoute {
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

  std::string method;  // GET, POST, PATCH, PUT or DELETE
  /// As the OpenAPI document writes it: "/api/v1/dags/{dag_id}/runs". Each
  /// {name} matches one path segment, which the handler reads as
  /// req.matches[1], [2], ... in order.
  std::string path;
  Handler handler;
  Paging paging = Paging::kNone;
};

/// Every route of the API, in the order they were added (which is the order
/// httplib tries them in).
class RouteTable {
 public:
  void add(std::string method, std::string path, ApiRoute::Handler handler,
           Paging paging = Paging::kNone);

  /// Registers every route on `server`; a sliced list route sends the page
  /// its request asks for.
  void install(httplib::Server& server) const;

  const std::vector<ApiRoute>& routes() const { return routes_; }

  /// The methods routes take on the request path `path` (HEAD where GET),
  /// sorted; empty when no route's path matches it.
  std::vector<std::string> allowed_methods(const std::string& path) const;

 private:
  std::vector<ApiRoute> routes_;
  std::vector<std::regex> patterns_;  // routes_[i]'s path as a regex
};

/// The httplib pattern of a route path: literal text escaped, each {name}
/// one segment captured.
std::string route_pattern(const std::string& path);

/// While one is alive on a thread, send_json gives it a 200 JSON array
/// rather than sending it: a sliced list route pages what its handler built.
class SentListCapture {
 public:
  SentListCapture();
  ~SentListCapture();
  SentListCapture(const SentListCapture&) = delete;
  SentListCapture& operator=(const SentListCapture&) = delete;

  /// The innermost capture alive on this thread, or null.
  static SentListCapture* active();

  std::optional<nlohmann::json> list;  // what the handler sent

 private:
  SentListCapture* outer_;
};

}  // namespace sluice
