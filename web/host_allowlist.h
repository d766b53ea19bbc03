#pragma once
// Which `Host:` headers the web server answers. A page on an attacker's name
// that rebinds to 127.0.0.1 (DNS rebinding) makes the browser send that name
// as Host, so refusing unknown names keeps such a page from reading or
// changing anything, token or not.

#include <string>
#include <string_view>
#include <vector>

namespace sluice {

struct WebConfig;

/// The host of a `Host:` header or URL authority ("Web.Example:80" ->
/// "web.example", "[::1]:8080" -> "::1"): lower-cased, without port,
/// brackets or a trailing dot; "" when it is not a plain host.
std::string host_of_authority(std::string_view authority);

/// True for "localhost", 127.0.0.0/8 and ::1 (as host_of_authority gives them).
bool is_loopback_host(const std::string& host);

/// True for a literal IPv4 or IPv6 address.
bool is_ip_address(const std::string& host);

/// Decides whether a request's Host names this server: a loopback name or
/// address, the host of web.base_url, one of web.allowed_hosts, or the
/// address the server was asked to bind.
class HostAllowList {
 public:
  HostAllowList() = default;
  /// Allows the hosts of `config.base_url` and `config.allowed_hosts`.
  explicit HostAllowList(const WebConfig& config);

  /// Also allows `bind`, the address the server listens on, unless it is a
  /// loopback one. A wildcard (0.0.0.0, ::) allows any IP address, as every
  /// local address is then the server's and an address cannot be rebound.
  void allow_bind_address(const std::string& bind);

  /// True when a request with this `Host:` header may be served. A request
  /// without one did not come from a browser and is allowed.
  bool allows(std::string_view host_header) const;

 private:
  std::vector<std::string> hosts_;  // as host_of_authority gives them
  bool any_host_ = false;           // "*" in web.allowed_hosts
  bool any_address_ = false;        // bound to a wildcard address
};

}  // namespace sluice
