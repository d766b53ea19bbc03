#pragma once
// http(s) URLs taken apart: for requests (extract sources, sensors, webhooks)
// and for telling whether two URLs share an origin.

#include <string>

namespace sluice {

/// The parts of an http(s) URL: "https://h:8443" and "/p?q=1".
struct UrlParts {
  std::string origin;  // scheme://host[:port]
  std::string target;  // path and query, "/" at least
};
/// Throws UserError when `url` is not http(s)://host...
UrlParts split_url(const std::string& url);

/// The origin of an http(s) URL for comparing two of them: scheme, host and
/// port, lower-cased and with the default port spelt out
/// ("HTTPS://Api.Example" -> "https://api.example:443").
std::string origin_of(const std::string& url);

}  // namespace sluice
