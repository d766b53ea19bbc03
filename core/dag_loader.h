#pragma once
// Reading DAG files: YAML to the typed model, with validation.

#include <optional>
#include <string>
#include <vector>

#include "core/dag.h"

namespace sluice {

/// One problem found in a DAG file, printed as FILE:LINE:COL: message.
struct Diagnostic {
  std::string file;
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based; 0 when unknown
  std::string message;
  std::string to_string() const;
};

/// The outcome of loading one file: the DAG, or every problem found in it.
struct LoadResult {
  std::optional<Dag> dag;
  std::vector<Diagnostic> errors;
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
};

/// Loads every `*.yaml` / `*.yml` below `folder` (subfolders included), in
/// path order. A duplicate DAG id is an error for the later file; the first
/// keeps working. One bad file never stops the others.
FolderLoadResult load_dag_folder(const std::string& folder);

/// Lists the DAG files below `folder`, sorted.
std::vector<std::string> list_dag_files(const std::string& folder);

}  // namespace sluice
