// The Postgres store: logs, workers and schedulers.

#include "core/postgres/pg_store_impl.h"

namespace sluice::pg {

void PostgresStore::append_log(int64_t ti_id, int try_number, int seq, const std::string& data) {
  transact("append a log chunk", [&](Tx& w) {
    if (w.exec_prepared("append_log", ti_id, try_number, seq, to_hex_bytea(data)).affected_rows() ==
        0) {
      throw NotFoundError("no task instance " + std::to_string(ti_id));
    }
    return 0;
  });
}

LogSlice PostgresStore::read_log(int64_t ti_id, int try_number, int64_t offset, int64_t limit) {
  if (offset < 0) offset = 0;
  return transact("read a log", [&](Tx& w) {
    LogSlice slice;
    for (const auto& row : w.exec_prepared("read_log", ti_id, try_number, offset, limit)) {
      int64_t start = row["start"].as<int64_t>();
      pqxx::binarystring bytes(row["data"]);
      std::string chunk = bytes.str();
      int64_t from = std::max<int64_t>(0, offset - start);
      slice.data += chunk.substr(static_cast<size_t>(from));
    }
    if (static_cast<int64_t>(slice.data.size()) > limit) slice.data.resize(limit);
    slice.next_offset = offset + static_cast<int64_t>(slice.data.size());
    slice.size = w.exec_prepared1("log_size", ti_id, try_number)[0].as<int64_t>();
    return slice;
  });
}

void PostgresStore::register_worker(const WorkerRecord& worker) {
  transact("register worker " + worker.id, [&](Tx& w) {
    w.exec_prepared("register_worker", worker.id, worker.host, worker.pid, worker.slots,
                    nlohmann::json(worker.queues).dump(), to_epoch_ms(worker.started_at),
                    to_epoch_ms(worker.last_heartbeat), worker.state);
    return 0;
  });
}

void PostgresStore::heartbeat_worker(const std::string& worker_id, Timestamp now) {
  transact("heartbeat worker " + worker_id, [&](Tx& w) {
    if (w.exec_prepared("heartbeat_worker", worker_id, to_epoch_ms(now)).affected_rows() == 0) {
      throw NotFoundError("no worker '" + worker_id + "'");
    }
    return 0;
  });
}

bool PostgresStore::release_claim(int64_t ti_id, int try_number, const std::string& worker_id) {
  return transact("hand back a try of task instance " + std::to_string(ti_id), [&](Tx& w) {
    return !w.exec_prepared("release_claim", ti_id, try_number, worker_id).empty();
  });
}

void PostgresStore::set_worker_state(const std::string& worker_id, const std::string& state) {
  transact("set the state of worker " + worker_id, [&](Tx& w) {
    if (w.exec_prepared("set_worker_state", worker_id, state).affected_rows() == 0) {
      throw NotFoundError("no worker '" + worker_id + "'");
    }
    return 0;
  });
}

std::vector<WorkerRecord> PostgresStore::list_workers() {
  return transact("list workers", [&](Tx& w) {
    std::vector<WorkerRecord> out;
    for (const auto& row : w.exec_prepared("list_workers")) out.push_back(read_worker(row));
    return out;
  });
}

void PostgresStore::heartbeat_scheduler(const std::string& scheduler_id, const std::string& host,
                                        bool leader, Millis loop_lag, Timestamp now) {
  transact("heartbeat scheduler " + scheduler_id, [&](Tx& w) {
    w.exec_prepared("heartbeat_scheduler", scheduler_id, host, leader, to_epoch_ms(now),
                    static_cast<int64_t>(loop_lag.count()));
    return 0;
  });
}

std::vector<SchedulerRecord> PostgresStore::list_schedulers() {
  return transact("list schedulers", [&](Tx& w) {
    std::vector<SchedulerRecord> out;
    for (const auto& row : w.exec_prepared("list_schedulers")) {
      out.push_back({text(row["id"]), text(row["host"]), row["leader"].as<bool>(),
                     row["epoch"].as<int64_t>(), from_epoch_ms(row["last_heartbeat"].as<int64_t>()),
                     Millis(row["loop_lag_ms"].as<int64_t>())});
    }
    return out;
  });
}

DurationHistogram PostgresStore::task_duration_histogram(Timestamp since,
                                                         const std::vector<Millis>& bounds) {
  std::string bounds_ms = "{";
  for (size_t i = 0; i < bounds.size(); ++i) {
    bounds_ms += (i ? "," : "") + std::to_string(bounds[i].count());
  }
  bounds_ms += "}";
  return transact("read task durations", [&](Tx& w) {
    DurationHistogram h;
    h.bounds = bounds;
    for (const auto& row :
         w.exec_prepared("task_duration_histogram", to_epoch_ms(since), bounds_ms)) {
      if (row["le"].is_null()) {
        h.count = row["total"].as<int64_t>();
        h.sum = Millis(row["sum_ms"].as<int64_t>());
      } else {
        h.counts.push_back(row["n"].as<int64_t>());
      }
    }
    return h;
  });
}

std::string PostgresStore::to_hex_bytea(const std::string& data) {
  static const char* digits = "0123456789abcdef";
  std::string out = "\\x";
  out.reserve(2 + data.size() * 2);
  for (unsigned char c : data) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

}  // namespace sluice::pg
