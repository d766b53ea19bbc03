#include "engine/dag_cache.h"

#include "core/store.h"

namespace sluice {

std::shared_ptr<const Dag> DagCache::get(int64_t version_id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = dags_.find(version_id);
    if (it != dags_.end()) return it->second;
  }
  // Parse outside the lock; two threads may parse the same version once each.
  DagVersion version = store_.get_version(version_id);
  auto dag = std::make_shared<const Dag>(dag_from_json(version.definition));
  std::lock_guard<std::mutex> lock(mu_);
  return dags_.emplace(version_id, std::move(dag)).first->second;
}

std::shared_ptr<const DagIndex> DagCache::index(int64_t version_id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = indexes_.find(version_id);
    if (it != indexes_.end()) return it->second;
  }
  auto index = std::make_shared<const DagIndex>(DagIndex::build(*get(version_id)));
  std::lock_guard<std::mutex> lock(mu_);
  return indexes_.emplace(version_id, std::move(index)).first->second;
}

}  // namespace sluice
