#include "scheduler/alert_delivery.h"

#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstdlib>

#include "core/config.h"
#include "core/dag.h"
#include "core/error.h"
#include "core/http_url.h"
#include "core/log.h"
#include "core/template.h"
#include "engine/dag_cache.h"
#include "scheduler/scheduler.h"
#include "scheduler/sla.h"

namespace sluice {

HttpPoster::Response HttplibPoster::post(const std::string& url, const std::string& body,
                                         const std::map<std::string, std::string>& headers,
                                         Millis timeout) {
  Response response;
  UrlParts parts;
  try {
    parts = split_url(url);
  } catch (const Error& e) {
    response.error = e.what();
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
    response.error = httplib::to_string(res.error());
    return response;
  }
  response.status = res->status;
  if (res->status >= 300) {
    std::string snippet = res->body.substr(0, 200);
    response.error =
        "HTTP " + std::to_string(res->status) + (snippet.empty() ? "" : ": " + snippet);
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

int AlertDelivery::deliver_due() {
  int delivered = 0;
  std::vector<AlertRecord> due = store_.due_alerts(clock_.now(), options_.batch);
  for (const AlertRecord& alert : due) {
    std::string error;
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
        store_.mark_alert_delivered(alert.id, clock_.now());
        ++delivered;
        continue;
      }
      error = response.error.empty() ? "HTTP " + std::to_string(response.status) : response.error;
    }
    Timestamp now = clock_.now();
    Timestamp next = now + backoff_after(alert.attempts + 1);
    if (next > alert.created_at + options_.give_up_after) {
      log_error("alerts", alert.event + " alert " + alert.event_id + " for " + alert.dag_id +
                              " not delivered after " + std::to_string(alert.attempts + 1) +
                              " attempts; giving up: " + error);
      store_.mark_alert_failed(alert.id, "gave up: " + error, std::nullopt);
    } else {
      if (alert.attempts == 0) {
        log_warn("alerts", alert.event + " alert for " + alert.dag_id + " not delivered (" + error +
                               "); retrying with backoff");
      }
      store_.mark_alert_failed(alert.id, error, next);
    }
  }
  return delivered;
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
