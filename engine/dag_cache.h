#pragma once
// Parsed DAG versions, loaded from the store once and shared.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

#include "core/dag.h"
#include "engine/readiness.h"

namespace sluice {

class Store;

/// Maps a stored DAG version to its parsed definition. Versions never change,
/// so an entry never goes stale. Thread-safe.
class DagCache {
 public:
  explicit DagCache(Store& store) : store_(store) {}
  DagCache(const DagCache&) = delete;
  DagCache& operator=(const DagCache&) = delete;

  /// The DAG of `version_id`; throws NotFoundError when the store has none.
  std::shared_ptr<const Dag> get(int64_t version_id);
  /// The readiness index of that version, built once.
  std::shared_ptr<const DagIndex> index(int64_t version_id);

 private:
  Store& store_;
  std::mutex mu_;
  std::map<int64_t, std::shared_ptr<const Dag>> dags_;         // GUARDED_BY(mu_)
  std::map<int64_t, std::shared_ptr<const DagIndex>> indexes_;  // GUARDED_BY(mu_)
};

}  // namespace sluice
