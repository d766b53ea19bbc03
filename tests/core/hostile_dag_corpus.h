#pragma once
// DAG files written to break a loader (issue 21, items 10-12): the same seed
// gives the same files, so a slow or crashing one can be found again.

#include <cstdint>
#include <string>
#include <vector>

namespace sluice::testing {

/// One file of a corpus: its name in the DAG folder, its bytes, and what it
/// tries ("mutation", "binary", "numbers", "ids", "templates", "aliases",
/// "large", "schedules"; "valid" for the good ones).
struct CorpusFile {
  std::string name;
  std::string content;
  std::string kind;
};

/// `count` hostile files: random mutations of valid DAGs, binary junk, huge
/// numbers, bad ids, bad templates, alias bombs and cycles, files at the size
/// and nesting limits, impossible schedules.
std::vector<CorpusFile> hostile_dag_corpus(uint32_t seed, size_t count);

/// Five valid DAGs, ids valid_dag_0 to valid_dag_4, each with a run due at
/// once (a daily schedule without catch-up) whose tasks succeed.
std::vector<CorpusFile> valid_dag_corpus();

}  // namespace sluice::testing
