#include "web/backfill_api.h"

#include <functional>
#include <limits>

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/log.h"
#include "core/secrets.h"
#include "core/store.h"
#include "core/text.h"
#include "core/time.h"
#include "engine/backfill.h"
#include "engine/dag_cache.h"
#include "web/api.h"
#include "web/api_params.h"
#include "web/api_routes.h"

namespace sluice {
namespace {

using json = nlohmann::json;

using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

/// Typed errors become fitting statuses, as in Api::install.
Handler guarded(Handler handler) {
  return [handler](const httplib::Request& req, httplib::Response& res) {
    answer_guarded(
        req, res, [&] { handler(req, res); },
        [](const std::string& text) { return mask_url(text); });
  };
}

int64_t backfill_id(const httplib::Request& req) {
  const std::string text = req.matches[1];
  size_t used = 0;
  int64_t id = -1;
  try {
    id = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || id < 0) {
    throw NotFoundError("no backfill '" + text + "': a backfill's id is a number");
  }
  return id;
}

BackfillRequest parse_request(const std::string& text) {
  json body = json::object();
  if (!trim(text).empty()) {
    body = json::parse(text, nullptr, false);
    if (body.is_discarded()) throw UserError("request body is not valid JSON");
  }
  if (!body.is_object()) throw UserError("request body must be a JSON object");
  static const std::vector<std::string> fields = {"dag_id",          "from",      "to",
                                                  "reprocess",       "backwards", "dry_run",
                                                  "max_active_runs", "conf"};
  BackfillRequest r;
  for (auto it = body.begin(); it != body.end(); ++it) {
    const std::string& key = it.key();
    const json& v = it.value();
    if (std::find(fields.begin(), fields.end(), key) == fields.end()) {
      throw UserError("unknown field '" + key + "'" + did_you_mean(key, fields) +
                      "; fields: " + join(fields, ", "));
    }
    if (v.is_null()) continue;
    auto need = [&](bool ok, const char* what) {
      if (!ok) throw UserError(key + " must be " + what);
    };
    if (key == "dag_id" || key == "from" || key == "to" || key == "reprocess") {
      need(v.is_string(), "a string");
      std::string s = v.get<std::string>();
      if (key == "dag_id") r.dag_id = s;
      if (key == "from") r.from = s;
      if (key == "to") r.to = s;
      if (key == "reprocess") r.reprocess = s;
    } else if (key == "backwards" || key == "dry_run") {
      need(v.is_boolean(), "true or false");
      (key == "backwards" ? r.backwards : r.dry_run) = v.get<bool>();
    } else if (key == "max_active_runs") {
      need(v.is_number_integer(), "a whole number such as 4");
      r.max_active_runs = v.get<int>();
    } else if (key == "conf") {
      need(v.is_object(), "a JSON object such as {\"country\": \"de\"}");
      r.conf = v;
    }
  }
  for (auto [name, value] : {std::pair<const char*, std::string*>{"dag_id", &r.dag_id},
                             {"from", &r.from},
                             {"to", &r.to}}) {
    if (value->empty()) {
      throw UserError(std::string(name) + " is required: send {\"dag_id\": \"my_dag\", " +
                      "\"from\": \"2026-01-01\", \"to\": \"2026-01-31\"}");
    }
  }
  return r;
}

}  // namespace

void install_backfill_api(RouteTable& routes, Store& store, DagCache& dags, const Clock& clock) {
  routes.add("POST", "/api/v1/backfills",
             guarded([&](const httplib::Request& req, httplib::Response& res) {
               BackfillRequest request = parse_request(req.body);
               BackfillPlan plan = create_backfill(store, dags, request, clock.now());
               send_json(res, request.dry_run ? 200 : 201, plan_json(plan));
             }));
  routes.add("GET", "/api/v1/backfills",
             guarded([&](const httplib::Request& req, httplib::Response& res) {
               std::string dag_id = dag_id_param(req);
               if (!dag_id.empty()) existing_dag(store, dag_id);
               json out = json::array();
               for (const BackfillRecord& b :
                    store.list_backfills(dag_id, false, std::numeric_limits<int>::max())) {
                 out.push_back(backfill_json(b));
               }
               send_json(res, 200, out);
             }),
             Paging::kSliced);
  routes.add("GET", "/api/v1/backfills/{backfill_id}",
             guarded([&](const httplib::Request& req, httplib::Response& res) {
               int64_t id = backfill_id(req);
               auto b = store.get_backfill(id);
               if (!b) throw NotFoundError("no backfill " + std::to_string(id));
               send_json(res, 200, backfill_json(*b, store.list_backfill_intervals(id)));
             }));
  routes.add("POST", "/api/v1/backfills/{backfill_id}/cancel",
             guarded([&](const httplib::Request& req, httplib::Response& res) {
               int64_t id = backfill_id(req);
               bool now = req.has_param("now") && req.get_param_value("now") != "false";
               if (!trim(req.body).empty()) {
                 json body = json::parse(req.body, nullptr, false);
                 if (body.is_object() && body.contains("now") && body["now"].is_boolean()) {
                   now = body["now"].get<bool>();
                 }
               }
               // An ended backfill is a conflict with its state, as an ended
               // run is; canceled with `now` still stops its running runs.
               auto b = store.get_backfill(id);
               if (b && b->state != "running" && !(b->state == "canceled" && now)) {
                 send_error(res, 409,
                            "backfill " + std::to_string(id) + " already ended (" + b->state +
                                "); nothing to cancel");
                 return;
               }
               cancel_backfill(store, id, now, clock.now());
               b = store.get_backfill(id);
               send_json(res, 200, backfill_json(*b, store.list_backfill_intervals(id)));
             }));
}

}  // namespace sluice
