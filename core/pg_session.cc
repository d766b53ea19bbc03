#include "core/pg_session.h"

#include <libpq-fe.h>
#include <poll.h>

#include <cerrno>
#include <chrono>
#include <map>

#include "core/error.h"
#include "core/secrets.h"
#include "core/store.h"

namespace sluice {
namespace {

std::string quote_value(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

std::string with_keepalives(const std::string& conninfo, Millis connect_timeout) {
  char* error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(encode_userinfo(conninfo).c_str(), &error);
  if (!parsed) {
    std::string message = error ? error : "out of memory";
    if (error) PQfreemem(error);
    // libpq's message may quote the URL, password included.
    throw UserError("malformed Postgres URL '" + mask_url(conninfo) + "': " +
                    mask_url(trim(message)));
  }
  std::map<std::string, std::string> values;
  for (PQconninfoOption* o = parsed; o->keyword; ++o) {
    if (o->val && *o->val) values[o->keyword] = o->val;
  }
  PQconninfoFree(parsed);
  // Client side: notice a dead peer after 5 s idle + 2 probes 2 s apart.
  values.emplace("keepalives", "1");
  values.emplace("keepalives_idle", "5");
  values.emplace("keepalives_interval", "2");
  values.emplace("keepalives_count", "2");
  values.emplace("connect_timeout",
                 std::to_string(std::max<int64_t>(2, connect_timeout.count() / 1000)));
  // Server side: the backend drops a silent client (and its advisory lock) as
  // fast; these settings are per session, so no server configuration is needed.
  std::string server =
      "-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 "
      "-c tcp_keepalives_count=2";
  auto it = values.find("options");
  values["options"] = it == values.end() ? server : it->second + " " + server;
  std::string out;
  for (const auto& [key, value] : values) {
    if (!out.empty()) out += ' ';
    out += key + "=" + quote_value(value);
  }
  return out;
}

PgSession::PgSession(const std::string& conninfo, Millis connect_timeout) {
  conn_ = PQconnectdb(with_keepalives(conninfo, connect_timeout).c_str());
  if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
    std::string message = conn_ ? trim(PQerrorMessage(conn_)) : "out of memory";
    if (conn_) PQfinish(conn_);
    conn_ = nullptr;
    throw StoreError("cannot connect to Postgres at " + mask_url(conninfo) + ": " + mask_url(message),
                     /*retryable=*/true);
  }
  // Server notices (and libpq's FATAL echo on a lost session) would go
  // straight to stderr; errors reach the owner as StoreError instead.
  PQsetNoticeProcessor(
      conn_, [](void*, const char*) {}, nullptr);
}

PgSession::~PgSession() {
  if (conn_) PQfinish(conn_);
}

void PgSession::fail(const std::string& what) {
  broken_ = true;
  std::string message = conn_ ? trim(PQerrorMessage(conn_)) : "";
  throw StoreError("lost the Postgres session: " + what + (message.empty() ? "" : ": " + message),
                   /*retryable=*/true);
}

std::vector<std::optional<std::string>> PgSession::query(const std::string& sql, Millis timeout) {
  if (broken_) fail("it broke earlier");
  if (!PQsendQuery(conn_, sql.c_str())) fail("cannot send a query");
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<std::optional<std::string>> rows;
  std::string error;
  while (true) {
    while (PQisBusy(conn_)) {
      auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) fail("no answer within " + format_duration(timeout));
      pollfd pfd{PQsocket(conn_), POLLIN, 0};
      int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
      if (ready < 0 && errno != EINTR) fail("poll failed");
      if (ready > 0 && !PQconsumeInput(conn_)) fail("reading the answer failed");
    }
    PGresult* result = PQgetResult(conn_);
    if (!result) break;
    ExecStatusType status = PQresultStatus(result);
    if (status == PGRES_TUPLES_OK) {
      rows.clear();
      for (int i = 0; i < PQntuples(result); ++i) {
        if (PQgetisnull(result, i, 0)) {
          rows.emplace_back(std::nullopt);
        } else {
          rows.emplace_back(PQgetvalue(result, i, 0));
        }
      }
    } else if (status != PGRES_COMMAND_OK && error.empty()) {
      error = trim(PQresultErrorMessage(result));
    }
    PQclear(result);
  }
  if (PQstatus(conn_) != CONNECTION_OK) fail("the connection closed");
  if (!error.empty()) throw StoreError(error);
  return rows;
}

std::vector<std::string> PgSession::wait_for_notifications(Millis timeout) {
  if (broken_) fail("it broke earlier");
  std::vector<std::string> channels;
  auto take = [&] {
    while (PGnotify* n = PQnotifies(conn_)) {
      channels.emplace_back(n->relname);
      PQfreemem(n);
    }
  };
  take();
  if (!channels.empty()) return channels;
  pollfd pfd{PQsocket(conn_), POLLIN, 0};
  int ready = ::poll(&pfd, 1, static_cast<int>(timeout.count()));
  if (ready < 0 && errno != EINTR) fail("poll failed");
  if (ready > 0) {
    if (!PQconsumeInput(conn_) || PQstatus(conn_) != CONNECTION_OK) fail("the connection closed");
    take();
  }
  return channels;
}

}  // namespace sluice
