#pragma once
// Static files compiled into the binary: the browser UI's from web/assets,
// the API's description from web/openapi.

#include <string_view>
#include <vector>

namespace sluice {

/// One embedded UI file: its name and contents.
struct WebAsset {
  const char* name;
  std::string_view content;
};

const std::vector<WebAsset>& web_assets();

/// The contents of the embedded UI file `name`; empty when there is none.
std::string_view web_asset(std::string_view name);

/// The files of web/openapi: the API's OpenAPI document, openapi.json.
const std::vector<WebAsset>& api_documents();

/// The API's OpenAPI 3.1 description, served at /api/v1/openapi.json.
std::string_view openapi_document();

}  // namespace sluice
