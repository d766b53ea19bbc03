#pragma once
// What the API's handlers share to read a request: query parameters and
// JSON bodies, with errors that name the parameter.

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

namespace httplib {
struct Request;
struct Response;
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

/// `message` with the CLI's flag names, which the shared engine code's
/// errors use (`--conf`, `--from`, ...), turned into the API's field names.
std::string api_field_names(std::string message);

/// Runs `handler` for `req`; a typed error becomes its status with
/// {"error": ...}: NotFoundError 404, UserError 400, ConflictError 409,
/// StoreError 503, anything else 500 (and a log line). Every message passes
/// through `shown` (secret masking) and api_field_names first. Nothing
/// escapes to httplib, which would answer 500 with no body.
void answer_guarded(const httplib::Request& req, httplib::Response& res,
                    const std::function<void()>& handler,
                    const std::function<std::string(const std::string&)>& shown);

}  // namespace sluice
