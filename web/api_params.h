#pragma once
// What the API's handlers share to read a request: query parameters and
// JSON bodies, with errors that name the parameter.

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace sluice {

class Store;
struct DagRecord;

/// The most rows (runs, alerts, SLA misses) one request returns.
constexpr int kMaxPageSize = 1000;
/// The largest `offset` a list takes.
constexpr int kMaxOffset = 1 << 30;

/// An integer query parameter within [min, max], or `fallback` when absent;
/// UserError names the parameter.
int int_param(const httplib::Request& req, const std::string& name, int fallback, int min,
              int max);

/// The part of a list a request asks for with `limit` and `offset`.
struct PageRange {
  int offset = 0;
  std::optional<int> limit;  // none: to the end
};

/// The request's `limit` (1 to kMaxPageSize; `default_limit` when absent)
/// and `offset` (from 0); UserError names the parameter that is wrong.
PageRange page_range(const httplib::Request& req,
                     std::optional<int> default_limit = std::nullopt);

/// The items of the JSON array `list` that `range` selects.
nlohmann::json page_of(const nlohmann::json& list, const PageRange& range);

/// Sends the JSON array `page` with 200 and X-Total-Count: `total`, the
/// number of items before paging.
void send_page(httplib::Response& res, const nlohmann::json& page, int64_t total);

/// The `dag_id` query parameter (or `dag`, its older name on /sla-misses);
/// empty when absent.
std::string dag_id_param(const httplib::Request& req);

/// The stored DAG `dag_id`; NotFoundError, with a suggestion, when there is
/// none.
DagRecord existing_dag(Store& store, const std::string& dag_id);

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
