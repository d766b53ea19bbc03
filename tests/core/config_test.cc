#include "core/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/dag_loader.h"
#include "core/error.h"
#include "core/migrations.h"
#include "core/pools.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;

/// A fresh directory under the system temp folder, removed at the end.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "sluice_config_test_XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string write(const std::string& name, const std::string& text) const {
    std::string file = (fs::path(path_) / name).string();
    std::ofstream(file) << text;
    return file;
  }

 private:
  std::string path_;
};

// The message of the UserError that `fn` throws, or "" when none.
template <typename Fn>
std::string user_error(Fn fn) {
  try {
    fn();
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

std::string yaml_error(const std::string& yaml) {
  return user_error([&] {
    Config config;
    apply_config_yaml(config, yaml, "sluice.yaml");
  });
}

// Sources that look for sluice.yaml in `dir` and nowhere else.
ConfigSources sources_in(const std::string& dir) {
  ConfigSources sources;
  sources.working_dir = dir;
  return sources;
}

Config from_yaml(const std::string& yaml) {
  Config config;
  apply_config_yaml(config, yaml, "sluice.yaml");
  return config;
}

// ---- connections ------------------------------------------------------------

// The default pool's size lives in core/pools.h, and the Postgres claim
// function's SQL spells it too: a change to one must reach the other.
TEST(PoolsTest, TheDefaultPoolSizeIsTheSameInConfigAndInTheClaimFunction) {
  EXPECT_EQ(Config().pools.at("default"), kDefaultPoolSlots);
  std::string claim;
  for (const Migration& m : postgres_migrations()) {
    std::string sql = m.sql;
    if (sql.find("FUNCTION sluice_claim") != std::string::npos) claim = sql;
  }
  ASSERT_FALSE(claim.empty()) << "no migration defines sluice_claim";
  std::string fallback = "COALESCE(lim, " + std::to_string(kDefaultPoolSlots) + ")";
  EXPECT_NE(claim.find(fallback), std::string::npos)
      << "the newest sluice_claim does not fall back to " << kDefaultPoolSlots << " slots";
}

TEST(ConnectionTest, ParsesPostgresUrlWithEncodedPassword) {
  Connection c =
      Connection::parse("warehouse", "postgresql://user:p%40ss@host:5433/db?sslmode=require");
  EXPECT_EQ(c.scheme, "postgresql");
  EXPECT_EQ(c.login, "user");
  EXPECT_EQ(c.password, "p@ss");
  EXPECT_EQ(c.host, "host");
  EXPECT_EQ(c.port, 5433);
  EXPECT_EQ(c.schema, "db");
  EXPECT_EQ(c.options.at("sslmode"), "require");
  EXPECT_EQ(mask_url(c.url), "postgresql://user:***@host:5433/db?sslmode=require");
}

TEST(ConnectionTest, FillsTheSchemesUsualPort) {
  EXPECT_EQ(Connection::parse("a", "postgresql://u@db/x").port, 5432);
  EXPECT_EQ(Connection::parse("a", "http://example.com").port, 80);
  EXPECT_EQ(Connection::parse("a", "ftp://example.com").port, 0);
}

TEST(ConnectionTest, ParsesSqlitePaths) {
  Connection abs = Connection::parse("local", "sqlite:///abs/path/w.db");
  EXPECT_EQ(abs.scheme, "sqlite");
  EXPECT_EQ(abs.schema, "/abs/path/w.db");
  EXPECT_EQ(abs.host, "");
  Connection rel = Connection::parse("local", "sqlite://rel.db");
  EXPECT_EQ(rel.schema, "rel.db");
  EXPECT_EQ(mask_url(rel.url), "sqlite://rel.db");
}

TEST(ConnectionTest, ParsesHttpsUrlWithoutUserInfo) {
  Connection c = Connection::parse("api", "https://api.example.com/v2");
  EXPECT_EQ(c.scheme, "https");
  EXPECT_EQ(c.host, "api.example.com");
  EXPECT_EQ(c.port, 443);
  EXPECT_EQ(c.schema, "v2");
  EXPECT_EQ(c.login, "");
  EXPECT_EQ(c.password, "");
}

TEST(ConnectionTest, ParsesRawAtSignsAndIpv6Hosts) {
  Connection c = Connection::parse("w", "postgresql://me:a@b@[::1]:6000/app");
  EXPECT_EQ(c.password, "a@b");
  EXPECT_EQ(c.host, "::1");
  EXPECT_EQ(c.port, 6000);
  EXPECT_EQ(mask_url(c.url), "postgresql://me:***@[::1]:6000/app");
}

TEST(ConnectionTest, ParsesLibpqKeyValueStrings) {
  Connection c =
      Connection::parse("w", "host=db.internal port=5433 dbname=app user=etl password='s3 cret'");
  EXPECT_EQ(c.scheme, "postgresql");
  EXPECT_EQ(c.host, "db.internal");
  EXPECT_EQ(c.port, 5433);
  EXPECT_EQ(c.schema, "app");
  EXPECT_EQ(c.login, "etl");
  EXPECT_EQ(c.password, "s3 cret");
  EXPECT_EQ(mask_url(c.url), "host=db.internal port=5433 dbname=app user=etl password=***");
}

TEST(ConnectionTest, RejectsMalformedUrls) {
  EXPECT_NE(user_error([] { Connection::parse("w", "not a url"); }).find("connection 'w'"),
            std::string::npos);
  EXPECT_NE(user_error([] {
              Connection::parse("w", "postgresql://h:99999/db");
            }).find("port after the host must be a number"),
            std::string::npos);
  EXPECT_NE(user_error([] { Connection::parse("w", "sqlite://"); }).find("file path"),
            std::string::npos);
}

TEST(ConnectionTest, TemplateFieldsNeverIncludeSecrets) {
  Connection c = Connection::parse("w", "postgresql://etl:hunter2@db:5433/app");
  nlohmann::json fields = c.template_fields();
  EXPECT_EQ(fields["host"], "db");
  EXPECT_EQ(fields["port"], 5433);
  EXPECT_EQ(fields["schema"], "app");
  EXPECT_EQ(fields["login"], "etl");
  EXPECT_EQ(fields.dump().find("hunter2"), std::string::npos);
}

// ---- sluice.yaml --------------------------------------------------------------

TEST(ConfigYamlTest, DefaultsWithoutAnyFile) {
  TempDir dir;
  Config config = load_config(sources_in(dir.path()));
  EXPECT_EQ(config.db_url, "sqlite://sluice.db");
  EXPECT_EQ(config.dags_dir, "dags");
  EXPECT_EQ(config.pools.at("default"), 128);
  EXPECT_EQ(config.web.bind, "127.0.0.1");
  EXPECT_EQ(config.web.port, 8080);
  EXPECT_EQ(config.spark.submit_bin, "spark-submit");
  EXPECT_EQ(config.logs.max_bytes_per_try, 10 * 1024 * 1024);
  EXPECT_GE(config.worker.slots, 1);
  EXPECT_EQ(config.worker.queues, std::vector<std::string>{"default"});
  EXPECT_EQ(config.worker.heartbeat_interval, Millis{2000});
  EXPECT_EQ(config.worker.heartbeat_timeout, Millis{30000});
  EXPECT_TRUE(config.connections.empty());
}

TEST(ConfigYamlTest, ReadsEverySection) {
  Config config = from_yaml(R"(
db: postgresql://sluice:pw@meta:5432/sluice
connections:
  warehouse: postgresql://etl:secret@wh:5433/dw
  api:
    url: https://api.example.com
    token: tok-123
    headers: {X-Tenant: acme, X-Api-Key: key-456}
pools: {etl: 4, default: 10}
alerts: {webhook: "https://hooks.example.com/x", secret: s1, on: [failure, retry]}
web: {base_url: "https://sluice.example.com", bind: 0.0.0.0, port: 9090, allowed_hosts: [etl.internal]}
spark: {submit_bin: /opt/spark/bin/spark-submit}
logs: {max_bytes_per_try: 512KB}
worker: {slots: 3, queues: [default, spark], heartbeat_interval: 500ms, heartbeat_timeout: 10s}
scheduler: {loop_interval: 200ms}
)");
  EXPECT_EQ(config.db_url, "postgresql://sluice:pw@meta:5432/sluice");
  ASSERT_EQ(config.connections.size(), 2u);
  EXPECT_EQ(config.connections.at("warehouse").port, 5433);
  const Connection& api = config.connections.at("api");
  EXPECT_EQ(api.name, "api");
  EXPECT_EQ(api.host, "api.example.com");
  EXPECT_EQ(api.token, "tok-123");
  EXPECT_EQ(api.headers.at("X-Tenant"), "acme");
  EXPECT_EQ(config.pools.at("etl"), 4);
  EXPECT_EQ(config.pools.at("default"), 10);
  EXPECT_EQ(config.alerts.webhook, "https://hooks.example.com/x");
  EXPECT_EQ(config.alerts.on, (std::vector<std::string>{"failure", "retry"}));
  EXPECT_EQ(config.web.bind, "0.0.0.0");
  EXPECT_EQ(config.web.port, 9090);
  EXPECT_EQ(config.web.allowed_hosts, (std::vector<std::string>{"etl.internal"}));
  EXPECT_EQ(config.spark.submit_bin, "/opt/spark/bin/spark-submit");
  EXPECT_EQ(config.logs.max_bytes_per_try, 512 * 1024);
  EXPECT_EQ(config.worker.slots, 3);
  EXPECT_EQ(config.worker.queues, (std::vector<std::string>{"default", "spark"}));
  EXPECT_EQ(config.worker.heartbeat_interval, Millis{500});
  EXPECT_EQ(config.worker.heartbeat_timeout, Millis{10000});
  EXPECT_EQ(config.scheduler.loop_interval, Millis{200});
}

TEST(ConfigYamlTest, UnknownKeyNamesLineColumnAndSuggestion) {
  std::string message = yaml_error("db: sqlite://x.db\nweb:\n  bind: 0.0.0.0\n  prot: 9000\n");
  EXPECT_NE(message.find("sluice.yaml:4:3:"), std::string::npos) << message;
  EXPECT_NE(message.find("unknown key 'prot'"), std::string::npos) << message;
  EXPECT_NE(message.find("did you mean 'port'?"), std::string::npos) << message;

  message = yaml_error("\nconnection:\n  w: sqlite://w.db\n");
  EXPECT_NE(message.find("sluice.yaml:2:1:"), std::string::npos) << message;
  EXPECT_NE(message.find("did you mean 'connections'?"), std::string::npos) << message;

  message = yaml_error("connections:\n  api: {url: 'https://x', tokn: t}\n");
  EXPECT_NE(message.find("did you mean 'token'?"), std::string::npos) << message;
}

TEST(ConfigYamlTest, WrongTypesNameTheKeyAndTheExpectedType) {
  std::string message = yaml_error("web:\n  port: eighty\n");
  EXPECT_NE(message.find("sluice.yaml:2:9:"), std::string::npos) << message;
  EXPECT_NE(message.find("web.port must be a whole number, got 'eighty'"), std::string::npos)
      << message;
  EXPECT_NE(yaml_error("pools: [a, b]").find("pools must be a mapping, got a list"),
            std::string::npos);
  EXPECT_NE(yaml_error("pools: {etl: -1}").find("pools.etl must be between 0"), std::string::npos);
  EXPECT_NE(yaml_error("worker: {queues: default}").find("worker.queues must be a list of strings"),
            std::string::npos);
  EXPECT_NE(yaml_error("worker: {heartbeat_interval: soon}")
                .find("bad duration 'soon' for worker.heartbeat_interval"),
            std::string::npos);
  EXPECT_NE(yaml_error("spark: {submit_bin: [a]}").find("spark.submit_bin must be a string"),
            std::string::npos);
  EXPECT_NE(yaml_error("logs: {max_bytes_per_try: lots}").find("logs.max_bytes_per_try"),
            std::string::npos);
  EXPECT_NE(yaml_error("alerts: {on: [failure, sla_mis]}").find("did you mean 'sla_miss'?"),
            std::string::npos);
  EXPECT_NE(yaml_error("db: mysql://x/y").find("sqlite://PATH or postgresql://"),
            std::string::npos);
}

TEST(ConfigYamlTest, SyntaxErrorsAndDuplicateKeysAreReported) {
  std::string message = yaml_error("web: {port: 80\n");
  EXPECT_NE(message.find("sluice.yaml:"), std::string::npos) << message;
  EXPECT_NE(message.find("YAML syntax error"), std::string::npos) << message;
  message = yaml_error("pools:\n  etl: 1\n  etl: 2\n");
  EXPECT_NE(message.find("sluice.yaml:3:3: duplicate key 'etl'"), std::string::npos) << message;
}

// sluice.yaml and DAG files are read by one reader (core/yaml_reader.h): the
// whole-document checks of DAG files guard the configuration too, and the same
// mistake gets the same message in both.
TEST(ConfigYamlTest, TheWholeFileIsCheckedLikeADagFile) {
  std::string bomb = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 6; ++i) {
    std::string prev = "*l" + std::to_string(i - 1);
    bomb += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [" + prev;
    for (int j = 1; j < 10; ++j) bomb += ", " + prev;
    bomb += "]\n";
  }
  std::string message = yaml_error(bomb);
  EXPECT_NE(message.find("more than 200000 YAML nodes"), std::string::npos) << message;

  message = yaml_error("web:\n  bind: \"caf\xe9\"\n");
  EXPECT_NE(message.find("sluice.yaml:2:"), std::string::npos) << message;
  EXPECT_NE(message.find("invalid UTF-8 (byte 0xE9)"), std::string::npos) << message;
}

TEST(ConfigYamlTest, TheSameMistakeReadsTheSameInADagFile) {
  const std::string pools = "pools:\n  etl: 1\n  etl: 2\n";
  std::string from_config = yaml_error(pools);
  LoadResult dag =
      load_dag_text("sluice.yaml", pools + "tasks:\n  - {id: a, type: shell, command: \"true\"}\n");
  std::string from_dag;
  for (const Diagnostic& d : dag.errors) {
    if (d.message.rfind("duplicate key", 0) == 0) from_dag = d.to_string();
  }
  EXPECT_EQ(from_config, from_dag);
  EXPECT_EQ(from_config,
            "sluice.yaml:3:3: duplicate key 'etl' (first at line 2); remove one of them");
}

TEST(ConfigYamlTest, EmptyFileAndEmptySectionsKeepDefaults) {
  Config config = from_yaml("");
  EXPECT_EQ(config.db_url, "sqlite://sluice.db");
  config = from_yaml("web:\npools:\n");
  EXPECT_EQ(config.web.port, 8080);
  EXPECT_EQ(config.pools.at("default"), 128);
}

TEST(ConfigYamlTest, ConnectionMappingNeedsAUrl) {
  EXPECT_NE(yaml_error("connections:\n  api: {token: t}\n").find("needs a 'url'"),
            std::string::npos);
  std::string message = yaml_error("connections:\n  w: nonsense\n");
  EXPECT_NE(message.find("sluice.yaml:2:6:"), std::string::npos) << message;
  EXPECT_NE(message.find("connection 'w'"), std::string::npos) << message;
}

// ---- layering -------------------------------------------------------------------

TEST(ConfigLayeringTest, YamlThenEnvironmentThenFlags) {
  TempDir dir;
  dir.write("sluice.yaml",
            "db: sqlite://from_yaml.db\n"
            "dags: /abs/yaml_dags\n"
            "spark: {submit_bin: yaml-spark}\n"
            "web: {base_url: 'https://yaml'}\n"
            "connections:\n"
            "  warehouse: {url: 'postgresql://y@yaml-host/dw', headers: {X-A: b}}\n");
  ConfigSources sources = sources_in(dir.path());

  // Given only the file, its values apply.
  Config config = load_config(sources);
  EXPECT_EQ(config.db_url, "sqlite://from_yaml.db");
  EXPECT_EQ(config.dags_dir, "/abs/yaml_dags");
  EXPECT_EQ(config.spark.submit_bin, "yaml-spark");
  EXPECT_EQ(config.connections.at("warehouse").host, "yaml-host");

  // Then the environment overrides the file.
  sources.env = {{"SLUICE_DB", "sqlite://from_env.db"},
                 {"SLUICE_DAGS", "env_dags"},
                 {"SLUICE_SPARK_SUBMIT_BIN", "env-spark"},
                 {"SLUICE_WEB_BASE_URL", "https://env"},
                 {"SLUICE_CONN_WAREHOUSE", "postgresql://e:pw@env-host/dw"},
                 {"SLUICE_CONN_Extra_Api", "https://extra.example.com"},
                 {"SLUICE_ALERTS_WEBHOOK", "https://hook"},
                 {"SLUICE_ALERTS_SECRET", "hmac-key"},
                 {"SLUICE_API_TOKEN", "api-tok"},
                 {"SLUICE_LOGS_MAX_BYTES_PER_TRY", "1MB"},
                 {"SLUICE_CONN_EMPTY", ""},
                 {"UNRELATED", "x"}};
  config = load_config(sources);
  EXPECT_EQ(config.db_url, "sqlite://from_env.db");
  EXPECT_EQ(config.dags_dir, "env_dags");
  EXPECT_EQ(config.spark.submit_bin, "env-spark");
  EXPECT_EQ(config.web.base_url, "https://env");
  EXPECT_EQ(config.connections.at("warehouse").host, "env-host");
  EXPECT_EQ(config.connections.at("warehouse").headers.at("X-A"), "b");
  EXPECT_EQ(config.connections.at("extra_api").host, "extra.example.com");
  EXPECT_EQ(config.connections.count("empty"), 0u);
  EXPECT_EQ(config.alerts.webhook, "https://hook");
  EXPECT_EQ(config.alerts.secret, "hmac-key");
  EXPECT_EQ(config.web.api_token, "api-tok");
  EXPECT_EQ(config.logs.max_bytes_per_try, 1024 * 1024);

  // Then flags override both.
  sources.db_flag = "postgresql://flag@h/db";
  sources.dags_flag = "flag_dags";
  config = load_config(sources);
  EXPECT_EQ(config.db_url, "postgresql://flag@h/db");
  EXPECT_EQ(config.dags_dir, "flag_dags");
  EXPECT_EQ(config.spark.submit_bin, "env-spark");
}

TEST(ConfigLayeringTest, ExplicitConfigFileReplacesTheWorkingDirectoryOne) {
  TempDir dir;
  dir.write("sluice.yaml", "db: sqlite://cwd.db\n");
  std::string other = dir.write("other.yaml", "db: sqlite://other.db\ndags: my_dags\n");
  ConfigSources sources = sources_in(dir.path());
  sources.config_file = other;
  Config config = load_config(sources);
  EXPECT_EQ(config.db_url, "sqlite://other.db");
  // A relative folder in the file is relative to the file.
  EXPECT_EQ(config.dags_dir, (fs::path(dir.path()) / "my_dags").string());
}

TEST(ConfigLayeringTest, MissingExplicitConfigFileIsAnError) {
  TempDir dir;
  std::string missing = (fs::path(dir.path()) / "nope.yaml").string();
  ConfigSources sources;
  sources.config_file = missing;
  std::string message = user_error([&] { load_config(sources); });
  EXPECT_NE(message.find("nope.yaml' does not exist"), std::string::npos) << message;
}

TEST(ConfigLayeringTest, ErrorsInTheFileNameTheFile) {
  TempDir dir;
  dir.write("sluice.yaml", "dags: d\npols: {a: 1}\n");
  std::string message = user_error([&] { load_config(sources_in(dir.path())); });
  EXPECT_NE(message.find("sluice.yaml:2:1: unknown key 'pols'"), std::string::npos) << message;
  EXPECT_NE(message.find("did you mean 'pools'?"), std::string::npos) << message;
}

TEST(ConfigLayeringTest, BadEnvironmentValuesNameTheVariable) {
  TempDir dir;
  ConfigSources sources = sources_in(dir.path());
  sources.env = {{"SLUICE_LOGS_MAX_BYTES_PER_TRY", "big"}};
  EXPECT_NE(user_error([&] { load_config(sources); }).find("SLUICE_LOGS_MAX_BYTES_PER_TRY"),
            std::string::npos);
  sources.env = {{"SLUICE_CONN_W", "garbage"}};
  EXPECT_NE(user_error([&] { load_config(sources); }).find("SLUICE_CONN_W"), std::string::npos);
  sources.env = {{"SLUICE_DB", "oracle://x"}};
  EXPECT_NE(user_error([&] { load_config(sources); }).find("SLUICE_DB"), std::string::npos);
}

TEST(ConfigLayeringTest, MalformedUrlsAreDescribedWithoutTheirValue) {
  // given values that are secrets pasted in the wrong place
  TempDir dir;
  ConfigSources sources = sources_in(dir.path());
  sources.db_flag = "SuperSecret123";
  std::string db = user_error([&] { load_config(sources); });
  sources.db_flag.reset();
  sources.env = {{"SLUICE_CONN_W", "SuperSecret123"}};
  std::string conn = user_error([&] { load_config(sources); });
  sources.env = {{"SLUICE_CONN_W", "host=db SuperSecret123"}};
  std::string key_value = user_error([&] { load_config(sources); });
  sources.env = {{"SLUICE_CONN_W", "postgresql://u:Super/Secret123@db/x"}};
  std::string raw_slash = user_error([&] { load_config(sources); });
  sources.env = {{"SLUICE_DB", "mysql://u:SuperSecret123@db/x"}};
  std::string scheme = user_error([&] { load_config(sources); });
  sources.env = {{"SLUICE_DB", "host=db SuperSecret123"}};
  std::string db_key_value = user_error([&] { load_config(sources); });

  // then each message says what is wrong, names the source, and never quotes the value
  for (const std::string& message : {db, conn, key_value, raw_slash, scheme, db_key_value}) {
    EXPECT_EQ(message.find("Secret123"), std::string::npos) << message;
  }
  EXPECT_NE(db.find("--db: the database URL must be sqlite://PATH"), std::string::npos) << db;
  EXPECT_NE(db.find("no scheme://"), std::string::npos) << db;
  EXPECT_NE(conn.find("SLUICE_CONN_W: connection 'w': the value is not a URL"), std::string::npos)
      << conn;
  EXPECT_NE(key_value.find("a word has no '='"), std::string::npos) << key_value;
  EXPECT_NE(raw_slash.find("percent-encode"), std::string::npos) << raw_slash;
  EXPECT_NE(scheme.find("its scheme is 'mysql'"), std::string::npos) << scheme;
  EXPECT_NE(db_key_value.find("SLUICE_DB: connection 'db': expected key=value pairs"),
            std::string::npos)
      << db_key_value;
}

TEST(ConfigLayeringTest, EnvironmentSnapshotSeesTheProcessEnvironment) {
  setenv("SLUICE_CONFIG_TEST_MARKER", "here", 1);
  auto env = environment_snapshot();
  unsetenv("SLUICE_CONFIG_TEST_MARKER");
  EXPECT_EQ(env["SLUICE_CONFIG_TEST_MARKER"], "here");
}

// ---- sizes and secrets ------------------------------------------------------------

TEST(ByteSizeTest, ParsesPlainNumbersAndBinaryUnits) {
  EXPECT_EQ(parse_byte_size("1048576"), 1048576);
  EXPECT_EQ(parse_byte_size("10 MB"), 10 * 1024 * 1024);
  EXPECT_EQ(parse_byte_size("2kib"), 2048);
  EXPECT_EQ(parse_byte_size("1G"), int64_t{1} << 30);
  EXPECT_FALSE(parse_byte_size("MB").has_value());
  EXPECT_FALSE(parse_byte_size("10 TB").has_value());
  EXPECT_FALSE(parse_byte_size("99999999999999999999").has_value());
}

TEST(MaskSecretsTest, ReplacesEverySecretWithStars) {
  Config config = from_yaml(R"(
db: postgresql://meta:metapw@meta/sluice
connections:
  warehouse: postgresql://user:p%40ss@host:5433/db
  api: {url: 'https://api.example.com', token: tok-123, headers: {Authorization: Bearer hdr-789, X-Tenant: acme}}
alerts: {secret: hmac-secret}
web: {api_token: api-token-xyz}
)");
  std::string text =
      "connecting to postgresql://user:p%40ss@host:5433/db with p@ss; token tok-123; "
      "Authorization: Bearer hdr-789 (hdr-789) tenant acme; signed with hmac-secret; "
      "api api-token-xyz; meta metapw";
  std::string masked = mask_secrets(text, config);
  EXPECT_EQ(masked,
            "connecting to postgresql://user:***@host:5433/db with ***; token ***; "
            "Authorization: *** (***) tenant acme; signed with ***; api ***; meta ***");
  EXPECT_EQ(mask_url(config.connections.at("warehouse").url), "postgresql://user:***@host:5433/db");
}

TEST(MaskSecretsTest, APasswordWithARawAtSignIsASecretWhole) {
  Config config = from_yaml(R"(
connections:
  warehouse: postgresql://u:Post@Secret42@host/x
)");
  EXPECT_EQ(config.connections.at("warehouse").password, "Post@Secret42");
  EXPECT_EQ(config.connections.at("warehouse").host, "host");
  EXPECT_EQ(mask_secrets("pw Post@Secret42 and Secret42", config), "pw *** and Secret42");
  EXPECT_EQ(mask_url(config.connections.at("warehouse").url), "postgresql://u:***@host/x");
}

TEST(MaskSecretsTest, LongerSecretsAreMaskedWhole) {
  EXPECT_EQ(mask_secrets("a=abc b=abcdef", std::vector<std::string>{"abc", "abcdef"}),
            "a=*** b=***");
  EXPECT_EQ(mask_secrets("nothing here", std::vector<std::string>{""}), "nothing here");
}

TEST(MaskSecretsTest, NothingToMaskLeavesTextAlone) {
  Config config;
  EXPECT_TRUE(config.secrets().empty());
  EXPECT_EQ(mask_secrets("plain log line", config), "plain log line");
}

}  // namespace
}  // namespace sluice
