#include "core/task_types/sql.h"

#include "core/task_types/spec_reader.h"

namespace sluice {

SqlTask SqlTask::parse(SpecReader& r) {
  SqlTask spec;
  if (const auto* e = r.require("conn")) {
    if (auto s = r.as_string(*e)) spec.conn = *s;
  }
  if (const auto* e = r.require("sql")) {
    if (auto s = r.as_sql(*e, &spec.sql_file)) spec.sql = *s;
  }
  if (const auto* e = r.get("transaction")) {
    if (auto b = r.as_bool(*e)) spec.transaction = *b;
  }
  return spec;
}

SqlTask SqlTask::from_json(const nlohmann::json& j) {
  SqlTask t;
  t.conn = j.at("conn").get<std::string>();
  t.sql = j.at("sql").get<std::string>();
  t.sql_file = j.at("sql_file").get<std::string>();
  t.transaction = j.at("transaction").get<bool>();
  return t;
}

nlohmann::json SqlTask::to_json() const {
  return {{"conn", conn}, {"sql", sql}, {"sql_file", sql_file}, {"transaction", transaction}};
}

void SqlTask::for_each_templated(const StringVisitor& visit) const { visit(sql); }

}  // namespace sluice
