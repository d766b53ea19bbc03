#include "core/task_types/check.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <set>

#include "core/error.h"
#include "core/task_types/spec_reader.h"
#include "core/text.h"

namespace sluice {

using loader::Entry;
using loader::Fields;

namespace {

constexpr Check::Kind kKinds[] = {
    Check::Kind::kSqlExpect,      Check::Kind::kNotNull,       Check::Kind::kUnique,
    Check::Kind::kRowCount,       Check::Kind::kAcceptedValues, Check::Kind::kRelationships,
    Check::Kind::kFreshness,      Check::Kind::kVolumeChange,   Check::Kind::kNullRate,
    Check::Kind::kExpression,
};

Check::Kind check_kind_from(const std::string& name) {
  for (Check::Kind kind : kKinds) {
    if (name == check_kind_name(kind)) return kind;
  }
  throw UserError("unknown check kind '" + name + "' in a stored DAG");
}

/// "20%" -> 20. Percentages are written with their sign so that 0.2 and 20
/// cannot be mistaken for each other.
std::optional<double> as_percent(SpecReader& r, const Entry& e) {
  std::optional<std::string> text = r.as_string(e);
  if (!text) return std::nullopt;
  std::string t(trim(*text));
  if (!t.empty() && t.back() == '%') {
    std::string number(trim(std::string_view(t).substr(0, t.size() - 1)));
    char* end = nullptr;
    double v = number.empty() ? -1 : std::strtod(number.c_str(), &end);
    if (!number.empty() && end == number.c_str() + number.size() && std::isfinite(v) && v >= 0) {
      return v;
    }
  }
  r.error(e.value, e.label + " must be a percentage such as 20% (got '" + *text + "')");
  return std::nullopt;
}

/// A name made of the kind, the table and the columns: not_null_orders_id.
std::string derived_name(const Check& c, size_t index) {
  if (c.kind == Check::Kind::kSqlExpect) return "sql_" + std::to_string(index + 1);
  std::string name = std::string(check_kind_name(c.kind)) + "_" + c.table;
  for (const std::string& col : c.columns) name += "_" + col;
  for (char& ch : name) {
    bool keep = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                ch == '_' || ch == '.';
    if (!keep) ch = '_';
  }
  return name;
}

/// The keys each kind's mapping takes.
std::vector<std::string> kind_keys(Check::Kind kind) {
  switch (kind) {
    case Check::Kind::kSqlExpect:
      return {};
    case Check::Kind::kNotNull:
      return {"table", "column", "where"};
    case Check::Kind::kUnique:
      return {"table", "columns", "column", "where"};
    case Check::Kind::kRowCount:
      return {"table", "min", "max", "where"};
    case Check::Kind::kAcceptedValues:
      return {"table", "column", "values", "where"};
    case Check::Kind::kRelationships:
      return {"table", "column", "to", "where"};
    case Check::Kind::kFreshness:
      return {"table", "column", "max_age", "where"};
    case Check::Kind::kVolumeChange:
      return {"table", "where", "max_drop", "max_rise", "compare_to"};
    case Check::Kind::kNullRate:
      return {"table", "column", "max", "where"};
    case Check::Kind::kExpression:
      return {"table", "condition", "where"};
  }
  return {};
}

/// Reads the mapping of a table check (every kind but sql) into `check`.
void parse_table_check(SpecReader& r, const Entry& entry, Check& check) {
  const std::string kind = check_kind_name(check.kind);
  std::optional<Fields> m = r.as_mapping(entry, kind_keys(check.kind), "in " + kind);
  if (!m) return;
  auto need = [&](const char* key) -> const Entry* {
    const Entry* e = m->find(key);
    if (!e) r.error(entry.value, kind + " needs " + key);
    return e;
  };
  if (const Entry* t = need("table")) {
    if (auto v = r.as_template(*t)) check.table = *v;
  }
  if (const Entry* w = m->find("where")) {
    if (auto v = r.as_template(*w)) check.where = *v;
  }
  auto one_column = [&] {
    if (const Entry* c = need("column")) {
      if (auto v = r.as_string(*c)) check.columns = {*v};
    }
  };
  switch (check.kind) {
    case Check::Kind::kSqlExpect:
      break;
    case Check::Kind::kNotNull:
      one_column();
      break;
    case Check::Kind::kUnique:
      if (const Entry* c = m->find("columns")) {
        if (auto v = r.as_string_list(*c, false)) {
          if (v->empty()) r.error(c->value, "unique.columns needs at least one column");
          check.columns = *v;
        }
      } else if (const Entry* c1 = m->find("column")) {
        if (auto v = r.as_string(*c1)) check.columns = {*v};
      } else {
        r.error(entry.value, "unique needs columns: [NAME, ...]");
      }
      break;
    case Check::Kind::kRowCount:
      if (const Entry* v = m->find("min")) {
        check.min = r.as_int(*v, 0, std::numeric_limits<int64_t>::max());
      }
      if (const Entry* v = m->find("max")) {
        check.max = r.as_int(*v, 0, std::numeric_limits<int64_t>::max());
      }
      if (!m->find("min") && !m->find("max")) {
        r.error(entry.value, "row_count needs min, max or both");
      } else if (check.min && check.max && *check.min > *check.max) {
        r.error(entry.value, "row_count min is larger than max");
      }
      break;
    case Check::Kind::kAcceptedValues:
      one_column();
      if (const Entry* v = need("values")) {
        if (auto list = r.as_string_list(*v, true)) {
          if (list->empty()) r.error(v->value, "accepted_values.values needs at least one value");
          check.values = *list;
        }
      }
      break;
    case Check::Kind::kRelationships:
      one_column();
      if (const Entry* to = need("to")) {
        if (auto target = r.as_mapping(*to, {"table", "column"}, "in relationships.to")) {
          if (const Entry* t = target->find("table")) {
            if (auto v = r.as_template(*t)) check.to_table = *v;
          } else {
            r.error(to->value, "relationships.to needs table (the parent table)");
          }
          if (const Entry* c = target->find("column")) {
            if (auto v = r.as_string(*c)) check.to_column = *v;
          } else {
            r.error(to->value, "relationships.to needs column (the parent's key)");
          }
        }
      }
      break;
    case Check::Kind::kFreshness:
      one_column();
      if (const Entry* a = need("max_age")) {
        check.max_age = r.as_duration(*a);
      }
      break;
    case Check::Kind::kVolumeChange:
      if (const Entry* d = m->find("max_drop")) check.max_drop = as_percent(r, *d);
      if (const Entry* u = m->find("max_rise")) check.max_rise = as_percent(r, *u);
      if (!m->find("max_drop") && !m->find("max_rise")) {
        r.error(entry.value, "volume_change needs max_drop, max_rise or both, e.g. max_drop: 20%");
      }
      check.compare_to = "previous_interval";
      if (const Entry* c = m->find("compare_to")) {
        if (auto v = r.as_choice(*c, {"previous_interval", "same_weekday"})) check.compare_to = *v;
      }
      break;
    case Check::Kind::kNullRate:
      one_column();
      if (const Entry* x = need("max")) check.max_rate = as_percent(r, *x);
      break;
    case Check::Kind::kExpression:
      if (const Entry* c = need("condition")) {
        if (auto v = r.as_template(*c)) check.condition = *v;
      }
      break;
  }
}

}  // namespace

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
    case Check::Kind::kAcceptedValues:
      return "accepted_values";
    case Check::Kind::kRelationships:
      return "relationships";
    case Check::Kind::kFreshness:
      return "freshness";
    case Check::Kind::kVolumeChange:
      return "volume_change";
    case Check::Kind::kNullRate:
      return "null_rate";
    case Check::Kind::kExpression:
      return "expression";
  }
  return "sql";
}

