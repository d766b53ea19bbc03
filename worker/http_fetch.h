#pragma once
// HTTP GET for the extract task's http source: headers, a timeout per
// request, retries with backoff on 429, 5xx and network errors.

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "core/http_url.h"
#include "core/text.h"  // url_encode
#include "core/time.h"

namespace sluice {

/// How http_get behaves.
struct HttpFetchOptions {
  std::map<std::string, std::string> headers;
  Millis timeout{std::chrono::seconds(60)};  // connect and read, per request
  int max_attempts = 5;
  Millis backoff{std::chrono::seconds(1)};  // before the 2nd attempt; doubles each time
  Millis max_backoff{std::chrono::seconds(60)};
  const std::atomic<bool>* cancel = nullptr;  // stops waiting between attempts
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

/// A response with a status below 400 (or 4xx other than 429, which fails).
struct HttpResponse {
  int status = 0;
  std::string body;
};

/// GETs `url` (http:// or https://). Retries 429 (honouring Retry-After up to
/// max_backoff), 5xx and connection failures; throws Error naming the URL and
/// the last status or network error once attempts run out, on another 4xx,
/// on cancel and when the deadline passes. `log` hears about each retry.
/// Follows up to 10 redirects; one to another origin (scheme, host or port)
/// goes without `options.headers`, so no credential leaves its origin.
HttpResponse http_get(const std::string& url, const HttpFetchOptions& options,
                      const std::function<void(const std::string&)>& log = {});


}  // namespace sluice
