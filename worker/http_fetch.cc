#include "worker/http_fetch.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <thread>

#include "core/error.h"
#include "core/text.h"

namespace sluice {
namespace {

constexpr Millis kWaitTick{20};
constexpr size_t kBodyExcerpt = 200;

bool retryable(int status) { return status == 429 || status >= 500; }

// Waits `d`, waking early for cancel; false when canceled or past the deadline.
bool wait(Millis d, const HttpFetchOptions& options) {
  auto until = std::chrono::steady_clock::now() + d;
  if (options.deadline && until > *options.deadline) return false;
  while (std::chrono::steady_clock::now() < until) {
    if (options.cancel && *options.cancel) return false;
    std::this_thread::sleep_for(std::min<Millis>(
        kWaitTick, std::chrono::duration_cast<Millis>(until - std::chrono::steady_clock::now()) +
                       Millis(1)));
  }
  return !(options.cancel && *options.cancel);
}

std::string excerpt(const std::string& body) {
  std::string out(trim(body.substr(0, kBodyExcerpt)));
  for (char& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return body.size() > kBodyExcerpt ? out + "..." : out;
}

}  // namespace

UrlParts split_url(const std::string& url) {
  size_t sep = url.find("://");
  std::string scheme = sep == std::string::npos ? "" : to_lower(url.substr(0, sep));
  if (scheme != "http" && scheme != "https") {
    throw UserError("'" + url + "' is not an http:// or https:// URL");
  }
  size_t path = url.find_first_of("/?#", sep + 3);
  UrlParts parts;
  parts.origin = url.substr(0, path);
  if (parts.origin.size() == sep + 3) throw UserError("'" + url + "' has no host");
  parts.target = path == std::string::npos ? "/" : url.substr(path);
  size_t fragment = parts.target.find('#');
  if (fragment != std::string::npos) parts.target.erase(fragment);
  if (parts.target.empty() || parts.target[0] != '/') parts.target.insert(0, "/");
  return parts;
}

HttpResponse http_get(const std::string& url, const HttpFetchOptions& options,
                      const std::function<void(const std::string&)>& log) {
  UrlParts parts = split_url(url);
  httplib::Client client(parts.origin);
  Millis timeout = options.timeout;
  if (options.deadline) {
    // A request must not outlive the try.
    auto left = std::chrono::duration_cast<Millis>(*options.deadline - std::chrono::steady_clock::now());
    timeout = std::max<Millis>(Millis(1), std::min(timeout, left));
  }
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(timeout).count();
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(timeout).count() % 1000000;
  client.set_connection_timeout(seconds, micros);
  client.set_read_timeout(seconds, micros);
  client.set_write_timeout(seconds, micros);
  client.set_follow_location(true);
  httplib::Headers headers;
  for (const auto& [name, value] : options.headers) headers.emplace(name, value);

  Millis delay = options.backoff;
  std::string last_problem;
  for (int attempt = 1; attempt <= std::max(1, options.max_attempts); ++attempt) {
    if (options.cancel && *options.cancel) throw Error("GET " + url + ": canceled");
    httplib::Result result = client.Get(parts.target.c_str(), headers);
    Millis wait_for = delay;
    if (!result) {
      last_problem = "network error: " + httplib::to_string(result.error());
    } else if (result->status < 400) {
      return {result->status, std::move(result->body)};
    } else if (!retryable(result->status)) {
      throw Error("GET " + url + ": HTTP " + std::to_string(result->status) + ": " +
                  excerpt(result->body));
    } else {
      last_problem = "HTTP " + std::to_string(result->status);
      if (result->status == 429 && result->has_header("Retry-After")) {
        std::string after = result->get_header_value("Retry-After");
        if (!after.empty() && std::all_of(after.begin(), after.end(), ::isdigit)) {
          wait_for = std::min<Millis>(std::chrono::seconds(std::stoll(after)), options.max_backoff);
        }
      }
    }
    if (attempt == options.max_attempts) break;
    if (log) {
      log("GET " + url + ": " + last_problem + "; retry " + std::to_string(attempt) + " of " +
          std::to_string(options.max_attempts - 1) + " in " + format_duration(wait_for));
    }
    if (!wait(wait_for, options)) {
      throw Error("GET " + url + ": " + last_problem + " (gave up: " +
                  ((options.cancel && *options.cancel) ? "canceled" : "timeout") + ")");
    }
    delay = std::min<Millis>(delay * 2, options.max_backoff);
  }
  throw Error("GET " + url + ": " + last_problem + " after " +
              std::to_string(options.max_attempts) + " attempts");
}

}  // namespace sluice
