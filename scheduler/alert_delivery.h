#pragma once
// Delivering the alert outbox: POSTs each due alert as JSON to its webhook,
// signed with HMAC-SHA256 when a secret is set, and retries failures with
// exponential backoff for 24 hours. At-least-once: a receiver deduplicates on
// `event_id`.
//
// Order: the alerts of one DAG (and, apart, those of no DAG) are posted one
// at a time in outbox order, which is the order the events committed in. An
// alert waits while an earlier one of its DAG is neither delivered nor given
// up (head of line), so after an outage a receiver gets them in order; other
// DAGs' alerts do not wait. An alert that gives up (24 h after its creation,
// counted from then even when it waited) is marked "gave up", logged, and
// the next one goes on. A DAG has one webhook, so per DAG is per receiver.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/store.h"
#include "core/time.h"

namespace sluice {

class Clock;
class DagCache;
struct Config;

/// Posts a body to a URL. Wraps the network so that tests can act out a
/// receiver that is down, slow or failing.
class HttpPoster {
 public:
  struct Response {
    int status = 0;     // 0: no response (connection refused, timeout, TLS error)
    std::string error;  // what went wrong, when not 2xx: what and where, never the URL
  };
  virtual ~HttpPoster() = default;
  virtual Response post(const std::string& url, const std::string& body,
                        const std::map<std::string, std::string>& headers, Millis timeout) = 0;
};

/// The real poster: cpp-httplib, http:// and https:// (OpenSSL, peer verified).
class HttplibPoster : public HttpPoster {
 public:
  Response post(const std::string& url, const std::string& body,
                const std::map<std::string, std::string>& headers, Millis timeout) override;
};

/// Where one alert goes.
struct AlertTarget {
  std::string url;
  std::string secret;  // empty: unsigned
};
/// Finds an alert's target; nullopt when it has none any more. Throws Error
/// with a message for the outbox (a template that does not render).
using AlertTargetResolver = std::function<std::optional<AlertTarget>(const AlertRecord&)>;

/// Delivery settings; the defaults suit production, tests shorten them.
struct AlertDeliveryOptions {
  Millis timeout{10000};                     // per POST
  Millis first_backoff{10000};               // after the first failure; doubles each time
  Millis max_backoff{600000};                // 10 minutes
  Millis give_up_after{24LL * 3600 * 1000};  // from the alert's creation
  Millis poll_interval{500};                 // how often the outbox is read
  int batch = 100;
};

/// Posts due alerts from the outbox.
class AlertDelivery {
 public:
  AlertDelivery(Store& store, const Clock& clock, HttpPoster& poster, AlertTargetResolver resolve,
                AlertDeliveryOptions options = {});
  /// Posts alerts due now (at most `batch`), each DAG's in order; returns
  /// how many were delivered.
  int deliver_due();
  /// A scheduler pass: delivers at most every poll_interval.
  std::optional<Timestamp> pass(Timestamp now);

  /// The delay before attempt `attempts + 1` after `attempts` failed ones.
  Millis backoff_after(int attempts) const;

 private:
  /// Posts one claimed alert and records the outcome; true when delivered.
  bool deliver(const AlertRecord& alert);
  /// How long a claim keeps other deliverers off an alert being posted.
  Millis claim_length() const;

  Store& store_;
  const Clock& clock_;
  HttpPoster& poster_;
  AlertTargetResolver resolve_;
  AlertDeliveryOptions options_;
  Timestamp next_poll_{};
};

/// The JSON body of an alert: its payload with its `event_id`.
std::string alert_body(const AlertRecord& alert);
/// Lowercase hex HMAC-SHA256 of `data` with `key`.
std::string hmac_sha256_hex(const std::string& key, const std::string& data);

/// The resolver the scheduler uses: the DAG's `alerts.webhook` / `secret`
/// (templates rendered here, with `env`) from the run's DAG version (the
/// latest version for alerts without a run), else sluice.yaml's.
AlertTargetResolver dag_alert_targets(Store& store, DagCache& dags, const Config& config);

}  // namespace sluice

namespace sluice {

class Scheduler;

/// Adds the alert delivery and SLA passes to `scheduler` (sluice scheduler
/// and standalone). SLUICE_ALERTS_FIRST_BACKOFF (a duration such as 500ms)
/// shortens the first retry delay, for tests and drills.
void add_alert_passes(Scheduler& scheduler, Store& store, DagCache& dags, const Clock& clock,
                      const Config& config);

}  // namespace sluice
