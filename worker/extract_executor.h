#pragma once
// The `extract` task type: rows from a CSV file, an HTTP JSON API or a SQL
// query into a warehouse table, in one transaction (SPEC section 4).

#include <cstddef>

#include "worker/executor.h"
#include "worker/http_fetch.h"

namespace sluice {

/// Loads a source into a target table with append, replace,
/// replace_partition or upsert.
///
/// Choices the spec leaves open:
/// - Columns: the table is created when missing, from target `columns`
///   (name: type, in order) or else as TEXT columns named by the CSV header,
///   the first JSON record's keys or the query's columns. Source fields map to
///   table columns by name. replace_partition adds the partition column (TEXT
///   unless listed in `columns`) and fills it with the rendered value.
/// - Audit columns: when the table has a column `_loaded_at` (load start, ISO
///   UTC) or `_run_id`, they are filled. With `_run_id`, append first deletes
///   the rows of the same run, so a retried append does not duplicate.
/// - Bad rows: malformed CSV records, wrong field counts, non-object JSON
///   records and values that cannot be read as the column's integer, numeric
///   or boolean type. `reject` writes them to TABLE_rejected (run_id,
///   line_number, raw_line, reason, rejected_at, and the partition column for
///   replace_partition), replacing the rejects of the same partition or run.
/// - CSV: RFC 4180; an unquoted empty field is NULL, a quoted one "" is ''.
/// - HTTP pagination: the value at `next` is followed when it is an http(s)
///   URL, a path starting with "/" or a query starting with "?"; any other
///   value is a cursor, sent as `cursor=VALUE` added to the first page's URL.
///   Paging stops when `next` is missing, null or "". Headers of an http(s)
///   connection whose URL is a prefix of the request URL are sent too.
class ExtractExecutor : public TaskExecutor {
 public:
  /// Tuning, so tests can use small batches and short backoffs.
  struct Options {
    size_t batch_rows = 10000;  // rows per query fetch
    HttpFetchOptions http;      // headers and deadline are set per task
  };
  ExtractExecutor() = default;
  explicit ExtractExecutor(Options options) : options_(std::move(options)) {}
  TaskOutcome execute(TaskContext& ctx) override;

 private:
  Options options_;
};

}  // namespace sluice
