#include "worker/mapping.h"

#include <chrono>
#include <cstdio>
#include <map>
#include <string>

#include "core/dag.h"
#include "core/error.h"
#include "core/store.h"
#include "core/template.h"
#include "core/time.h"

namespace sluice {
namespace {

std::string render_value(const std::string& text, const nlohmann::json& context,
                         const Task& task, const char* field) {
  try {
    return render_template(text, context);
  } catch (const std::exception& e) {
    throw UserError("task '" + task.id + "': cannot render " + field + ": " + e.what());
  }
}

Timestamp parse_day(const std::string& text, const Task& task, const char* field) {
  std::optional<Timestamp> t;
  if (is_bare_date(text)) t = parse_timestamp(text);
  if (!t) {
    throw UserError("task '" + task.id + "': " + field + " rendered to '" + text +
                    "', which is not a date (YYYY-MM-DD)");
  }
  return *t;
}

}  // namespace

std::vector<nlohmann::json> render_map_items(const Task& task, const nlohmann::json& context,
                                             int limit) {
  std::vector<nlohmann::json> items;
  if (!task.map) return items;
  const MapSpec& map = *task.map;
  const size_t most = static_cast<size_t>(limit) + 1;
  switch (map.kind) {
    case MapSpec::Kind::kItems:
      for (const nlohmann::json& item : map.items) {
        if (items.size() >= most) break;
        if (item.is_string()) {
          items.push_back(render_value(item.get<std::string>(), context, task, "map.items"));
        } else {
          items.push_back(item);
        }
      }
      break;
    case MapSpec::Kind::kItemsTemplate: {
      std::string text = render_value(map.items_template, context, task, "map.items");
      nlohmann::json parsed = nlohmann::json::parse(text, nullptr, false);
      if (parsed.is_discarded() || !parsed.is_array()) {
        std::string shown = text.size() > 200 ? text.substr(0, 200) + "..." : text;
        throw UserError("task '" + task.id + "': map.items rendered to '" + shown +
                        "', which is not a JSON array; the upstream output must be a list "
                        "such as [\"a\", \"b\"]");
      }
      for (nlohmann::json& item : parsed) {
        if (items.size() >= most) break;
        items.push_back(std::move(item));
      }
      break;
    }
    case MapSpec::Kind::kDates: {
      Timestamp from = parse_day(render_value(map.dates_from, context, task, "map.dates.from"),
                                 task, "map.dates.from");
      Timestamp to = parse_day(render_value(map.dates_to, context, task, "map.dates.to"), task,
                               "map.dates.to");
      for (Timestamp day = from; day <= to && items.size() < most; day += std::chrono::days(1)) {
        std::chrono::year_month_day ymd{std::chrono::floor<std::chrono::days>(day)};
        char buf[16];
        std::snprintf(buf, sizeof(buf), "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                      static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
        items.push_back(std::string(buf));
      }
      break;
    }
  }
  return items;
}

nlohmann::json collect_outputs(const std::vector<TaskInstanceRecord>& instances) {
  nlohmann::json outputs = nlohmann::json::object();
  std::map<std::string, std::map<int, const TaskInstanceRecord*>> mapped;
  for (const TaskInstanceRecord& ti : instances) {
    if (ti.map_index >= 0) {
      mapped[ti.task_id][ti.map_index] = &ti;
    } else if (ti.state == TaskState::kSuccess) {
      outputs[ti.task_id] = ti.outputs;
    }
  }
  for (const auto& [task_id, by_index] : mapped) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& [index, ti] : by_index) {
      while (static_cast<int>(list.size()) < index) list.push_back(nullptr);
      list.push_back(ti->state == TaskState::kSuccess ? ti->outputs : nlohmann::json());
    }
    outputs[task_id] = std::move(list);
  }
  return outputs;
}

}  // namespace sluice
