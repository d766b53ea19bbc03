#include "worker/sensor_executor.h"

#include <glob.h>
#include <httplib.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>

#include "core/config.h"
#include "core/dag.h"
#include "core/error.h"
#include "core/store.h"
#include "core/template.h"
#include "engine/run_factory.h"
#include "worker/http_fetch.h"
#include "worker/warehouse.h"

namespace sluice {
namespace {

using Verdict = SensorCheck::Verdict;

// One check of each sensor type (core/task_types.h): check_with below does
// not compile while a sensor type has none.
SensorCheck check_condition(TaskContext& ctx, const FileSensorTask& spec, nlohmann::json& rendered,
                            Timestamp) {
  std::string pattern = render_template(spec.path, ctx.template_context);
  rendered["path"] = pattern;
  if (!pattern.empty() && pattern[0] != '/' && !ctx.task.cwd.empty()) {
    pattern = render_template(ctx.task.cwd, ctx.template_context) + "/" + pattern;
  }
  glob_t matches{};
  int rc = ::glob(pattern.c_str(), 0, nullptr, &matches);
  SensorCheck check{Verdict::kWait, "no file matches " + pattern};
  if (rc == 0) {
    for (size_t i = 0; i < matches.gl_pathc; ++i) {
      struct stat st {};
      if (::stat(matches.gl_pathv[i], &st) != 0 || !S_ISREG(st.st_mode)) continue;
      if (st.st_size < spec.min_size) {
        check.message = std::string(matches.gl_pathv[i]) + " has " + std::to_string(st.st_size) +
                        " bytes, fewer than min_size " + std::to_string(spec.min_size);
        continue;
      }
      check = {Verdict::kReady, std::string("found ") + matches.gl_pathv[i] + " (" +
                                    std::to_string(st.st_size) + " bytes)"};
      break;
    }
  }
  globfree(&matches);
  return check;
}

bool truthy(const SqlValue& value) {
  if (!value) return false;
  std::string v = *value;
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  return !(v.empty() || v == "0" || v == "false" || v == "f" || v == "no" || v == "0.0");
}

SensorCheck check_condition(TaskContext& ctx, const SqlSensorTask& spec, nlohmann::json& rendered,
                            Timestamp) {
  std::string sql = render_template(spec.sql, ctx.template_context);
  rendered["conn"] = spec.conn;
  rendered["sql"] = sql;
  std::unique_ptr<Warehouse> warehouse = open_warehouse(ctx.config, spec.conn);
  std::optional<SqlValue> value = warehouse->query_scalar(sql);
  if (!value) return {Verdict::kWait, "the query returned no row"};
  std::string shown = value->value_or("NULL");
  if (truthy(*value)) return {Verdict::kReady, "the query returned " + shown};
  return {Verdict::kWait, "the query returned " + shown};
}

SensorCheck check_condition(TaskContext& ctx, const HttpSensorTask& spec, nlohmann::json& rendered,
                            Timestamp) {
  std::string url = render_template(spec.url, ctx.template_context);
  rendered["url"] = url;
  rendered["status"] = spec.status;
  if (!spec.contains.empty()) rendered["contains"] = spec.contains;
  UrlParts parts = split_url(url);
  httplib::Client client(parts.origin);
  client.set_connection_timeout(10, 0);
  client.set_read_timeout(30, 0);
  client.set_follow_location(true);
  httplib::Result res = client.Get(parts.target);
  if (!res) return {Verdict::kWait, "GET " + url + ": " + httplib::to_string(res.error())};
  if (res->status != spec.status) {
    return {Verdict::kWait, "GET " + url + " returned " + std::to_string(res->status) +
                                ", waiting for " + std::to_string(spec.status)};
  }
  if (!spec.contains.empty() && res->body.find(spec.contains) == std::string::npos) {
    return {Verdict::kWait, "GET " + url + " returned " + std::to_string(res->status) +
                                " without the text '" + spec.contains + "'"};
  }
  return {Verdict::kReady, "GET " + url + " returned " + std::to_string(res->status)};
}

bool failed_state(TaskState s) {
  return s == TaskState::kFailed || s == TaskState::kUpstreamFailed || s == TaskState::kCanceled;
}

SensorCheck check_condition(TaskContext& ctx, const ExternalTaskSensorTask& spec,
                            nlohmann::json& rendered, Timestamp) {
  if (!ctx.store) throw Error("external_task_sensor needs the metadata store");
  Timestamp start = ctx.run.interval.start + spec.offset;
  rendered["dag"] = spec.dag;
  if (!spec.task.empty()) rendered["task"] = spec.task;
  rendered["data_interval_start"] = format_iso(start);
  std::optional<RunRecord> other;
  for (RunType type : {RunType::kScheduled, RunType::kBackfill}) {
    other = ctx.store->get_run(spec.dag, make_run_id(type, start));
    if (other) break;
  }
  std::string what = "DAG '" + spec.dag + "'" +
                     (spec.task.empty() ? "" : " task '" + spec.task + "'") +
                     " for the interval starting " + format_iso(start);
  if (!other) return {Verdict::kWait, "no run yet of " + what};
  if (spec.task.empty()) {
    if (other->state == RunState::kSuccess) return {Verdict::kReady, other->run_id + " succeeded"};
    if (spec.fail_on_failed &&
        (other->state == RunState::kFailed || other->state == RunState::kCanceled)) {
      return {Verdict::kFail,
              "the run " + other->run_id + " of " + what + " is " + to_string(other->state)};
    }
    return {Verdict::kWait, other->run_id + " is " + to_string(other->state)};
  }
  bool found = false;
  bool all_success = true;
  for (const TaskInstanceRecord& ti : ctx.store->list_task_instances(other->id)) {
    if (ti.task_id != spec.task) continue;
    found = true;
    if (spec.fail_on_failed && failed_state(ti.state)) {
      return {Verdict::kFail,
              "task '" + spec.task + "' of " + other->run_id + " is " + to_string(ti.state)};
    }
    if (ti.state != TaskState::kSuccess) all_success = false;
  }
  if (!found) {
    return {Verdict::kFail, "DAG '" + spec.dag + "' run " + other->run_id + " has no task '" +
                                spec.task + "' (check the sensor's task:)"};
  }
  if (all_success)
    return {Verdict::kReady, "task '" + spec.task + "' of " + other->run_id + " succeeded"};
  return {Verdict::kWait, "task '" + spec.task + "' of " + other->run_id + " has not succeeded"};
}

SensorCheck check_condition(TaskContext& ctx, const TimeSensorTask& spec, nlohmann::json& rendered,
                            Timestamp now) {
  Timestamp target = ctx.run.interval.end + spec.after;
  rendered["after"] = format_duration(spec.after);
  rendered["target"] = format_iso(target);
  if (now >= target) return {Verdict::kReady, "it is past " + format_iso(target)};
  return {Verdict::kWait, "waiting until " + format_iso(target)};
}

/// How long one connection attempt of a tcp_sensor may take.
constexpr int kTcpConnectTimeoutMs = 10000;

/// Connects to `address` and closes the connection at once; "" when it was
/// accepted, else why not.
std::string try_connect(const addrinfo& address) {
  int fd = ::socket(address.ai_family, address.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    address.ai_protocol);
  if (fd < 0) return std::strerror(errno);
  int err = ::connect(fd, address.ai_addr, address.ai_addrlen) == 0 ? 0 : errno;
  if (err == EINPROGRESS) {
    pollfd ready{fd, POLLOUT, 0};
    int n = 0;
    do {
      n = ::poll(&ready, 1, kTcpConnectTimeoutMs);
    } while (n < 0 && errno == EINTR);
    socklen_t size = sizeof(err);
    if (n == 0) {
      err = ETIMEDOUT;
    } else if (n < 0) {
      err = errno;
    } else if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &size) != 0) {
      err = errno;
    }
  }
  ::close(fd);
  return err == 0 ? "" : std::strerror(err);
}

