#pragma once
// Scheduler leadership: on Postgres several schedulers may run, one leads.

#include <cstdint>
#include <memory>
#include <string>

#include "core/time.h"

namespace sluice {

class PgSession;

/// Decides whether this scheduler may do scheduling work. The scheduler asks
/// before every pass; only the leader creates runs and changes task states.
class LeaderElector {
 public:
  virtual ~LeaderElector() = default;
  /// Acquires leadership or verifies it is still held. True while this
  /// process leads. Never throws: an unreachable database means "not leading".
  virtual bool check() = 0;
  /// Whether the last check found this process leading.
  virtual bool leading() const = 0;
  /// The leadership term won by the last successful acquisition (0: never led).
  virtual int64_t epoch() const = 0;
};

/// SQLite and tests: a single scheduler always leads (SQLite allows one writer
/// process at a time anyway, so a second scheduler would gain nothing).
class SoleLeader final : public LeaderElector {
 public:
  bool check() override { return true; }
  bool leading() const override { return true; }
  int64_t epoch() const override { return 1; }
};

/// Settings of the Postgres elector; tests shorten them.
struct PostgresLeaderOptions {
  Millis check_timeout{2000};  // a verification slower than this ends the lead
  Millis retry_interval{500};  // how often a standby tries to take over
};

/// Leadership through a session-level advisory lock held on a dedicated
/// session (PgSession: never silently re-established, keepalives on both
/// ends so that a leader cut off by the network loses the lock within ~10 s).
///
/// Fencing: winning the lock bumps a leader epoch (the highest `epoch` in the
/// `schedulers` table, written on the lock session). Before every pass the
/// leader checks, in one round trip on that session, that the session is alive
/// and that no higher epoch exists; if either fails it stops leading at once.
/// A pass already in flight when the lock is lost can still finish its
/// writes; those are safe to repeat (scheduled runs are unique per interval,
/// task transitions are compare-and-set under the run's row lock), so no run
/// or task is created twice.
class PostgresLeaderElector final : public LeaderElector {
 public:
  PostgresLeaderElector(std::string conninfo, std::string scheduler_id, std::string host,
                        PostgresLeaderOptions options = {});
  ~PostgresLeaderElector() override;
  PostgresLeaderElector(const PostgresLeaderElector&) = delete;
  PostgresLeaderElector& operator=(const PostgresLeaderElector&) = delete;

  bool check() override;
  bool leading() const override { return leading_; }
  int64_t epoch() const override { return epoch_; }

 private:
  bool try_acquire();
  bool verify();
  void step_down(const std::string& why);

  std::string conninfo_;
  std::string scheduler_id_;
  std::string host_;
  PostgresLeaderOptions options_;
  std::unique_ptr<PgSession> session_;
  bool leading_ = false;
  int64_t epoch_ = 0;
  bool reported_standby_ = false;
  bool reported_unreachable_ = false;
  std::chrono::steady_clock::time_point next_attempt_{};
};

}  // namespace sluice
