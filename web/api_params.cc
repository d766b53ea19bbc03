#include "web/api_params.h"

#include <httplib.h>

#include "core/error.h"
#include "core/text.h"

namespace sluice {

using nlohmann::json;

int int_param(const httplib::Request& req, const std::string& name, int fallback, int min,
              int max) {
  if (!req.has_param(name.c_str())) return fallback;
  std::string text = req.get_param_value(name.c_str());
  size_t used = 0;
  long value = 0;
  try {
    value = std::stol(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || value < min || value > max) {
    throw UserError(name + " must be an integer from " + std::to_string(min) + " to " +
                    std::to_string(max) + ", not '" + text + "'");
  }
  return static_cast<int>(value);
}

json body_object(const httplib::Request& req) {
  if (trim(req.body).empty()) return json::object();
  json body;
  try {
    body = json::parse(req.body);
  } catch (const json::exception& e) {
    throw UserError(std::string("request body is not valid JSON: ") + e.what());
  }
  if (!body.is_object()) throw UserError("request body must be a JSON object");
  return body;
}

}  // namespace sluice
