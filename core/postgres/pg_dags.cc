// The Postgres store: DAGs, their versions, file errors and pools.

#include "core/postgres/pg_store_impl.h"

namespace sluice::pg {

int64_t PostgresStore::upsert_dag(const std::string& dag_id, const std::string& file,
                                  const std::string& content_hash, const std::string& yaml,
                                  const nlohmann::json& definition, bool initially_paused,
                                  int max_active_tasks, Timestamp now) {
  return transact("store DAG " + dag_id, [&](Tx& w) {
    int64_t ms = to_epoch_ms(now);
    pqxx::result v =
        w.exec_prepared("insert_version", dag_id, content_hash, yaml, definition.dump(), ms);
    if (v.empty()) v = w.exec_prepared("find_version", dag_id, content_hash);
    int64_t version_id = v.at(0).at(0).as<int64_t>();
    w.exec_prepared("upsert_dag", dag_id, file, initially_paused, max_active_tasks, version_id, ms);
    w.exec_prepared("clear_file_error", file);
    return version_id;
  });
}

void PostgresStore::set_file_error(const FileError& error) {
  transact("record the error of " + error.file, [&](Tx& w) {
    w.exec_prepared("set_file_error", error.file, error.dag_id, error.message,
                    to_epoch_ms(error.at));
    return 0;
  });
}

void PostgresStore::clear_file_error(const std::string& file) {
  transact("clear the error of " + file, [&](Tx& w) {
    w.exec_prepared("clear_file_error", file);
    return 0;
  });
}

std::vector<FileError> PostgresStore::list_file_errors() {
  return transact("list file errors", [&](Tx& w) {
    std::vector<FileError> out;
    for (const auto& row : w.exec_prepared("list_file_errors")) {
      out.push_back({text(row["file"]), text(row["dag_id"]), text(row["message"]),
                     from_epoch_ms(row["at"].as<int64_t>())});
    }
    return out;
  });
}

void PostgresStore::set_active_files(const std::vector<std::string>& present_files) {
  transact("mark DAG files active", [&](Tx& w) {
    w.exec_prepared("set_active_files", array_literal(present_files));
    return 0;
  });
}

std::vector<DagRecord> PostgresStore::list_dags() {
  return transact("list DAGs", [&](Tx& w) {
    std::vector<DagRecord> out;
    for (const auto& row : w.exec_prepared("list_dags")) out.push_back(read_dag(row));
    return out;
  });
}

std::optional<DagRecord> PostgresStore::get_dag(const std::string& dag_id) {
  return transact("read DAG " + dag_id, [&](Tx& w) -> std::optional<DagRecord> {
    pqxx::result r = w.exec_prepared("get_dag", dag_id);
    if (r.empty()) return std::nullopt;
    return read_dag(r[0]);
  });
}

void PostgresStore::set_paused(const std::string& dag_id, bool paused) {
  transact("pause DAG " + dag_id, [&](Tx& w) {
    if (w.exec_prepared("set_paused", dag_id, paused).affected_rows() == 0) {
      throw NotFoundError("no DAG '" + dag_id + "'");
    }
    return 0;
  });
}

DagVersion PostgresStore::get_version(int64_t version_id) {
  return transact("read a DAG version", [&](Tx& w) {
    pqxx::result r = w.exec_prepared("get_version", version_id);
    if (r.empty()) throw NotFoundError("no DAG version " + std::to_string(version_id));
    DagVersion v;
    v.id = r[0]["id"].as<int64_t>();
    v.dag_id = text(r[0]["dag_id"]);
    v.content_hash = text(r[0]["content_hash"]);
    v.yaml = text(r[0]["yaml"]);
    v.definition = parse_json(r[0]["definition"], nullptr);
    v.created_at = from_epoch_ms(r[0]["created_at"].as<int64_t>());
    return v;
  });
}

void PostgresStore::set_pools(const std::map<std::string, int>& slots) {
  transact("store pools", [&](Tx& w) {
    std::vector<std::string> names;
    std::vector<int> sizes;
    for (const auto& [name, n] : slots) {
      names.push_back(name);
      sizes.push_back(n);
    }
    w.exec_prepared("delete_pools", array_literal(names));
    w.exec_prepared("upsert_pools", array_literal(names), int_array(sizes));
    return 0;
  });
}

std::map<std::string, int> PostgresStore::list_pools() {
  return transact("list pools", [&](Tx& w) {
    std::map<std::string, int> out;
    for (const auto& row : w.exec_prepared("list_pools")) {
      out[text(row["name"])] = row["slots"].as<int>();
    }
    // The default pool always exists.
    out.emplace("default", kDefaultPoolSlots);
    return out;
  });
}

}  // namespace sluice::pg