SensorCheck check_condition(TaskContext& ctx, const TcpSensorTask& spec, nlohmann::json& rendered,
                            Timestamp) {
  std::string host = render_template(spec.host, ctx.template_context);
  rendered["host"] = host;
  rendered["port"] = spec.port;
  if (host.empty()) throw Error("tcp_sensor: host is empty once rendered");
  const std::string where = host + ":" + std::to_string(spec.port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* addresses = nullptr;
  int rc = ::getaddrinfo(host.c_str(), std::to_string(spec.port).c_str(), &hints, &addresses);
  // A name that does not resolve yet (a container not started) is "not yet".
  if (rc != 0) return {Verdict::kWait, "cannot resolve " + host + ": " + ::gai_strerror(rc)};
  std::string why = "no address";
  for (const addrinfo* a = addresses; a; a = a->ai_next) {
    why = try_connect(*a);
    if (why.empty()) break;
  }
  ::freeaddrinfo(addresses);
  if (why.empty()) return {Verdict::kReady, where + " accepted a connection"};
  return {Verdict::kWait, "connecting to " + where + ": " + why};
}

SensorCheck check_with(TaskContext& ctx, nlohmann::json& rendered, Timestamp now) {
  return std::visit(
      [&](const auto& spec) -> SensorCheck {
        if constexpr (std::decay_t<decltype(spec)>::kIsSensor) {
          return check_condition(ctx, spec, rendered, now);
        } else {
          throw Error("task type '" + ctx.task.type + "' is not a sensor");
        }
      },
      ctx.task.spec);
}

void real_wait(Millis duration, const std::atomic<bool>& cancel) {
  auto until = std::chrono::steady_clock::now() + duration;
  while (!cancel.load() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        Millis(50), until - std::chrono::steady_clock::now()));
  }
}

}  // namespace

