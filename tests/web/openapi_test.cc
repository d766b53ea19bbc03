// The OpenAPI document (web/openapi/openapi.json) against the routes the
// server registers, both ways, and against real responses; and, through
// npm's @readme/openapi-parser, against the OpenAPI 3.1 specification.

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "tests/web/api_test_fixture.h"
#include "web/api_routes.h"

namespace sluice::api_test {
namespace {

json openapi() { return json::parse(openapi_document()); }

/// `schema` with a $ref followed to the component it names.
const json& resolved(const json& doc, const json& schema) {
  if (!schema.contains("$ref")) return schema;
  std::string ref = schema["$ref"];
  const std::string prefix = "#/components/schemas/";
  EXPECT_EQ(ref.rfind(prefix, 0), 0u) << ref;
  return doc["components"]["schemas"][ref.substr(prefix.size())];
}

/// The property names an object schema documents, through $ref and allOf.
std::set<std::string> documented_fields(const json& doc, const json& schema) {
  const json& s = resolved(doc, schema);
  std::set<std::string> out;
  if (s.contains("properties")) {
    for (auto it = s["properties"].begin(); it != s["properties"].end(); ++it) out.insert(it.key());
  }
  if (s.contains("allOf")) {
    for (const json& part : s["allOf"]) {
      for (const std::string& name : documented_fields(doc, part)) out.insert(name);
    }
  }
  return out;
}

/// The parameters of an operation, $refs followed, as "in:name".
std::set<std::string> parameters_of(const json& doc, const json& operation) {
  std::set<std::string> out;
  for (const json& p : operation.value("parameters", json::array())) {
    json param = p;
    if (p.contains("$ref")) {
      std::string ref = p["$ref"];
      param = doc["components"]["parameters"][ref.substr(ref.rfind('/') + 1)];
    }
    out.insert(param["in"].get<std::string>() + ":" + param["name"].get<std::string>());
  }
  return out;
}

/// The JSON schema of an operation's 200 (or 201) response.
json success_schema(const json& operation) {
  const json& responses = operation["responses"];
  const json& ok = responses.contains("200") ? responses["200"] : responses["201"];
  return ok["content"]["application/json"]["schema"];
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), ::tolower);
  return text;
}

