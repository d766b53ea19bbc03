#pragma once
// What the API's handlers share to read a request: query parameters and
// JSON bodies, with errors that name the parameter.

#include <nlohmann/json.hpp>
#include <string>

namespace httplib {
struct Request;
}  // namespace httplib

namespace sluice {

/// The most rows (runs, alerts, SLA misses) one request returns.
constexpr int kMaxPageSize = 1000;

/// An integer query parameter within [min, max], or `fallback` when absent;
/// UserError names the parameter.
int int_param(const httplib::Request& req, const std::string& name, int fallback, int min,
              int max);

/// The request body as a JSON object; an empty body is {}.
nlohmann::json body_object(const httplib::Request& req);

}  // namespace sluice
