#include "core/asset.h"

namespace sluice {

const char* to_string(AssetKind kind) {
  switch (kind) {
    case AssetKind::kTable:
      return "table";
    case AssetKind::kFile:
      return "file";
    case AssetKind::kUrl:
      return "url";
  }
  return "table";
}

AssetKind asset_kind_of(std::string_view name) {
  if (name.find("://") != std::string_view::npos) return AssetKind::kUrl;
  if (!name.empty() && name.front() == '/') return AssetKind::kFile;
  return AssetKind::kTable;
}

}  // namespace sluice