TEST_F(ApiTest, OpenApiDocumentListsExactlyTheRoutesTheServerRegisters) {
  json doc = openapi();
  ASSERT_EQ(doc["openapi"], "3.1.0");
  std::set<std::string> registered, documented;
  for (const ApiRoute& route : server_->routes().routes()) {
    EXPECT_TRUE(registered.insert(route.method + " " + route.path).second)
        << "registered twice: " << route.method << " " << route.path;
  }
  for (auto path = doc["paths"].begin(); path != doc["paths"].end(); ++path) {
    for (auto op = path.value().begin(); op != path.value().end(); ++op) {
      std::string method = op.key();
      std::transform(method.begin(), method.end(), method.begin(), ::toupper);
      documented.insert(method + " " + path.key());
    }
  }
  for (const std::string& route : registered) {
    EXPECT_TRUE(documented.count(route)) << route << " is registered but not in openapi.json";
  }
  for (const std::string& route : documented) {
    EXPECT_TRUE(registered.count(route)) << route << " is in openapi.json but not registered";
  }
  EXPECT_GT(registered.size(), 30u);

  // The server sends the document it embeds.
  auto served = get("/api/v1/openapi.json");
  ASSERT_EQ(served->status, 200);
  EXPECT_EQ(served->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(json::parse(served->body), doc);
  // It is public, as its security says: tools read it before they hold a token.
  start_server("s3cret-token");
  EXPECT_EQ(get("/api/v1/openapi.json")->status, 200);
  EXPECT_EQ(get("/api/v1/dags")->status, 401);
  EXPECT_EQ(doc["paths"]["/api/v1/openapi.json"]["get"]["security"], json::array());
}

TEST_F(ApiTest, OpenApiDocumentsPagingDagIdMapIndexErrorsAndTheToken) {
  json doc = openapi();
  for (const ApiRoute& route : server_->routes().routes()) {
    const std::string name = route.method + " " + route.path;
    if (!doc["paths"].contains(route.path) ||
        !doc["paths"][route.path].contains(lower(route.method))) {
      ADD_FAILURE() << name << " is not in openapi.json";
      continue;
    }
    const json& op = doc["paths"][route.path][lower(route.method)];
    std::set<std::string> params = parameters_of(doc, op);
    // Every path parameter is declared.
    for (size_t at = route.path.find('{'); at != std::string::npos;
         at = route.path.find('{', at + 1)) {
      std::string param = route.path.substr(at + 1, route.path.find('}', at) - at - 1);
      EXPECT_TRUE(params.count("path:" + param)) << name << " lacks path parameter " << param;
    }
    if (route.paging != Paging::kNone) {
      EXPECT_TRUE(params.count("query:limit")) << name;
      EXPECT_TRUE(params.count("query:offset")) << name;
      EXPECT_TRUE(op["responses"]["200"]["headers"].contains("X-Total-Count")) << name;
      EXPECT_EQ(resolved(doc, success_schema(op)).value("type", ""), "array") << name;
    }
    // Task-instance routes address one instance of a mapped task.
    if (route.path.find("{task_id}") != std::string::npos) {
      EXPECT_TRUE(params.count("query:map_index")) << name;
    }
    EXPECT_TRUE(op["responses"].contains("405")) << name;
  }
  for (const std::string list :
       {"/api/v1/runs", "/api/v1/alerts", "/api/v1/sla-misses", "/api/v1/backfills"}) {
    EXPECT_TRUE(parameters_of(doc, doc["paths"][list]["get"]).count("query:dag_id")) << list;
  }
  for (const auto& [path, code] : {std::pair{"/api/v1/dags/{dag_id}", "404"},
                                   {"/api/v1/dags/{dag_id}/runs/{run_id}/cancel", "409"},
                                   {"/api/v1/backfills/{backfill_id}/cancel", "409"},
                                   {"/api/v1/dags/{dag_id}/runs", "400"}}) {
    bool found = false;
    for (const auto& op : doc["paths"][path].items())
      found = found || op.value()["responses"].contains(code);
    EXPECT_TRUE(found) << path << " documents no " << code;
  }
  const json& bearer = doc["components"]["securitySchemes"]["bearerToken"];
  EXPECT_EQ(bearer["type"], "http");
  EXPECT_EQ(bearer["scheme"], "bearer");
  EXPECT_EQ(doc["paths"]["/healthz"]["get"]["security"], json::array()) << "no token needed";
  std::set<std::string> log_fields = documented_fields(
      doc, success_schema(
               doc["paths"]["/api/v1/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/logs"]["get"]));
  EXPECT_TRUE(log_fields.count("truncated") && log_fields.count("size"));
}

TEST_F(ApiTest, OpenApiSchemasNameEveryFieldOfRealResponses) {
  json doc = openapi();
  std::string run_id = trigger("orders");
  auto claimed = start_and_claim("orders", run_id);
  ASSERT_FALSE(claimed.empty());
  finish(claimed[0], TaskState::kSuccess, "hello\n");
  auto backfill = post("/api/v1/backfills",
                       R"({"dag_id": "orders", "from": "2026-01-01", "to": "2026-01-02"})");
  ASSERT_EQ(backfill->status, 201) << backfill->body;
  const std::string run = "/api/v1/dags/orders/runs/" + run_id;
  struct Case {
    std::string request, path;
  };
  for (const Case& c :
       {Case{"/api/v1/dags", "/api/v1/dags"}, Case{"/api/v1/dags/orders", "/api/v1/dags/{dag_id}"},
        Case{"/api/v1/runs", "/api/v1/runs"}, Case{run, "/api/v1/dags/{dag_id}/runs/{run_id}"},
        Case{run + "/tasks", "/api/v1/dags/{dag_id}/runs/{run_id}/tasks"},
        Case{run + "/tasks/extract", "/api/v1/dags/{dag_id}/runs/{run_id}/tasks/{task_id}"},
        Case{run + "/tasks/extract/logs",
             "/api/v1/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/logs"},
        Case{"/api/v1/dags/orders/grid", "/api/v1/dags/{dag_id}/grid"},
        Case{"/api/v1/backfills", "/api/v1/backfills"},
        Case{"/api/v1/backfills/" + std::to_string(body(backfill)["backfill"]["id"].get<int64_t>()),
             "/api/v1/backfills/{backfill_id}"},
        Case{"/api/v1/session", "/api/v1/session"}, Case{"/healthz", "/healthz"}}) {
    auto res = get(c.request);
    ASSERT_EQ(res->status, 200) << c.request << ": " << res->body;
    json actual = body(res);
    json schema = success_schema(doc["paths"][c.path]["get"]);
    if (resolved(doc, schema).value("type", "") == "array") {
      ASSERT_FALSE(actual.empty()) << c.request;
      actual = actual[0];
      schema = resolved(doc, schema)["items"];
    }
    std::set<std::string> fields = documented_fields(doc, schema);
    for (auto it = actual.begin(); it != actual.end(); ++it) {
      EXPECT_TRUE(fields.count(it.key()))
          << c.path << " answers '" << it.key() << "', which its schema does not name";
    }
  }
}

TEST(OpenApiValidatorTest, ServedDocumentIsValidOpenApi31) {
  namespace fs = std::filesystem;
  const std::string e2e = sluice::testing::source_dir() + "/tests/web/e2e";
  if (!fs::exists(e2e + "/node_modules/@readme/openapi-parser")) {
    FAIL() << "@readme/openapi-parser is not installed: run `npm ci` in tests/web/e2e";
  }
  if (std::system("node --version > /dev/null 2>&1") != 0) FAIL() << "node is not installed";
  const std::string command = "cd '" + e2e + "' && node openapi_validate.mjs '" +
                              sluice::testing::sluice_binary() + "' 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof(buffer), pipe)) output.append(buffer, n);
  int status = pclose(pipe);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << output;
  EXPECT_NE(output.find("valid OpenAPI 3.1.0"), std::string::npos) << output;
}

}  // namespace
}  // namespace sluice::api_test
