#include "core/store.h"
#include "core/store_values.h"

#include "core/error.h"
#include "core/postgres_store.h"
#include "core/secrets.h"
#include "core/sqlite_store.h"

namespace sluice {

std::unique_ptr<Store> Store::open(const std::string& url) {
  if (url.rfind("sqlite://", 0) == 0) {
    std::string path = url.substr(9);
    SqliteOptions options;
    auto q = path.find('?');
    if (q != std::string::npos) {
      std::string query = path.substr(q + 1);
      path = path.substr(0, q);
      if (query == "synchronous=full") {
        options.synchronous_full = true;
      } else if (query != "synchronous=normal") {
        throw UserError("unknown option '" + query + "' in database URL " + url +
                        ": use ?synchronous=full or ?synchronous=normal");
      }
    }
    if (path.empty()) throw UserError("database URL " + url + " names no file: use sqlite://sluice.db");
    return open_sqlite_store(path, options);
  }
  if (url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0 ||
      url.find('=') != std::string::npos) {
    return open_postgres_store(url);
  }
  throw UserError("unsupported database URL: " + describe_url_safely(url) +
                  "; use sqlite://PATH or postgresql://user:pass@host:port/db");
}

void Store::require_current_schema() {
  SchemaStatus status = schema_status();
  if (status.current == 0) {
    throw SchemaError("the database has no Sluice schema yet: run `sluice db migrate` first");
  }
  if (status.current < status.latest) {
    throw SchemaError("the database schema is at version " + std::to_string(status.current) +
                      " but this sluice needs " + std::to_string(status.latest) +
                      ": run `sluice db migrate`");
  }
  if (status.current > status.latest) {
    throw SchemaError("the database schema (version " + std::to_string(status.current) +
                      ") is newer than this sluice understands (" +
                      std::to_string(status.latest) + "): upgrade sluice");
  }
}

RunDecisions decide_run(RunSnapshot& snap, const Decider& decider, const RunReads& reads) {
  if (!decider.decide) return {};
  if (decider.needs_previous_interval) {
    if (auto previous = reads.previous_interval()) {
      snap.has_previous_run = true;
      for (const auto& [task_id, state] : *previous) {
        // For a mapped task any unsuccessful item stands for the whole task.
        auto [it, inserted] = snap.previous_interval.emplace(task_id, state);
        if (!inserted && it->second == TaskState::kSuccess) it->second = state;
      }
    }
  }
  RunDecisions decisions = decider.decide(snap);
  if (decisions.incomplete && snap.partial) {
    snap.partial = false;
    snap.tasks = reads.whole_run();
    decisions = decider.decide(snap);
  }
  if (decider.on_run_end && decisions.run_state && is_finished(*decisions.run_state)) {
    decider.on_run_end(snap, reads.run_end_context(snap), decisions);
  }
  return decisions;
}

std::vector<std::string> queue_names(const nlohmann::json& stored) {
  std::vector<std::string> names;
  if (!stored.is_array()) return names;
  for (const auto& q : stored) {
    if (q.is_string()) names.push_back(q.get<std::string>());
  }
  return names;
}

}  // namespace sluice
