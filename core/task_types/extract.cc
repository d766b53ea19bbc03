#include "core/task_types/extract.h"

#include "core/error.h"
#include "core/task_types/spec_reader.h"
#include "core/text.h"
#include "core/time.h"
#include "core/typed_value.h"

namespace sluice {

using loader::Entry;

ExtractTask ExtractTask::parse(SpecReader& r) {
  ExtractTask spec;
  if (const Entry* e = r.require("source")) {
    if (auto src = r.as_mapping(*e, {"csv", "http", "query", "delimiter", "header"},
                                "in source (one of csv:, http:, query:)")) {
      const Entry* csv = src->find("csv");
      const Entry* http = src->find("http");
      const Entry* query = src->find("query");
      int kinds = (csv != nullptr) + (http != nullptr) + (query != nullptr);
      if (kinds == 0) {
        r.error(e->value, "source needs one of csv: PATH, http: {url: ...} or query: {conn, sql}");
      } else if (kinds > 1) {
        r.error(e->value, "source takes only one of csv, http or query");
      }
      if (!csv) {
        for (const char* key : {"delimiter", "header"}) {
          if (const Entry* extra = src->find(key)) {
            r.error(extra->key_node, std::string(key) + " applies only to csv sources");
          }
        }
      }
      if (csv) {
        CsvSource source;
        if (auto s = r.as_template(*csv)) source.path = *s;
        if (const Entry* d = src->find("delimiter")) {
          if (auto s = r.as_string(*d)) {
            if (s->size() == 1) {
              source.delimiter = (*s)[0];
            } else {
              r.error(d->value, "delimiter must be one character, got '" + *s + "'");
            }
          }
        }
        if (const Entry* h = src->find("header")) {
          if (auto b = r.as_bool(*h)) source.header = *b;
        }
        spec.source = source;
      } else if (http) {
        HttpSource source;
        if (auto f = r.as_mapping(*http, {"url", "headers", "records", "next"}, "in source.http")) {
          if (const Entry* u = f->find("url")) {
            if (auto s = r.as_template(*u)) source.url = *s;
          } else {
            r.error(http->value, "source.http is missing required key 'url'");
          }
          if (const Entry* h = f->find("headers")) {
            if (auto pairs = r.as_string_pairs(*h, true)) {
              source.headers = std::map<std::string, std::string>(pairs->begin(), pairs->end());
            }
          }
          if (const Entry* rec = f->find("records")) {
            if (auto s = r.as_string(*rec)) source.records = *s;
          }
          if (const Entry* n = f->find("next")) {
            if (auto s = r.as_string(*n)) source.next = *s;
          }
        }
        spec.source = source;
      } else if (query) {
        QuerySource source;
        if (auto f = r.as_mapping(*query, {"conn", "sql"}, "in source.query")) {
          if (const Entry* c = f->find("conn")) {
            if (auto s = r.as_string(*c)) source.conn = *s;
          } else {
            r.error(query->value, "source.query is missing required key 'conn'");
          }
          if (const Entry* q = f->find("sql")) {
            if (auto s = r.as_sql(*q, nullptr)) source.sql = *s;
          } else {
            r.error(query->value, "source.query is missing required key 'sql'");
          }
        }
        spec.source = source;
      }
    }
  }
  if (const Entry* e = r.require("target")) {
    if (auto f = r.as_mapping(*e, {"conn", "table", "mode", "key", "partition", "columns"},
                              "in target")) {
      ExtractTarget& target = spec.target;
      for (const char* key : {"conn", "table"}) {
        if (const Entry* v = f->find(key)) {
          if (auto s = r.as_string(*v))
            (std::string(key) == "conn" ? target.conn : target.table) = *s;
        } else {
          r.error(e->value, "target is missing required key '" + std::string(key) + "'");
        }
      }
      if (const Entry* m = f->find("mode")) {
        if (auto s = r.as_choice(*m, {"append", "replace", "replace_partition", "upsert"})) {
          target.mode = *s;
        }
      }
      if (const Entry* k = f->find("key")) {
        if (k->value.IsScalar()) {
          target.key = {k->value.Scalar()};
        } else if (auto list = r.as_string_list(*k, false)) {
          target.key = *list;
        }
      }
      if (const Entry* p = f->find("partition")) {
        if (auto part = r.as_mapping(*p, {"column", "value"}, "in target.partition")) {
          if (const Entry* c = part->find("column")) {
            if (auto s = r.as_string(*c)) target.partition_column = *s;
          } else {
            r.error(p->value, "target.partition is missing required key 'column'");
          }
          if (const Entry* v = part->find("value")) {
            if (auto s = r.as_template(*v)) target.partition_value = *s;
          } else {
            r.error(p->value, "target.partition is missing required key 'value'");
          }
        }
      }
      if (const Entry* c = f->find("columns")) {
        if (auto pairs = r.as_string_pairs(*c, false)) target.columns = *pairs;
      }
      if (target.mode == "upsert" && target.key.empty() && !f->find("key")) {
        r.error(e->value, "target mode upsert needs key: the columns that identify a row");
      }
      if (target.mode == "replace_partition" && !f->find("partition")) {
        r.error(
            e->value,
            "target mode replace_partition needs partition: {column: NAME, value: \"{{ ds }}\"}");
      }
    }
  }
  if (const Entry* e = r.get("on_bad_row")) {
    if (auto s = r.as_choice(*e, {"fail", "skip", "reject"})) spec.on_bad_row = *s;
  }
  if (const Entry* e = r.get("on_schema_change")) {
    if (auto s = r.as_choice(*e, {"fail", "add_columns", "ignore"})) spec.on_schema_change = *s;
  }
  if (const Entry* e = r.get("incremental")) {
    if (auto f = r.as_mapping(*e, {"column", "lookback"}, "in incremental")) {
      IncrementalSpec inc;
      if (const Entry* c = f->find("column")) {
        if (auto s = r.as_string(*c)) inc.column = *s;
      } else {
        r.error(e->value,
                "incremental is missing required key 'column' (the column whose "
                "high-water mark is kept, e.g. updated_at)");
      }
      if (const Entry* l = f->find("lookback")) {
        if (auto s = r.as_string(*l)) {
          std::string text(trim(*s));
          if (parse_duration(text) || is_decimal_value(text)) {
            inc.lookback = text;
          } else {
            r.error(l->value,
                    "lookback must be a duration (1h, 30m) for a timestamp column or "
                    "a number for a numeric one, got '" +
                        *s + "'");
          }
        }
      }
      if (std::holds_alternative<CsvSource>(spec.source)) {
        r.error(e->key_node,
                "incremental applies to query and http sources; a CSV file is "
                "read whole");
      }
      if (spec.target.mode != "upsert") {
        r.error(e->key_node,
                "incremental needs target mode: upsert with key: [...], so that "
                "rows read again (lookback, a retried try) replace their old "
                "version; the target's mode is " +
                    spec.target.mode);
      }
      if (r.get("map")) {
        r.error(e->key_node,
                "incremental tasks cannot be mapped: their instances would share "
                "one high-water mark");
      }
      spec.incremental = inc;
    }
  }
  return spec;
}

ExtractTask ExtractTask::from_json(const nlohmann::json& j) {
  ExtractTask t;
  const nlohmann::json& source = j.at("source");
  const std::string kind = source.at("kind").get<std::string>();
  if (kind == "csv") {
    CsvSource csv;
    csv.path = source.at("path").get<std::string>();
    const std::string delimiter = source.at("delimiter").get<std::string>();
    csv.delimiter = delimiter.empty() ? ',' : delimiter[0];
    csv.header = source.at("header").get<bool>();
    t.source = csv;
  } else if (kind == "http") {
    HttpSource http;
    http.url = source.at("url").get<std::string>();
    http.headers = source.at("headers").get<std::map<std::string, std::string>>();
    http.records = source.at("records").get<std::string>();
    http.next = source.at("next").get<std::string>();
    t.source = http;
  } else if (kind == "query") {
    t.source =
        QuerySource{source.at("conn").get<std::string>(), source.at("sql").get<std::string>()};
  } else {
    throw UserError("unknown extract source '" + kind + "' in a stored DAG");
  }
  const nlohmann::json& target = j.at("target");
  t.target.conn = target.at("conn").get<std::string>();
  t.target.table = target.at("table").get<std::string>();
  t.target.mode = target.at("mode").get<std::string>();
  t.target.key = target.at("key").get<std::vector<std::string>>();
  t.target.partition_column = target.at("partition_column").get<std::string>();
  t.target.partition_value = target.at("partition_value").get<std::string>();
  t.target.columns = pairs_from_json(target.at("columns"));
  t.on_bad_row = j.at("on_bad_row").get<std::string>();
  // Absent from DAGs stored before these keys existed.
  t.on_schema_change = j.value("on_schema_change", std::string("fail"));
  if (j.contains("incremental") && j.at("incremental").is_object()) {
    const nlohmann::json& inc = j.at("incremental");
    t.incremental =
        IncrementalSpec{inc.at("column").get<std::string>(), inc.value("lookback", std::string())};
  }
  return t;
}

nlohmann::json ExtractTask::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  nlohmann::json src = nlohmann::json::object();
  if (const auto* csv = std::get_if<CsvSource>(&source)) {
    src = {{"kind", "csv"},
           {"path", csv->path},
           {"delimiter", std::string(1, csv->delimiter)},
           {"header", csv->header}};
  } else if (const auto* http = std::get_if<HttpSource>(&source)) {
    src = {{"kind", "http"},
           {"url", http->url},
           {"headers", http->headers},
           {"records", http->records},
           {"next", http->next}};
  } else if (const auto* query = std::get_if<QuerySource>(&source)) {
    src = {{"kind", "query"}, {"conn", query->conn}, {"sql", query->sql}};
  }
  j["source"] = src;
  j["target"] = {{"conn", target.conn},
                 {"table", target.table},
                 {"mode", target.mode},
                 {"key", target.key},
                 {"partition_column", target.partition_column},
                 {"partition_value", target.partition_value},
                 {"columns", pairs_to_json(target.columns)}};
  j["on_bad_row"] = on_bad_row;
  j["on_schema_change"] = on_schema_change;
  j["incremental"] = incremental ? nlohmann::json{{"column", incremental->column},
                                                  {"lookback", incremental->lookback}}
                                 : nlohmann::json(nullptr);
  return j;
}

void ExtractTask::for_each_templated(const StringVisitor& visit) const {
  if (const auto* csv = std::get_if<CsvSource>(&source)) {
    visit(csv->path);
  } else if (const auto* http = std::get_if<HttpSource>(&source)) {
    visit(http->url);
    for (const auto& [name, value] : http->headers) visit(value);
  } else if (const auto* query = std::get_if<QuerySource>(&source)) {
    visit(query->sql);
  }
  visit(target.table);
  visit(target.partition_value);
}

}  // namespace sluice
