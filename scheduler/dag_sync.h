#pragma once
// Keeps the store's DAGs in step with the DAG folder.

#include <map>
#include <string>
#include <vector>

#include "core/time.h"

namespace sluice {

class Store;

/// What one sync pass did.
struct SyncReport {
  int files = 0;     // DAG files present
  int parsed = 0;    // files read and parsed this pass (new or changed)
  int stored = 0;    // new DAG versions stored
  int errors = 0;    // files with errors
  std::vector<std::string> error_messages;
  std::vector<std::string> newly_skipped;  // "FILE: why", for files not skipped last pass
};

/// Syncs a DAG folder into the store. Remembers each file's size and
/// modification time (and those of the SQL files it reads), so a pass over
/// unchanged files parses nothing. Not thread-safe: one per scheduler.
class DagFolderSync {
 public:
  DagFolderSync(Store& store, std::string folder) : store_(store), folder_(std::move(folder)) {}

  /// One pass: new and changed files parsed and stored (a version only when
  /// the content hash is new), errors recorded per file, DAGs of removed
  /// files marked inactive.
  SyncReport sync(Timestamp now);

 private:
  struct Stamp {
    int64_t mtime_ns = 0;
    int64_t size = -1;
    bool operator==(const Stamp&) const = default;
  };
  struct FileState {
    Stamp stamp;
    std::map<std::string, Stamp> dependencies;  // SQL files read by the DAG
    std::string dag_id;
    std::string hash;
    bool ok = false;
    std::string error;
  };
  static Stamp stamp_of(const std::string& path);
  /// Parses and stores one new or changed file; `owner` maps DAG ids to files.
  void sync_file(const std::string& file, Timestamp now, std::map<std::string, std::string>& owner,
                 SyncReport& report);
  bool unchanged(const std::string& file, const FileState& state) const;

  Store& store_;
  std::string folder_;
  std::map<std::string, FileState> files_;
  std::vector<std::string> skipped_;  // non-regular files named like DAG files, sorted
};

}  // namespace sluice
