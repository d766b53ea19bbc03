#include "scheduler/alert_delivery.h"

#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/config.h"
#include "core/dag.h"
#include "core/error.h"
#include "core/http_url.h"
#include "core/log.h"
#include "core/template.h"
#include "core/text.h"
#include "engine/dag_cache.h"
#include "scheduler/scheduler.h"
#include "scheduler/sla.h"

namespace sluice {

namespace {

/// "host:port" of a webhook URL: where a failure happened, without the
/// user info, path or query, which may hold a token.
std::string place_of(const std::string& url) {
  std::string origin = origin_of(url);
  return origin.substr(origin.find("://") + 3);
}

/// Why a connection to `place` ("host:port", "[v6]:port") fails, found with
/// a plain connect: cpp-httplib reports every failed connect alike.
std::string connect_failure(const std::string& place, Millis timeout) {
  size_t colon = place.rfind(':');
  std::string host = place.substr(0, colon);
  if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
  std::string port = place.substr(colon + 1);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return "cannot resolve the host of " + place + ": " + gai_strerror(rc);
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> addresses(found, freeaddrinfo);
  int fd = socket(found->ai_family, found->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                  found->ai_protocol);
  if (fd < 0) return "cannot connect to " + place + ": " + std::strerror(errno);
  int error = 0;
  if (connect(fd, found->ai_addr, found->ai_addrlen) != 0) {
    error = errno;
    if (error == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int ready = poll(&p, 1, static_cast<int>(timeout.count()));
      socklen_t length = sizeof(error);
      if (ready == 0) {
        error = ETIMEDOUT;
      } else if (ready < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
        error = errno;
      }
    }
  }
  close(fd);
  if (error == 0) return "cannot connect to " + place + " (it answers now)";
  return "cannot connect to " + place + ": " + std::strerror(error);
}

/// The start of a receiver's answer as one line of valid UTF-8.
std::string body_snippet(const std::string& body) {
  std::string snippet = body.substr(0, 200);
  snippet.resize(std::min(snippet.size(), find_invalid_utf8(snippet)));
  for (char& c : snippet) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return snippet;
}

/// A failed request in words: what failed and where, never the URL itself.
std::string request_failure(httplib::Error error, const std::string& place, Millis timeout) {
  std::string within = " within " + format_duration(timeout);
  switch (error) {
    case httplib::Error::Connection:
      return connect_failure(place, timeout);
    case httplib::Error::ConnectionTimeout:
      return "no connection to " + place + within;
    case httplib::Error::Read:
      return "no answer from " + place + within + " (or the connection was closed)";
    case httplib::Error::Write:
      return "cannot send the alert to " + place + within + " (or the connection was closed)";
    case httplib::Error::SSLConnection:
      return "TLS handshake with " + place + " failed";
    case httplib::Error::SSLServerVerification:
      return "the TLS certificate of " + place + " is not trusted or does not name it";
    case httplib::Error::SSLLoadingCerts:
      return "cannot load the CA certificates to verify " + place;
    default:
      return "request to " + place + " failed (" + httplib::to_string(error) + ")";
  }
}

}  // namespace

HttpPoster::Response HttplibPoster::post(const std::string& url, const std::string& body,
                                         const std::map<std::string, std::string>& headers,
                                         Millis timeout) {
  Response response;
  UrlParts parts;
  std::string place;
  try {
    parts = split_url(url);
    place = place_of(url);
  } catch (const Error&) {
    // The message would quote the URL, which may hold a token.
    response.error = "the webhook is not an http:// or https:// URL with a host";
    return response;
  }
  httplib::Client client(parts.origin);
  auto seconds = static_cast<time_t>(timeout.count() / 1000);
  auto micros = static_cast<time_t>((timeout.count() % 1000) * 1000);
  client.set_connection_timeout(seconds, micros);
  client.set_read_timeout(seconds, micros);
  client.set_write_timeout(seconds, micros);
  httplib::Headers h;
  for (const auto& [k, v] : headers) h.emplace(k, v);
  httplib::Result res = client.Post(parts.target, h, body, "application/json");
  if (!res) {
    response.error = request_failure(res.error(), place, timeout);
    return response;
  }
  response.status = res->status;
  if (res->status < 200 || res->status >= 300) {
    std::string snippet = body_snippet(res->body);
    response.error = "HTTP " + std::to_string(res->status) + " from " + place +
                     (snippet.empty() ? "" : ": " + snippet);
  }
  return response;
}

std::string alert_body(const AlertRecord& alert) {
  nlohmann::json body = alert.payload.is_object() ? alert.payload : nlohmann::json::object();
  body["event_id"] = alert.event_id;
  if (!body.contains("event")) body["event"] = alert.event;
  return body.dump();
}

std::string hmac_sha256_hex(const std::string& key, const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest, &length);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

AlertDelivery::AlertDelivery(Store& store, const Clock& clock, HttpPoster& poster,
                             AlertTargetResolver resolve, AlertDeliveryOptions options)
    : store_(store),
      clock_(clock),
      poster_(poster),
      resolve_(std::move(resolve)),
      options_(options) {}

Millis AlertDelivery::backoff_after(int attempts) const {
  Millis delay = options_.first_backoff;
  for (int i = 1; i < attempts && delay < options_.max_backoff; ++i) delay *= 2;
  return std::min(delay, options_.max_backoff);
}

Millis AlertDelivery::claim_length() const {
  // A POST may take the timeout three times over (connect, send, read).
  return options_.timeout * 3 + Millis(10000);
}

int AlertDelivery::deliver_due() {
  int delivered = 0;
  for (int attempt = 0; attempt < options_.batch; ++attempt) {
    Timestamp now = clock_.now();
    std::optional<AlertRecord> alert = store_.claim_next_alert(now, now + claim_length());
    if (!alert) break;
    if (deliver(*alert)) ++delivered;
  }
  return delivered;
}

bool AlertDelivery::deliver(const AlertRecord& alert) {
  std::string error;
  std::optional<int> status;
  std::optional<AlertTarget> target;
  try {
    target = resolve_(alert);
    if (!target || target->url.empty()) error = "no webhook configured (alerts.webhook)";
  } catch (const std::exception& e) {
    error = std::string("cannot resolve the webhook: ") + e.what();
  }
  if (error.empty()) {
    std::string body = alert_body(alert);
    std::map<std::string, std::string> headers = {{"X-Sluice-Event", alert.event},
                                                  {"X-Sluice-Event-Id", alert.event_id}};
    if (!target->secret.empty()) {
      headers["X-Sluice-Signature"] = "sha256=" + hmac_sha256_hex(target->secret, body);
    }
    HttpPoster::Response response = poster_.post(target->url, body, headers, options_.timeout);
    if (response.status >= 200 && response.status < 300) {
      // False: a deliverer whose claim had lapsed delivered it as well; the
      // receiver drops the second copy by its event_id.
      return store_.mark_alert_delivered(alert.id, response.status, clock_.now());
    }
    if (response.status != 0) status = response.status;
    error = response.error.empty() ? "HTTP " + std::to_string(response.status) : response.error;
  }
  std::string what = alert.event + " alert " + alert.event_id +
                     (alert.dag_id.empty() ? "" : " of " + alert.dag_id);
  Timestamp now = clock_.now();
  Timestamp next = now + backoff_after(alert.attempts + 1);
  if (next > alert.created_at + options_.give_up_after) {
    log_error("alerts", what + " not delivered after " + std::to_string(alert.attempts + 1) +
                            " attempts; giving up, the alerts after it go on: " + error);
    store_.mark_alert_failed(alert.id, status, "gave up: " + error, std::nullopt);
  } else {
    if (alert.attempts == 0) {
      log_warn("alerts", what + " not delivered (" + error +
                             "); retrying with backoff, the alerts after it wait");
    }
    store_.mark_alert_failed(alert.id, status, error, next);
  }
  return false;
}

std::optional<Timestamp> AlertDelivery::pass(Timestamp now) {
  if (now < next_poll_) return next_poll_;
  try {
    deliver_due();
  } catch (const StoreError& e) {
    log_warn("alerts", std::string("cannot read the alert outbox: ") + e.what());
  }
  next_poll_ = clock_.now() + options_.poll_interval;
  return next_poll_;
}

AlertTargetResolver dag_alert_targets(Store& store, DagCache& dags, const Config& config) {
  return [&store, &dags, &config](const AlertRecord& alert) -> std::optional<AlertTarget> {
    std::shared_ptr<const Dag> dag;
    if (!alert.dag_id.empty()) {
      std::optional<int64_t> version;
      if (!alert.run_id.empty()) {
        if (auto run = store.get_run(alert.dag_id, alert.run_id)) version = run->version_id;
      }
      if (!version) {
        if (auto record = store.get_dag(alert.dag_id)) version = record->version_id;
      }
      if (version) dag = dags.get(*version);
    }
    AlertTarget target{config.alerts.webhook, config.alerts.secret};
    if (dag && !dag->alerts.webhook.empty()) {
      nlohmann::json context = {{"env", nlohmann::json::object()}};
      for (const auto& [k, v] : environment_snapshot()) context["env"][k] = v;
      context["dag_id"] = dag->id;
      target.url = render_template(dag->alerts.webhook, context);
      if (!dag->alerts.secret.empty()) {
        target.secret = render_template(dag->alerts.secret, context);
      }
    }
    if (target.url.empty()) return std::nullopt;
    return target;
  };
}

}  // namespace sluice

namespace sluice {

void add_alert_passes(Scheduler& scheduler, Store& store, DagCache& dags, const Clock& clock,
                      const Config& config) {
  AlertDeliveryOptions options;
  if (const char* text = std::getenv("SLUICE_ALERTS_FIRST_BACKOFF")) {
    std::optional<Millis> backoff = parse_duration(text);
    if (!backoff || backoff->count() <= 0) {
      throw UserError(std::string("SLUICE_ALERTS_FIRST_BACKOFF must be a duration such as 10s, "
                                  "not '") +
                      text + "'");
    }
    options.first_backoff = *backoff;
    options.poll_interval = std::min(options.poll_interval, *backoff);
  }
  auto poster = std::make_shared<HttplibPoster>();
  auto delivery = std::make_shared<AlertDelivery>(store, clock, *poster,
                                                  dag_alert_targets(store, dags, config), options);
  scheduler.add_pass("alerts", [poster, delivery](Timestamp now) { return delivery->pass(now); });
  auto sla = std::make_shared<SlaMonitor>(store, dags, clock);
  scheduler.add_pass("sla", [sla](Timestamp now) { return sla->pass(now); });
}

}  // namespace sluice
