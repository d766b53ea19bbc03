#include "scheduler/leader.h"

#include "core/error.h"
#include "core/log.h"
#include "core/outage.h"
#include "core/pg_session.h"

namespace sluice {
namespace {

// The session-level advisory lock held by the leading scheduler. Advisory
// locks are per database, so the second half of the key is the schema: two
// Sluice installations in one database (one schema each) elect separately.
// Two-int keys never collide with the store's bigint-keyed locks.
const char* const kLeaderLock = "1364543811, hashtext(current_schema())";

std::string literal(const std::string& value) {
  std::string out = "E'";
  for (char c : value) {
    if (c == '\\' || c == '\'') out += c;
    out += c;
  }
  return out + "'";
}

}  // namespace

PostgresLeaderElector::PostgresLeaderElector(std::string conninfo, std::string scheduler_id,
                                             std::string host, PostgresLeaderOptions options)
    : conninfo_(std::move(conninfo)),
      scheduler_id_(std::move(scheduler_id)),
      host_(std::move(host)),
      options_(options) {}

PostgresLeaderElector::~PostgresLeaderElector() = default;

bool PostgresLeaderElector::check() {
  if (leading_) {
    if (verify()) return true;
    next_attempt_ = std::chrono::steady_clock::now() + options_.retry_interval;
    return false;
  }
  if (std::chrono::steady_clock::now() < next_attempt_) return false;
  next_attempt_ = std::chrono::steady_clock::now() + options_.retry_interval;
  return try_acquire();
}

bool PostgresLeaderElector::try_acquire() {
  try {
    if (!session_ || session_->broken()) {
      session_.reset();
      session_ = std::make_unique<PgSession>(conninfo_);
      if (reported_unreachable_) StoreOutage::up("scheduler");
      reported_unreachable_ = false;
    }
    auto got = session_->query(std::string("SELECT pg_try_advisory_lock(") + kLeaderLock + ")",
                               options_.check_timeout);
    if (got.empty() || !got[0] || *got[0] != "t") {
      if (!reported_standby_) {
        log_info("scheduler", "standing by: another scheduler leads; taking over when it stops");
      }
      reported_standby_ = true;
      return false;
    }
    // Won the lock: start a new term, higher than any before, and clear the
    // leader flag of schedulers that died leading.
    const std::string id = literal(scheduler_id_);
    auto epoch = session_->query(
        "WITH e AS (SELECT COALESCE(max(epoch), 0) + 1 AS epoch FROM schedulers), "
        "o AS (UPDATE schedulers SET leader = FALSE WHERE leader AND id <> " +
            id +
            "), "
            "m AS (INSERT INTO schedulers (id, host, leader, epoch, last_heartbeat, loop_lag_ms) "
            "SELECT " +
            id + ", " + literal(host_) +
            ", TRUE, e.epoch, "
            "(extract(epoch FROM clock_timestamp()) * 1000)::bigint, 0 FROM e "
            "ON CONFLICT (id) DO UPDATE SET leader = TRUE, epoch = excluded.epoch, "
            "host = excluded.host, last_heartbeat = excluded.last_heartbeat RETURNING epoch) "
            "SELECT epoch::text FROM m",
        options_.check_timeout);
    if (epoch.empty() || !epoch[0]) throw StoreError("the leader epoch was not recorded");
    epoch_ = std::stoll(*epoch[0]);
    leading_ = true;
    reported_standby_ = false;
    log_info("scheduler",
             "leading as " + scheduler_id_ + " (epoch " + std::to_string(epoch_) + ")");
    return true;
  } catch (const StoreError& e) {
    // Whatever happened, this session may hold the lock without a term: drop
    // it, which releases the lock on the server.
    session_.reset();
    StoreOutage::down("scheduler", std::string("cannot take part in leader election: ") + e.what());
    reported_unreachable_ = true;
    return false;
  }
}

bool PostgresLeaderElector::verify() {
  try {
    auto max_epoch = session_->query("SELECT COALESCE(max(epoch), 0)::text FROM schedulers",
                                     options_.check_timeout);
    if (max_epoch.empty() || !max_epoch[0]) {
      step_down("the schedulers table is empty");
      return false;
    }
    int64_t highest = std::stoll(*max_epoch[0]);
    if (highest != epoch_) {
      step_down("a newer leader epoch " + std::to_string(highest) + " exists");
      return false;
    }
    return true;
  } catch (const StoreError& e) {
    step_down(e.what());
    return false;
  }
}

void PostgresLeaderElector::step_down(const std::string& why) {
  leading_ = false;
  // Closing the session releases the lock on the server (if it still can).
  session_.reset();
  log_error("scheduler", "stopped leading (epoch " + std::to_string(epoch_) + "): " + why);
}

}  // namespace sluice
