#pragma once
// Data assets: what tasks read and write, named the same way everywhere (the
// DAG model, asset events, asset schedules, the API and OpenLineage).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

/// What kind of thing an asset is.
enum class AssetKind {
  kTable,  // a warehouse table: "CONN.schema.table" (Postgres), "CONN.table" (SQLite)
  kFile,   // a file: its absolute path, "/data/orders.csv"
  kUrl,    // a URL: "https://example.com/orders.csv"
};
const char* to_string(AssetKind kind);

/// One asset a task reads or writes.
struct AssetRef {
  std::string name;  // the canonical name, as above
  AssetKind kind = AssetKind::kTable;
  /// True when written by hand in the task's `inputs:` / `outputs:` keys,
  /// false when derived from the task's spec (its SQL, target, path, ...).
  bool declared = false;
  bool operator==(const AssetRef&) const = default;
};

/// The kind an asset name denotes: a URL has a scheme ("https://"), a file
/// starts with '/', anything else is a table.
AssetKind asset_kind_of(std::string_view name);

}  // namespace sluice
