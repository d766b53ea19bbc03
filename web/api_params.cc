#include "web/api_params.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <string_view>

#include "core/error.h"
#include "core/log.h"
#include "core/store.h"
#include "core/text.h"
#include "web/api.h"

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

PageRange page_range(const httplib::Request& req, std::optional<int> default_limit) {
  PageRange range;
  range.offset = int_param(req, "offset", 0, 0, kMaxOffset);
  if (req.has_param("limit") || default_limit) {
    range.limit = int_param(req, "limit", default_limit.value_or(kMaxPageSize), 1, kMaxPageSize);
  }
  return range;
}

json page_of(const json& list, const PageRange& range) {
  json page = json::array();
  size_t end = list.size();
  if (range.limit) end = std::min(end, static_cast<size_t>(range.offset) + *range.limit);
  for (size_t i = range.offset; i < end; ++i) page.push_back(list[i]);
  return page;
}

void send_page(httplib::Response& res, const json& page, int64_t total) {
  res.set_header("X-Total-Count", std::to_string(total));
  send_json(res, 200, page);
}

std::string dag_id_param(const httplib::Request& req) {
  if (req.has_param("dag_id")) return req.get_param_value("dag_id");
  if (req.has_param("dag")) return req.get_param_value("dag");
  return "";
}

DagRecord existing_dag(Store& store, const std::string& dag_id) {
  std::optional<DagRecord> record = store.get_dag(dag_id);
  if (!record) {
    std::vector<std::string> ids;
    for (const DagRecord& r : store.list_dags()) ids.push_back(r.dag_id);
    throw NotFoundError("no DAG '" + dag_id + "'" + did_you_mean(dag_id, ids));
  }
  return *record;
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

std::string api_field_names(std::string message) {
  static const std::pair<std::string_view, std::string_view> kNames[] = {
      {"--max-active-runs", "max_active_runs"}, {"--reprocess", "reprocess"},
      {"--backwards", "backwards"},             {"--from", "from"},
      {"--to", "to"},                           {"--conf", "conf"},
      {"--date", "date"}};
  auto word_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-'; };
  for (const auto& [flag, field] : kNames) {
    for (size_t at = message.find(flag); at != std::string::npos;
         at = message.find(flag, at + 1)) {
      // Whole flags only: "--to" but not "--tool".
      size_t end = at + flag.size();
      if (end < message.size() && word_char(message[end])) continue;
      message.replace(at, flag.size(), field);
    }
  }
  return message;
}

void answer_guarded(const httplib::Request& req, httplib::Response& res,
                    const std::function<void()>& handler,
                    const std::function<std::string(const std::string&)>& shown) {
  auto text = [&](const std::exception& e) { return api_field_names(shown(e.what())); };
  try {
    handler();
  } catch (const NotFoundError& e) {
    send_error(res, 404, text(e));
  } catch (const UserError& e) {
    send_error(res, 400, text(e));
  } catch (const ConflictError& e) {
    send_error(res, 409, text(e));
  } catch (const StoreError& e) {
    send_error(res, 503, "the database failed: " + text(e));
  } catch (const std::exception& e) {
    log_error("web", req.method + " " + req.path + ": " + shown(e.what()));
    send_error(res, 500, "internal error: " + text(e));
  }
}

}  // namespace sluice
