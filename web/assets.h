#pragma once
// Static files of the browser UI, compiled into the binary from web/assets.

#include <string_view>
#include <vector>

namespace sluice {

/// One embedded UI file: its name and contents.
struct WebAsset {
  const char* name;
  std::string_view content;
};

const std::vector<WebAsset>& web_assets();

}  // namespace sluice