CheckTask CheckTask::parse(SpecReader& r) {
  CheckTask spec;
  if (const Entry* e = r.require("conn")) {
    if (auto s = r.as_string(*e)) spec.conn = *s;
  }
  const Entry* e = r.require("checks");
  if (!e) return spec;
  if (!e->value.IsSequence() || e->value.size() == 0) {
    r.error(e->value.IsNull() ? e->key_node : e->value,
            e->value.IsSequence() ? "checks is empty; add at least one check"
                                  : r.type_problem(*e, "a list of checks"));
    return spec;
  }
  std::vector<std::string> kind_names;
  for (Check::Kind kind : kKinds) kind_names.emplace_back(check_kind_name(kind));
  std::vector<std::string> allowed = kind_names;
  allowed.insert(allowed.end(), {"expect", "name", "severity"});
  const std::string kind_list = join(kind_names, ", ");
  std::set<std::string> names;
  size_t i = 0;
  for (auto it = e->value.begin(); it != e->value.end(); ++it, ++i) {
    Entry item{"checks", "checks[" + std::to_string(i) + "]", e->key_node, *it};
    if (!it->IsMap()) {
      r.error(*it, r.type_problem(item, "a mapping such as {not_null: {table: T, column: C}}"));
      continue;
    }
    Fields f = r.fields_of(*it, item.label);
    r.check_unknown_keys(f, allowed, "in a check");
    Check check;
    int kinds = 0;
    for (Check::Kind kind : kKinds) {
      if (f.find(check_kind_name(kind))) {
        check.kind = kind;
        ++kinds;
      }
    }
    if (kinds != 1) {
      r.error(*it, kinds == 0 ? "a check needs one of " + kind_list
                              : "a check takes only one of " + kind_list +
                                    "; split it into several checks");
      continue;
    }
    if (const Entry* s = f.find("severity")) {
      if (auto v = r.as_choice(*s, {"error", "warn"})) {
        check.severity = *v == "warn" ? Check::Severity::kWarn : Check::Severity::kError;
      }
    }
    if (check.kind == Check::Kind::kSqlExpect) {
      const Entry* s = f.find("sql");
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
    } else if (const Entry* x = f.find("expect")) {
      r.error(x->key_node, "expect applies only to sql checks");
    } else {
      parse_table_check(r, *f.find(check_kind_name(check.kind)), check);
    }
    const Entry* n = f.find("name");
    if (n) {
      if (auto v = r.as_string(*n)) {
        if (loader::valid_id(*v)) {
          check.name = *v;
        } else {
          r.error(n->value, "check name '" + *v +
                                "' may hold only letters, digits, '_', '-' and '.'");
        }
      }
    }
    if (check.name.empty()) check.name = derived_name(check, i);
    if (!names.insert(check.name).second) {
      r.error(n ? n->value : *it,
              "two checks are named '" + check.name +
                  "'; give each a distinct name: (results are kept per name)");
    }
    spec.checks.push_back(std::move(check));
  }
  return spec;
}

