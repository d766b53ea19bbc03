#pragma once
// Process configuration: built-in defaults < sluice.yaml < SLUICE_* environment
// variables < command-line flags (SPEC section 1).

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/pools.h"
#include "core/secrets.h"
#include "core/time.h"

namespace sluice {

/// A named connection (warehouse, API, ...) and the parts of its URL.
struct Connection {
  std::string name;
  std::string url;                             // as configured, secrets included
  std::map<std::string, std::string> headers;  // for HTTP connections
  std::string token;                           // bearer token for HTTP connections

  // Parts of `url`, percent-decoded. `port` is the scheme's usual port when the
  // URL names none (5432 for postgresql, 443 for https, ...), 0 when unknown.
  std::string scheme;  // "postgresql", "sqlite", "https", ...
  std::string host;
  int port = 0;
  std::string schema;  // the database name, or the file path for sqlite
  std::string login;
  std::string password;
  std::map<std::string, std::string> options;  // query parameters (?sslmode=require)

  /// Parses `url` (`scheme://[login[:password]@]host[:port][/path][?query]`,
  /// `sqlite://PATH`, or a libpq `key=value ...` string); throws UserError.
  static Connection parse(std::string name, std::string url);

  /// What templates see as `conn.NAME`: scheme, host, port, schema, login
  /// (never the password or token).
  nlohmann::json template_fields() const;
};

/// Where failure and SLA alerts go unless a DAG says otherwise.
struct AlertsConfig {
  std::string webhook;
  std::string secret;  // HMAC-SHA256 key for X-Sluice-Signature
  std::vector<std::string> on = {"failure", "sla_miss", "recovery", "check_warning"};
};

/// The web server and API.
struct WebConfig {
  std::string base_url;  // for links in alerts, e.g. "https://sluice.example.com"
  std::string bind = "127.0.0.1";
  int port = 8080;
  std::string api_token;  // when set, every API call needs `Authorization: Bearer`
  // Host names (besides loopback, the bind address and base_url's host) that
  // requests may name in `Host:`; "*" allows any. Others get 403.
  std::vector<std::string> allowed_hosts;
};

/// Spark submit defaults.
struct SparkConfig {
  std::string submit_bin = "spark-submit";
};

/// Task log storage.
struct LogsConfig {
  int64_t max_bytes_per_try = 10 * 1024 * 1024;  // then truncated with a note
};

/// Worker process settings.
struct WorkerConfig {
  int slots = 0;  // 0 until load_config fills in the number of hardware threads
  std::vector<std::string> queues = {"default"};
  Millis heartbeat_interval{2000};
  Millis heartbeat_timeout{30000};  // a silent worker's running tasks fail after this
};

/// Scheduler loop settings.
struct SchedulerConfig {
  Millis loop_interval{1000};      // how often readiness is re-evaluated
  Millis dag_scan_interval{5000};  // how often the DAG folder is checked for changes
  int map_limit = 1024;            // most instances one mapped task may expand into
};

/// The whole configuration of a Sluice process.
struct Config {
  std::string db_url = "sqlite://sluice.db";
  std::string dags_dir = "dags";
  std::map<std::string, Connection> connections;
  std::map<std::string, int> pools = {{"default", kDefaultPoolSlots}};
  AlertsConfig alerts;
  WebConfig web;
  SparkConfig spark;
  LogsConfig logs;
  WorkerConfig worker;
  SchedulerConfig scheduler;

  /// Every secret value: passwords (decoded and as written in the URL), tokens,
  /// secret-looking HTTP headers, the alerts secret, the API token. Longest first.
  std::vector<std::string> secrets() const;
  /// `conn` for the template context: {NAME: template_fields()}.
  nlohmann::json connections_template_context() const;
};

/// Inputs of load_config. Environment variables are passed in, not read, so
/// that tests are hermetic; use environment_snapshot() for the real ones.
struct ConfigSources {
  std::optional<std::string> config_file;  // --config: must exist
  std::string working_dir = ".";           // where sluice.yaml is looked for
  std::map<std::string, std::string> env;
  std::optional<std::string> db_flag;    // --db
  std::optional<std::string> dags_flag;  // --dags
};

/// The process environment as a map.
std::map<std::string, std::string> environment_snapshot();

/// Builds the configuration from its layers. Throws UserError with
/// FILE:LINE:COL for problems in sluice.yaml (unknown keys with a suggestion,
/// wrong types), naming the variable for a bad SLUICE_* value.
/// A relative `dags:` in a sluice.yaml resolves against that file's folder.
Config load_config(const ConfigSources& sources);

/// Applies the YAML `text` (read from `file`, for messages) on top of `config`.
void apply_config_yaml(Config& config, const std::string& text, const std::string& file);

/// Replaces every secret of `config` in `text` with `***`.
std::string mask_secrets(std::string text, const Config& config);

/// Parses a byte size: 1048576, "512KB", "10 MB", "1GiB" (units are powers of 1024).
std::optional<int64_t> parse_byte_size(std::string_view text);

}  // namespace sluice
