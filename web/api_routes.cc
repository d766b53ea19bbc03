#include "web/api_routes.h"

#include <algorithm>

#include <httplib.h>

#include "core/error.h"
#include "web/api.h"
#include "web/api_params.h"

namespace sluice {

namespace {

thread_local SentListCapture* active_capture = nullptr;

/// `handler` with the list it sends cut to the page the request asks for.
ApiRoute::Handler sliced(ApiRoute::Handler handler) {
  return [handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
    PageRange range;
    try {
      range = page_range(req);
    } catch (const UserError& e) {
      send_error(res, 400, e.what());
      return;
    }
    nlohmann::json list;
    {
      SentListCapture capture;
      handler(req, res);
      if (!capture.list) return;  // an error, sent as it is
      list = std::move(*capture.list);
    }
    send_page(res, page_of(list, range), static_cast<int64_t>(list.size()));
  };
}

}  // namespace

SentListCapture::SentListCapture() : outer_(active_capture) { active_capture = this; }

SentListCapture::~SentListCapture() { active_capture = outer_; }

SentListCapture* SentListCapture::active() { return active_capture; }

std::string route_pattern(const std::string& path) {
  std::string out;
  for (size_t at = 0; at < path.size();) {
    if (path[at] == '{') {
      size_t end = path.find('}', at);
      if (end == std::string::npos) throw std::logic_error("unclosed { in route " + path);
      out += "([^/]+)";
      at = end + 1;
      continue;
    }
    if (std::string_view(".[]()*+?^$|\\").find(path[at]) != std::string_view::npos) out += '\\';
    out += path[at++];
  }
  return out;
}

void RouteTable::add(std::string method, std::string path, ApiRoute::Handler handler,
                     Paging paging) {
  patterns_.emplace_back(route_pattern(path));
  routes_.push_back({std::move(method), std::move(path), std::move(handler), paging});
}

void RouteTable::install(httplib::Server& server) const {
  for (const ApiRoute& route : routes_) {
    std::string pattern = route_pattern(route.path);
    ApiRoute::Handler handler =
        route.paging == Paging::kSliced ? sliced(route.handler) : route.handler;
    if (route.method == "GET") {
      server.Get(pattern, handler);
    } else if (route.method == "POST") {
      server.Post(pattern, handler);
    } else if (route.method == "PATCH") {
      server.Patch(pattern, handler);
    } else if (route.method == "PUT") {
      server.Put(pattern, handler);
    } else if (route.method == "DELETE") {
      server.Delete(pattern, handler);
    } else {
      throw std::logic_error("route " + route.path + " has an unknown method " + route.method);
    }
  }
}

std::vector<std::string> RouteTable::allowed_methods(const std::string& path) const {
  std::vector<std::string> methods;
  for (size_t i = 0; i < routes_.size(); ++i) {
    if (!std::regex_match(path, patterns_[i])) continue;
    methods.push_back(routes_[i].method);
    if (routes_[i].method == "GET") methods.push_back("HEAD");
  }
  std::sort(methods.begin(), methods.end());
  methods.erase(std::unique(methods.begin(), methods.end()), methods.end());
  return methods;
}

}  // namespace sluice
