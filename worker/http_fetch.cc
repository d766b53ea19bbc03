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
constexpr int kMaxRedirects = 10;

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

/// Where a redirect's Location points, made absolute against `current`.
std::string resolve_location(const std::string& current, const std::string& location) {
  std::string value(trim(location));
  std::string lower = to_lower(value);
  if (starts_with(lower, "http://") || starts_with(lower, "https://")) return value;
  UrlParts parts = split_url(current);
  if (starts_with(value, "//")) return parts.origin.substr(0, parts.origin.find("://") + 1) + value;
  if (starts_with(value, "/")) return parts.origin + value;
  std::string path = parts.target.substr(0, parts.target.find('?'));
  if (starts_with(value, "?")) return parts.origin + path + value;
  return parts.origin + path.substr(0, path.rfind('/') + 1) + value;
}

bool is_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

}  // namespace

HttpResponse http_get(const std::string& url, const HttpFetchOptions& options,
                      const std::function<void(const std::string&)>& log) {
  split_url(url);  // throws when it is not an http(s) URL
  Millis timeout = options.timeout;
  if (options.deadline) {
    // A request must not outlive the try.
    auto left = std::chrono::duration_cast<Millis>(*options.deadline - std::chrono::steady_clock::now());
    timeout = std::max<Millis>(Millis(1), std::min(timeout, left));
  }
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(timeout).count();
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(timeout).count() % 1000000;
  httplib::Headers headers;
  for (const auto& [name, value] : options.headers) headers.emplace(name, value);

  // Redirects are followed here rather than by httplib, which takes every
  // header along to whatever origin the Location names.
  auto get = [&]() {
    std::string current = url;
    httplib::Headers sent = headers;
    for (int redirects = 0;; ++redirects) {
      UrlParts hop = split_url(current);
      httplib::Client client(hop.origin);
      client.set_connection_timeout(seconds, micros);
      client.set_read_timeout(seconds, micros);
      client.set_write_timeout(seconds, micros);
      httplib::Result result = client.Get(hop.target.c_str(), sent);
      if (!result || !is_redirect(result->status) || !result->has_header("Location")) {
        return result;
      }
      if (redirects == kMaxRedirects) {
        throw Error("GET " + url + ": more than " + std::to_string(kMaxRedirects) + " redirects");
      }
      current = resolve_location(current, result->get_header_value("Location"));
      // As curl and browsers do: credentials (Authorization, cookies, API
      // keys in custom headers) go only to the origin they were given for.
      if (origin_of(current) != origin_of(url)) sent.clear();
    }
  };

  Millis delay = options.backoff;
  std::string last_problem;
  for (int attempt = 1; attempt <= std::max(1, options.max_attempts); ++attempt) {
    if (options.cancel && *options.cancel) throw Error("GET " + url + ": canceled");
    httplib::Result result = get();
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
