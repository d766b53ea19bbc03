#include "core/http_url.h"

#include "core/error.h"
#include "core/text.h"

namespace sluice {

std::string origin_of(const std::string& url) {
  std::string origin = to_lower(split_url(url).origin);
  size_t sep = origin.find("://");
  std::string scheme = origin.substr(0, sep);
  std::string authority = origin.substr(sep + 3);
  authority.erase(0, authority.find('@') + 1);  // npos + 1 == 0: no user info
  size_t bracket = authority.rfind(']');
  size_t colon = authority.rfind(':');
  bool has_port = colon != std::string::npos && (bracket == std::string::npos || colon > bracket);
  if (!has_port) authority += scheme == "https" ? ":443" : ":80";
  return scheme + "://" + authority;
}

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

}  // namespace sluice
