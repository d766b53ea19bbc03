#include "web/assets.h"

namespace sluice {

namespace {

std::string_view find(const std::vector<WebAsset>& assets, std::string_view name) {
  for (const WebAsset& asset : assets) {
    if (name == asset.name) return asset.content;
  }
  return {};
}

}  // namespace

std::string_view web_asset(std::string_view name) { return find(web_assets(), name); }

std::string_view openapi_document() { return find(api_documents(), "openapi.json"); }

}  // namespace sluice
