#pragma once
// Reading DAG files: YAML to the typed model, with validation.

#include <optional>
#include <string>
#include <vector>

#include "core/dag.h"
#include "core/yaml_reader.h"

namespace sluice {

/// Bounds on one DAG file, so that a broken or hostile file costs an import
/// error, never a crashed or stalled scheduler.
inline constexpr size_t kMaxDagFileBytes = 1 << 20;
/// The outcome of loading one file: the DAG, or every problem found in it.
struct LoadResult {
  std::optional<Dag> dag;
  std::vector<Diagnostic> errors;
  std::vector<Diagnostic> warnings;  // the DAG loads, but something should change
  std::string content;       // the raw file text
  std::string content_hash;  // hex SHA-256 of the content and of any SQL files it reads
};

/// Loads one DAG from `text` as if read from `file` (which names the DAG when
/// it has no `dag:` key and anchors relative paths).
LoadResult load_dag_text(const std::string& file, const std::string& text);
/// Reads and loads one DAG file.
LoadResult load_dag_file(const std::string& file);

/// The outcome of loading a folder: every DAG that loaded, and every problem.
struct FolderLoadResult {
  std::vector<Dag> dags;
  std::vector<LoadResult> files;  // one per file, in path order
  std::vector<Diagnostic> errors;
  std::vector<Diagnostic> warnings;  // files skipped, and the warnings of loaded files
};

/// Loads every `*.yaml` / `*.yml` below `folder` (subfolders included), in
/// path order. A duplicate DAG id is an error for the later file; the first
/// keeps working. One bad file never stops the others.
FolderLoadResult load_dag_folder(const std::string& folder);

/// Lists the DAG files below `folder`, sorted. Names that look like DAG files
/// but are no regular files (FIFOs, devices, broken symlinks) or are not valid
/// UTF-8 are left out and, when `skipped` is given, listed there.
std::vector<std::string> list_dag_files(const std::string& folder,
                                        std::vector<std::string>* skipped = nullptr);

/// Why list_dag_files skips `path`, e.g. "a FIFO, not a regular file"; ""
/// when it does not.
std::string why_dag_file_is_skipped(const std::string& path);

}  // namespace sluice
