#pragma once
// Keeps the store's DAGs in step with the DAG folder.

#include <map>
#include <string>
#include <vector>

#include "core/time.h"

namespace sluice {

class Store;
struct LoadResult;

/// What one sync pass did.
struct SyncReport {
  int files = 0;     // DAG files present
  int parsed = 0;    // files read and parsed this pass (new or changed)
  int stored = 0;    // new DAG versions stored
  int errors = 0;    // files with errors
  int waiting = 0;   // changed files left for the next pass: the parse budget ran out
  std::vector<std::string> error_messages;  // of the files parsed in this pass
  std::vector<std::string> newly_skipped;  // "FILE: why", for files not skipped last pass
};

/// Syncs a DAG folder into the store. Remembers each file's size and
/// modification time (and those of the SQL files it reads), so a pass over
/// unchanged files parses nothing. Not thread-safe: one per scheduler.
class DagFolderSync {
 public:
  /// How long one pass may spend parsing before it leaves the remaining
  /// changed files to the next pass (it always parses at least one).
  static constexpr Millis kDefaultParseBudget{500};

  DagFolderSync(Store& store, std::string folder, Millis parse_budget = kDefaultParseBudget)
      : store_(store), folder_(std::move(folder)), parse_budget_(parse_budget) {}

  /// One pass: new and changed files parsed, smallest first, while the parse
  /// budget lasts, then stored in path order (a version only when the
  /// content hash is new); errors recorded per file; DAGs of removed files
  /// marked inactive. A large file so never holds back the small ones, and a
  /// pass never holds the scheduler for long.
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
  /// Stores what parsing one new or changed file gave; `owner` maps DAG ids
  /// to files.
  void store_file(const std::string& file, Stamp stamp, LoadResult result, Timestamp now,
                  std::map<std::string, std::string>& owner, SyncReport& report);
  bool unchanged(const std::string& file, const FileState& state) const;

  Store& store_;
  std::string folder_;
  Millis parse_budget_;
  std::map<std::string, FileState> files_;
  std::vector<std::string> skipped_;  // non-regular files named like DAG files, sorted
};

}  // namespace sluice
