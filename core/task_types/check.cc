#include "core/task_types/check.h"

#include <limits>

#include "core/error.h"
#include "core/task_types/spec_reader.h"

namespace sluice {

using loader::Entry;
using loader::Fields;

namespace {

const char* check_kind_name(Check::Kind kind) {
  switch (kind) {
    case Check::Kind::kSqlExpect:
      return "sql";
    case Check::Kind::kNotNull:
      return "not_null";
    case Check::Kind::kUnique:
      return "unique";
    case Check::Kind::kRowCount:
      return "row_count";
  }
  return "sql";
}

Check::Kind check_kind_from(const std::string& name) {
  if (name == "sql") return Check::Kind::kSqlExpect;
  if (name == "not_null") return Check::Kind::kNotNull;
  if (name == "unique") return Check::Kind::kUnique;
  if (name == "row_count") return Check::Kind::kRowCount;
  throw UserError("unknown check kind '" + name + "' in a stored DAG");
}

}  // namespace

CheckTask CheckTask::parse(SpecReader& r) {
  CheckTask spec;
  if (const Entry* e = r.require("conn")) {
    if (auto s = r.as_string(*e)) spec.conn = *s;
  }
  if (const Entry* e = r.require("checks")) {
    if (!e->value.IsSequence() || e->value.size() == 0) {
      r.error(e->value.IsNull() ? e->key_node : e->value,
              e->value.IsSequence() ? "checks is empty; add at least one check"
                                    : r.type_problem(*e, "a list of checks"));
    } else {
      size_t i = 0;
      for (auto it = e->value.begin(); it != e->value.end(); ++it, ++i) {
        Entry item{"checks", "checks[" + std::to_string(i) + "]", e->key_node, *it};
        if (!it->IsMap()) {
          r.error(*it, r.type_problem(item, "a mapping such as {sql: ..., expect: \"> 0\"}"));
          continue;
        }
        Fields f = r.fields_of(*it, item.label);
        r.check_unknown_keys(f, {"sql", "expect", "not_null", "unique", "row_count"}, "in a check");
        Check check;
        int kinds = 0;
        for (const char* key : {"sql", "not_null", "unique", "row_count"}) {
          if (f.find(key)) ++kinds;
        }
        if (kinds != 1) {
          r.error(*it, kinds == 0 ? "a check needs one of sql (with expect), not_null, unique "
                                    "or row_count"
                                  : "a check takes only one of sql, not_null, unique or "
                                    "row_count; split it into several checks");
          continue;
        }
        if (const Entry* s = f.find("sql")) {
          check.kind = Check::Kind::kSqlExpect;
          if (auto text = r.as_template(*s)) check.sql = *text;
          if (const Entry* x = f.find("expect")) {
            if (auto text = r.as_string(*x)) {
              if (loader::valid_expect(*text)) {
                check.expect = *text;
              } else {
                r.error(x->value, "bad expect '" + *text +
                                      "'; use > N, >= N, < N, <= N, = N, != N or between A and B");
              }
            }
          } else {
            r.error(*it, "a sql check needs expect, e.g. expect: \"> 0\"");
          }
        } else if (f.find("expect")) {
          r.error(f.find("expect")->key_node, "expect applies only to sql checks");
        } else if (const Entry* n = f.find("not_null")) {
          check.kind = Check::Kind::kNotNull;
          if (auto m = r.as_mapping(*n, {"table", "column"}, "in not_null")) {
            if (const Entry* t = m->find("table")) {
              if (auto v = r.as_string(*t)) check.table = *v;
            } else {
              r.error(n->value, "not_null needs table");
            }
            if (const Entry* c = m->find("column")) {
              if (auto v = r.as_string(*c)) check.columns = {*v};
            } else {
              r.error(n->value, "not_null needs column");
            }
          }
        } else if (const Entry* u = f.find("unique")) {
          check.kind = Check::Kind::kUnique;
          if (auto m = r.as_mapping(*u, {"table", "columns", "column"}, "in unique")) {
            if (const Entry* t = m->find("table")) {
              if (auto v = r.as_string(*t)) check.table = *v;
            } else {
              r.error(u->value, "unique needs table");
            }
            if (const Entry* c = m->find("columns")) {
              if (auto v = r.as_string_list(*c, false)) {
                if (v->empty()) r.error(c->value, "unique.columns needs at least one column");
                check.columns = *v;
              }
            } else if (const Entry* c1 = m->find("column")) {
              if (auto v = r.as_string(*c1)) check.columns = {*v};
            } else {
              r.error(u->value, "unique needs columns: [NAME, ...]");
            }
          }
        } else if (const Entry* rc = f.find("row_count")) {
          check.kind = Check::Kind::kRowCount;
          if (auto m = r.as_mapping(*rc, {"table", "min", "max"}, "in row_count")) {
            if (const Entry* t = m->find("table")) {
              if (auto v = r.as_string(*t)) check.table = *v;
            } else {
              r.error(rc->value, "row_count needs table");
            }
            if (const Entry* v = m->find("min")) {
              check.min = r.as_int(*v, 0, std::numeric_limits<int64_t>::max());
            }
            if (const Entry* v = m->find("max")) {
              check.max = r.as_int(*v, 0, std::numeric_limits<int64_t>::max());
            }
            if (!m->find("min") && !m->find("max")) {
              r.error(rc->value, "row_count needs min, max or both");
            } else if (check.min && check.max && *check.min > *check.max) {
              r.error(rc->value, "row_count min is larger than max");
            }
          }
        }
        spec.checks.push_back(std::move(check));
      }
    }
  }
  return spec;
}

CheckTask CheckTask::from_json(const nlohmann::json& j) {
  CheckTask t;
  t.conn = j.at("conn").get<std::string>();
  for (const nlohmann::json& c : j.at("checks")) {
    Check check;
    check.kind = check_kind_from(c.at("kind").get<std::string>());
    check.sql = c.at("sql").get<std::string>();
    check.expect = c.at("expect").get<std::string>();
    check.table = c.at("table").get<std::string>();
    check.columns = c.at("columns").get<std::vector<std::string>>();
    if (!c.at("min").is_null()) check.min = c.at("min").get<int64_t>();
    if (!c.at("max").is_null()) check.max = c.at("max").get<int64_t>();
    t.checks.push_back(std::move(check));
  }
  return t;
}

nlohmann::json CheckTask::to_json() const {
  nlohmann::json list = nlohmann::json::array();
  for (const Check& c : checks) {
    list.push_back({{"kind", check_kind_name(c.kind)},
                    {"sql", c.sql},
                    {"expect", c.expect},
                    {"table", c.table},
                    {"columns", c.columns},
                    {"min", c.min ? nlohmann::json(*c.min) : nlohmann::json(nullptr)},
                    {"max", c.max ? nlohmann::json(*c.max) : nlohmann::json(nullptr)}});
  }
  return {{"conn", conn}, {"checks", list}};
}

void CheckTask::for_each_templated(const StringVisitor& visit) const {
  for (const Check& check : checks) {
    visit(check.sql);
    visit(check.table);
  }
}

}  // namespace sluice
