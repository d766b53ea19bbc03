#include "web/host_allowlist.h"

#include <arpa/inet.h>

#include <algorithm>

#include "core/config.h"
#include "core/text.h"

namespace sluice {

std::string host_of_authority(std::string_view authority) {
  std::string text = to_lower(trim(authority));
  std::string host;
  if (starts_with(text, "[")) {
    size_t close = text.find(']');
    if (close == std::string::npos) return "";
    host = text.substr(1, close - 1);
    std::string rest = text.substr(close + 1);
    if (!rest.empty() && rest[0] != ':') return "";
  } else {
    host = text.substr(0, text.find(':'));
  }
  if (!host.empty() && host.back() == '.') host.pop_back();
  // Names, IPv4 and (bracketed) IPv6 only: anything else is not a host a
  // browser would send, so it matches nothing.
  bool plain = !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == ':';
  });
  return plain ? host : "";
}

bool is_ip_address(const std::string& host) {
  unsigned char buffer[16];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

bool is_loopback_host(const std::string& host) {
  if (host == "localhost") return true;
  unsigned char v4[4];
  if (inet_pton(AF_INET, host.c_str(), v4) == 1) return v4[0] == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;
}

HostAllowList::HostAllowList(const WebConfig& config) {
  size_t scheme = config.base_url.find("://");
  if (scheme != std::string::npos) {
    std::string rest = config.base_url.substr(scheme + 3);
    rest = rest.substr(0, rest.find_first_of("/?#"));
    rest = rest.substr(rest.find('@') + 1);  // npos + 1 == 0: no user info
    std::string host = host_of_authority(rest);
    if (!host.empty()) hosts_.push_back(host);
  }
  for (const std::string& entry : config.allowed_hosts) {
    if (trim(entry) == "*") {
      any_host_ = true;
      continue;
    }
    std::string host = host_of_authority(entry);
    if (!host.empty()) hosts_.push_back(host);
  }
}

void HostAllowList::allow_bind_address(const std::string& bind) {
  std::string host = host_of_authority(
      bind.find(':') != std::string::npos && !starts_with(bind, "[") ? "[" + bind + "]" : bind);
  if (host == "0.0.0.0" || host == "::") {
    any_address_ = true;
  } else if (!host.empty() && !is_loopback_host(host)) {
    hosts_.push_back(host);
  }
}

bool HostAllowList::allows(std::string_view host_header) const {
  if (trim(host_header).empty()) return true;
  if (any_host_) return true;
  std::string host = host_of_authority(host_header);
  if (host.empty()) return false;
  if (is_loopback_host(host)) return true;
  if (any_address_ && is_ip_address(host)) return true;
  return std::find(hosts_.begin(), hosts_.end(), host) != hosts_.end();
}

}  // namespace sluice