CheckTask CheckTask::from_json(const nlohmann::json& j) {
  CheckTask t;
  t.conn = j.at("conn").get<std::string>();
  size_t index = 0;
  for (const nlohmann::json& c : j.at("checks")) {
    Check check;
    check.kind = check_kind_from(c.at("kind").get<std::string>());
    check.sql = c.at("sql").get<std::string>();
    check.expect = c.at("expect").get<std::string>();
    check.table = c.at("table").get<std::string>();
    check.columns = c.at("columns").get<std::vector<std::string>>();
    if (!c.at("min").is_null()) check.min = c.at("min").get<int64_t>();
    if (!c.at("max").is_null()) check.max = c.at("max").get<int64_t>();
    // Keys added later are optional: DAG versions stored before them still load.
    check.severity =
        c.value("severity", "error") == "warn" ? Check::Severity::kWarn : Check::Severity::kError;
    check.where = c.value("where", "");
    check.values = c.value("values", std::vector<std::string>{});
    check.to_table = c.value("to_table", "");
    check.to_column = c.value("to_column", "");
    if (c.contains("max_age_ms") && !c["max_age_ms"].is_null()) {
      check.max_age = Millis(c["max_age_ms"].get<int64_t>());
    }
    if (c.contains("max_drop") && !c["max_drop"].is_null()) check.max_drop = c["max_drop"].get<double>();
    if (c.contains("max_rise") && !c["max_rise"].is_null()) check.max_rise = c["max_rise"].get<double>();
    if (c.contains("max_rate") && !c["max_rate"].is_null()) check.max_rate = c["max_rate"].get<double>();
    check.compare_to = c.value("compare_to", "");
    check.condition = c.value("condition", "");
    check.name = c.value("name", "");
    if (check.name.empty()) check.name = derived_name(check, index);
    t.checks.push_back(std::move(check));
    ++index;
  }
  return t;
}

nlohmann::json CheckTask::to_json() const {
  auto opt = [](const auto& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
  nlohmann::json list = nlohmann::json::array();
  for (const Check& c : checks) {
    list.push_back({{"kind", check_kind_name(c.kind)},
                    {"name", c.name},
                    {"severity", c.severity == Check::Severity::kWarn ? "warn" : "error"},
                    {"sql", c.sql},
                    {"expect", c.expect},
                    {"table", c.table},
                    {"columns", c.columns},
                    {"where", c.where},
                    {"min", opt(c.min)},
                    {"max", opt(c.max)},
                    {"values", c.values},
                    {"to_table", c.to_table},
                    {"to_column", c.to_column},
                    {"max_age_ms", c.max_age ? nlohmann::json(c.max_age->count()) : nullptr},
                    {"max_drop", opt(c.max_drop)},
                    {"max_rise", opt(c.max_rise)},
                    {"compare_to", c.compare_to},
                    {"max_rate", opt(c.max_rate)},
                    {"condition", c.condition}});
  }
  return {{"conn", conn}, {"checks", list}};
}

void CheckTask::for_each_templated(const StringVisitor& visit) const {
  for (const Check& check : checks) {
    visit(check.sql);
    visit(check.table);
    visit(check.where);
    visit(check.to_table);
    visit(check.condition);
    for (const std::string& v : check.values) visit(v);
  }
}

}  // namespace sluice