SensorCheck check_sensor(TaskContext& ctx) {
  nlohmann::json rendered = nlohmann::json::object();
  RealClock real;
  const Clock& clock = ctx.clock ? *ctx.clock : real;
  return check_with(ctx, rendered, clock.now());
}

SensorExecutor::SensorExecutor() : wait_(real_wait) {}

TaskOutcome SensorExecutor::execute(TaskContext& ctx) {
  TaskOutcome outcome;
  MaskedLog log(ctx.log, ctx.config);
  RealClock real;
  const Clock& clock = ctx.clock ? *ctx.clock : real;
  const SensorSettings settings = ctx.task.sensor.value_or(SensorSettings{});
  const Millis total = ctx.task.timeout.value_or(kDefaultSensorTimeout);
  const Timestamp first = ctx.first_started_at.value_or(clock.now());
  const Timestamp deadline = first + total;
  nlohmann::json rendered = nlohmann::json::object();
  rendered["mode"] = settings.mode == SensorMode::kPoke ? "poke" : "reschedule";
  rendered["poke_interval"] = format_duration(settings.poke_interval);
  while (true) {
    Timestamp now = clock.now();
    SensorCheck check;
    try {
      check = check_with(ctx, rendered, now);
    } catch (const std::exception& e) {
      // A check that cannot run (bad connection, bad URL) is not "not yet":
      // the error is the user's to fix, and waiting hides it.
      outcome.status = TaskOutcome::Status::kFailed;
      outcome.error = log.mask(e.what());
      outcome.rendered = rendered;
      log.line("sensor check failed: " + outcome.error);
      return outcome;
    }
    outcome.rendered = rendered;
    log.line(format_iso(now) + " " + log.mask(check.message));
    if (check.verdict == Verdict::kReady) {
      outcome.status = TaskOutcome::Status::kSuccess;
      return outcome;
    }
    if (check.verdict == Verdict::kFail) {
      outcome.status = TaskOutcome::Status::kFailed;
      outcome.error = log.mask(check.message);
      outcome.timed_out = true;  // failed early: retrying would see the same
      return outcome;
    }
    now = clock.now();
    if (now >= deadline) {
      std::string why = "sensor timed out after " + format_duration(total) +
                        " (timeout, counted from the first check at " + format_iso(first) + ")";
      outcome.timed_out = true;
      if (settings.soft_fail) {
        outcome.status = TaskOutcome::Status::kSkipped;
        outcome.error = why + "; skipped (soft_fail)";
      } else {
        outcome.status = TaskOutcome::Status::kFailed;
        outcome.error = why;
      }
      log.line(outcome.error);
      return outcome;
    }
    // The last check falls at the deadline rather than after it.
    Timestamp next = std::min(now + settings.poke_interval, deadline);
    if (settings.mode == SensorMode::kReschedule) {
      outcome.status = TaskOutcome::Status::kReschedule;
      outcome.reschedule_at = next;
      log.line("not ready; next check at " + format_iso(next) + " (slot freed meanwhile)");
      return outcome;
    }
    wait_(std::chrono::duration_cast<Millis>(next - now), ctx.cancel);
    if (ctx.cancel.load()) {
      outcome.status = TaskOutcome::Status::kFailed;
      outcome.canceled = true;
      outcome.error = "canceled";
      return outcome;
    }
  }
}

}  // namespace sluice
