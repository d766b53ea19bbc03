#include "core/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "core/dag.h"
#include "core/error.h"
#include "core/secrets.h"
#include "core/text.h"
#include "core/yaml_reader.h"

extern char** environ;

namespace sluice {

namespace {

namespace fs = std::filesystem;

// ---- URLs ----------------------------------------------------------------

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

int default_port(std::string_view scheme) {
  if (scheme == "postgresql" || scheme == "postgres") return 5432;
  if (scheme == "https") return 443;
  if (scheme == "http") return 80;
  if (scheme == "mysql") return 3306;
  return 0;
}

bool parse_port(std::string_view text, int* out) {
  if (text.empty() || text.size() > 5) return false;
  int value = 0;
  for (char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    value = value * 10 + (c - '0');
  }
  if (value < 1 || value > 65535) return false;
  *out = value;
  return true;
}

[[noreturn]] void bad_url(const std::string& name, const std::string& problem) {
  throw UserError("connection '" + name + "': " + problem);
}

// libpq "host=db port=5432 dbname=app user=me password=secret" strings.
void parse_key_value_url(Connection& c) {
  c.scheme = "postgresql";
  std::string_view rest = c.url;
  while (true) {
    rest = trim(rest);
    if (rest.empty()) break;
    size_t eq = rest.find('=');
    if (eq == std::string_view::npos)
      bad_url(c.name,
              "expected key=value pairs such as host=db user=me, but a word has no '=' "
              "(the value is not shown, as it may hold a password)");
    std::string key(trim(rest.substr(0, eq)));
    rest = trim(rest.substr(eq + 1));
    std::string value;
    if (!rest.empty() && rest[0] == '\'') {
      size_t i = 1;
      for (; i < rest.size() && rest[i] != '\''; ++i) {
        if (rest[i] == '\\' && i + 1 < rest.size()) ++i;
        value += rest[i];
      }
      if (i >= rest.size()) bad_url(c.name, "unclosed quote in value of '" + key + "'");
      rest.remove_prefix(i + 1);
    } else {
      size_t end = 0;
      while (end < rest.size() && !std::isspace(static_cast<unsigned char>(rest[end]))) ++end;
      value = std::string(rest.substr(0, end));
      rest.remove_prefix(end);
    }
    if (key == "host" || key == "hostaddr") {
      c.host = value;
    } else if (key == "port") {
      if (!parse_port(value, &c.port)) bad_url(c.name, "port must be a number from 1 to 65535");
    } else if (key == "dbname") {
      c.schema = value;
    } else if (key == "user") {
      c.login = value;
    } else if (key == "password") {
      c.password = value;
    } else {
      c.options[key] = value;
    }
  }
  if (c.port == 0) c.port = 5432;
}

// ---- YAML ----------------------------------------------------------------

/// Reads one sluice.yaml through the shared reader (core/yaml_reader.h),
/// stopping at the first problem: a configuration that does not load starts
/// nothing, so there is no later step to report more for.
class YamlReader {
 public:
  YamlReader(std::string file, const std::string& text) : reader_(std::move(file), text) {}

  /// The document, or throws UserError with what is wrong in it.
  YAML::Node parse() {
    std::optional<YAML::Node> doc = reader_.parse();
    if (!doc) stop();
    return *doc;
  }

  [[noreturn]] void fail(const YAML::Node& node, const std::string& message) {
    reader_.error(node, message);
    stop();
  }

  /// Calls `handle(key, key_node, value)` for each key, rejecting unknown
  /// keys (duplicates were rejected with the whole document). A null node
  /// (an empty section) has no keys.
  void for_each_key(
      const YAML::Node& map, const std::string& path, const std::vector<std::string>& allowed,
      const std::function<void(const std::string&, const YAML::Node&, const YAML::Node&)>& handle) {
    if (map.IsNull()) return;
    if (!map.IsMap()) fail(map, reader_.type_problem(entry(map, path), "a mapping"));
    yaml::Fields fields = reader_.fields_of(map, path);
    if (!allowed.empty()) {
      reader_.check_unknown_keys(fields, allowed, path.empty() ? "at the top level" : "in " + path);
    }
    check();
    for (const yaml::Entry& e : fields.entries) handle(e.key, e.key_node, e.value);
  }

  std::string read_string(const YAML::Node& node, const std::string& path) {
    if (node.IsNull()) return "";
    return value(reader_.as_string(entry(node, path)));
  }

  int64_t read_integer(const YAML::Node& node, const std::string& path, int64_t min, int64_t max) {
    return value(reader_.as_int(entry(node, path), min, max));
  }

  Millis read_duration(const YAML::Node& node, const std::string& path) {
    Millis d = value(reader_.as_duration(entry(node, path)));
    if (d.count() <= 0) fail(node, path + " must be a positive duration like 500ms, 30s, 5m or 2h");
    return d;
  }

  std::vector<std::string> read_string_list(const YAML::Node& node, const std::string& path) {
    if (node.IsNull()) return {};
    return value(reader_.as_string_list(entry(node, path)));
  }

  std::map<std::string, std::string> read_string_map(const YAML::Node& node,
                                                     const std::string& path) {
    std::map<std::string, std::string> out;
    for_each_key(node, path, {},
                 [&](const std::string& key, const YAML::Node&, const YAML::Node& v) {
                   out[key] = read_string(v, path + "." + key);
                 });
    return out;
  }

 private:
  static yaml::Entry entry(const YAML::Node& node, const std::string& path) {
    return yaml::Entry{path, path, node, node};
  }
  template <typename T>
  T value(std::optional<T> read) {
    if (!read) stop();
    return std::move(*read);
  }
  void check() {
    if (!reader_.errors().empty()) stop();
  }
  [[noreturn]] void stop() { throw UserError(reader_.errors_text()); }

  yaml::Reader reader_;
};

void apply_connection(Config& config, YamlReader& reader, const std::string& name,
                      const YAML::Node& key_node, const YAML::Node& value) {
  std::string path = "connections." + name;
  std::string url;
  std::map<std::string, std::string> headers;
  std::string token;
  if (value.IsMap()) {
    reader.for_each_key(value, path, {"url", "headers", "token"},
                        [&](const std::string& key, const YAML::Node&, const YAML::Node& v) {
                          if (key == "url") url = reader.read_string(v, path + ".url");
                          if (key == "headers")
                            headers = reader.read_string_map(v, path + ".headers");
                          if (key == "token") token = reader.read_string(v, path + ".token");
                        });
    if (url.empty()) reader.fail(key_node, "connection '" + name + "' needs a 'url'");
  } else if (value.IsScalar()) {
    url = value.Scalar();
  } else {
    reader.fail(value, "'" + path + "' must be a URL string or a mapping {url, headers, token}");
  }
  try {
    Connection c = Connection::parse(name, url);
    c.headers = std::move(headers);
    c.token = std::move(token);
    config.connections[name] = std::move(c);
  } catch (const UserError& e) {
    reader.fail(value, e.what());
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError("cannot read configuration file '" + path + "'");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void check_db_url(const std::string& url, const std::string& source) {
  // Neither message quotes the value back: a password pasted in the wrong place would be.
  if (!starts_with(url, "sqlite://") && !starts_with(url, "postgresql://") &&
      !starts_with(url, "postgres://") &&
      (url.find("://") != std::string::npos || url.find('=') == std::string::npos)) {
    throw UserError(source +
                    ": the database URL must be sqlite://PATH or "
                    "postgresql://user:pass@host:port/db (or libpq key=value pairs), but " +
                    describe_url_safely(url) +
                    "; the value is not shown, as it may hold a password");
  }
  try {
    Connection::parse("db", url);
  } catch (const UserError& e) {
    throw UserError(source + ": " + e.what());
  }
}

bool secret_looking_header(const std::string& name) {
  std::string lowered = to_lower(name);
  for (const char* word : {"auth", "token", "key", "secret", "password", "cookie"}) {
    if (lowered.find(word) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

// ---- Connection ----------------------------------------------------------

Connection Connection::parse(std::string name, std::string url) {
  Connection c;
  c.name = std::move(name);
  c.url = std::move(url);
  std::string_view s = c.url;
  size_t sep = s.find("://");
  if (sep == std::string_view::npos) {
    if (s.find('=') != std::string_view::npos) {
      parse_key_value_url(c);
      return c;
    }
    bad_url(c.name,
            "the value is not a URL: expected scheme://[user[:password]@]host[:port]/... "
            "or key=value pairs (the value is not shown, as it may hold a password)");
  }
  c.scheme = to_lower(s.substr(0, sep));
  if (c.scheme.empty()) bad_url(c.name, "URL has no scheme");
  s.remove_prefix(sep + 3);
  if (c.scheme == "sqlite") {
    // Everything after sqlite:// is a file path: sqlite:///abs/path, sqlite://rel.db.
    size_t q = s.find('?');
    c.schema = percent_decode(s.substr(0, q));
    if (c.schema.empty()) bad_url(c.name, "sqlite URL needs a file path: sqlite://PATH");
    return c;
  }
  size_t query_at = s.find('?');
  std::string_view query = query_at == std::string_view::npos ? "" : s.substr(query_at + 1);
  s = s.substr(0, query_at);
  size_t fragment = s.find('#');
  s = s.substr(0, fragment);
  size_t slash = s.find('/');
  std::string_view authority = s.substr(0, slash);
  if (slash != std::string_view::npos) {
    std::string_view path = s.substr(slash + 1);
    c.schema = percent_decode(path);
  }
  // The userinfo ends at the last '@': a raw '@' in a password is common enough.
  size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority.remove_prefix(at + 1);
    size_t colon = userinfo.find(':');
    c.login = percent_decode(userinfo.substr(0, colon));
    if (colon != std::string_view::npos) c.password = percent_decode(userinfo.substr(colon + 1));
  }
  std::string_view host = authority;
  std::string_view port;
  if (!host.empty() && host[0] == '[') {  // [::1]:5432
    size_t close = host.find(']');
    if (close == std::string_view::npos) bad_url(c.name, "unclosed '[' in host");
    port = host.substr(close + 1);
    host = host.substr(1, close - 1);
    if (!port.empty() && port[0] != ':') bad_url(c.name, "unexpected text after ']'");
    if (!port.empty()) port.remove_prefix(1);
  } else {
    size_t colon = host.rfind(':');
    if (colon != std::string_view::npos) {
      port = host.substr(colon + 1);
      host = host.substr(0, colon);
    }
  }
  c.host = percent_decode(host);
  if (!port.empty()) {
    if (!parse_port(port, &c.port)) {
      // Not quoted back: with a raw '/' or '?' in a password, the "port" is part of it.
      bad_url(c.name,
              "the port after the host must be a number from 1 to 65535 (percent-encode a "
              "'/', '?' or '#' in a password as %2F, %3F, %23)");
    }
  } else {
    c.port = default_port(c.scheme);
  }
  for (const std::string& pair : split(query, '&')) {
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string key = percent_decode(pair.substr(0, eq));
    c.options[key] = eq == std::string::npos ? "" : percent_decode(pair.substr(eq + 1));
  }
  return c;
}

nlohmann::json Connection::template_fields() const {
  return nlohmann::json{
      {"scheme", scheme}, {"host", host}, {"port", port}, {"schema", schema}, {"login", login}};
}

// ---- Config --------------------------------------------------------------

std::vector<std::string> Config::secrets() const {
  std::set<std::string> found;
  auto add = [&](const std::string& s) {
    if (!s.empty()) found.insert(s);
  };
  auto add_url = [&](const Connection& c) {
    add(c.password);
    // As written in the URL too, where it may be percent-encoded.
    auto [start, length] = url_password_span(c.url);
    if (start != std::string::npos) add(c.url.substr(start, length));
  };
  for (const auto& [name, c] : connections) {
    add_url(c);
    add(c.token);
    for (const auto& [header, value] : c.headers) {
      if (!secret_looking_header(header)) continue;
      add(value);
      // "Bearer abc": the credential may show up in a log without its scheme.
      size_t space = value.find(' ');
      if (space != std::string::npos) add(std::string(trim(std::string_view(value).substr(space))));
    }
  }
  try {
    add_url(Connection::parse("db", db_url));
  } catch (const UserError&) {
    // An unparsable db URL has no password part to hide.
  }
  add(alerts.secret);
  add(web.api_token);
  std::vector<std::string> out(found.begin(), found.end());
  // Longest first, so that a secret containing another is replaced whole.
  std::stable_sort(out.begin(), out.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return out;
}

nlohmann::json Config::connections_template_context() const {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [name, c] : connections) out[name] = c.template_fields();
  return out;
}

std::map<std::string, std::string> environment_snapshot() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    out.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return out;
}

std::optional<int64_t> parse_byte_size(std::string_view text) {
  text = trim(text);
  size_t i = 0;
  int64_t number = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    if (number > (std::numeric_limits<int64_t>::max() - 9) / 10) return std::nullopt;
    number = number * 10 + (text[i] - '0');
    ++i;
  }
  if (i == 0) return std::nullopt;
  std::string unit = to_lower(trim(text.substr(i)));
  int64_t scale;
  if (unit.empty() || unit == "b") {
    scale = 1;
  } else if (unit == "k" || unit == "kb" || unit == "kib") {
    scale = int64_t{1} << 10;
  } else if (unit == "m" || unit == "mb" || unit == "mib") {
    scale = int64_t{1} << 20;
  } else if (unit == "g" || unit == "gb" || unit == "gib") {
    scale = int64_t{1} << 30;
  } else {
    return std::nullopt;
  }
  if (number > std::numeric_limits<int64_t>::max() / scale) return std::nullopt;
  return number * scale;
}

void apply_config_yaml(Config& config, const std::string& text, const std::string& file) {
  YamlReader r(file, text);
  const YAML::Node root = r.parse();
  const std::string folder = fs::path(file).parent_path().string();
  r.for_each_key(
      root, "",
      {"db", "dags", "connections", "pools", "alerts", "web", "spark", "logs", "worker",
       "scheduler"},
      [&](const std::string& key, const YAML::Node&, const YAML::Node& value) {
        if (key == "db") {
          config.db_url = r.read_string(value, "db");
          try {
            check_db_url(config.db_url, "db");
          } catch (const UserError& e) {
            r.fail(value, e.what());
          }
        } else if (key == "dags") {
          std::string dir = r.read_string(value, "dags");
          if (dir.empty()) r.fail(value, "'dags' must name a folder");
          // Relative to the file, so `--config /etc/sluice/sluice.yaml` works from anywhere.
          config.dags_dir = fs::path(dir).is_absolute() || folder.empty()
                                ? dir
                                : (fs::path(folder) / dir).lexically_normal().string();
        } else if (key == "connections") {
          r.for_each_key(
              value, "connections", {},
              [&](const std::string& name, const YAML::Node& key_node, const YAML::Node& conn) {
                apply_connection(config, r, name, key_node, conn);
              });
        } else if (key == "pools") {
          r.for_each_key(value, "pools", {},
                         [&](const std::string& name, const YAML::Node&, const YAML::Node& slots) {
                           config.pools[name] =
                               static_cast<int>(r.read_integer(slots, "pools." + name, 0, 1000000));
                         });
        } else if (key == "alerts") {
          r.for_each_key(value, "alerts", {"webhook", "secret", "on"},
                         [&](const std::string& k, const YAML::Node&, const YAML::Node& v) {
                           if (k == "webhook")
                             config.alerts.webhook = r.read_string(v, "alerts.webhook");
                           if (k == "secret")
                             config.alerts.secret = r.read_string(v, "alerts.secret");
                           if (k == "on") {
                             config.alerts.on = r.read_string_list(v, "alerts.on");
                             size_t i = 0;
                             for (const auto& event : config.alerts.on) {
                               const auto& known = alert_event_names();
                               if (std::find(known.begin(), known.end(), event) == known.end()) {
                                 r.fail(v[i], "unknown alert event '" + event + "'" +
                                                  did_you_mean(event, known) +
                                                  "; events: " + join(known, ", "));
                               }
                               ++i;
                             }
                           }
                         });
        } else if (key == "web") {
          r.for_each_key(value, "web", {"base_url", "bind", "port", "api_token", "allowed_hosts"},
                         [&](const std::string& k, const YAML::Node&, const YAML::Node& v) {
                           if (k == "base_url")
                             config.web.base_url = r.read_string(v, "web.base_url");
                           if (k == "bind") config.web.bind = r.read_string(v, "web.bind");
                           if (k == "port")
                             config.web.port =
                                 static_cast<int>(r.read_integer(v, "web.port", 0, 65535));
                           if (k == "api_token")
                             config.web.api_token = r.read_string(v, "web.api_token");
                           if (k == "allowed_hosts")
                             config.web.allowed_hosts = r.read_string_list(v, "web.allowed_hosts");
                         });
        } else if (key == "spark") {
          r.for_each_key(value, "spark", {"submit_bin"},
                         [&](const std::string&, const YAML::Node&, const YAML::Node& v) {
                           config.spark.submit_bin = r.read_string(v, "spark.submit_bin");
                         });
        } else if (key == "logs") {
          r.for_each_key(value, "logs", {"max_bytes_per_try"},
                         [&](const std::string&, const YAML::Node&, const YAML::Node& v) {
                           std::optional<int64_t> size;
                           if (v.IsScalar()) size = parse_byte_size(v.Scalar());
                           if (!size || *size <= 0) {
                             r.fail(v,
                                    "'logs.max_bytes_per_try' must be a positive size like "
                                    "10485760, 512KB or 10MB");
                           }
                           config.logs.max_bytes_per_try = *size;
                         });
        } else if (key == "worker") {
          r.for_each_key(
              value, "worker", {"slots", "queues", "heartbeat_interval", "heartbeat_timeout"},
              [&](const std::string& k, const YAML::Node&, const YAML::Node& v) {
                if (k == "slots")
                  config.worker.slots =
                      static_cast<int>(r.read_integer(v, "worker.slots", 1, 100000));
                if (k == "queues") {
                  config.worker.queues = r.read_string_list(v, "worker.queues");
                  if (config.worker.queues.empty())
                    r.fail(v, "'worker.queues' must name at least one queue");
                }
                if (k == "heartbeat_interval")
                  config.worker.heartbeat_interval =
                      r.read_duration(v, "worker.heartbeat_interval");
                if (k == "heartbeat_timeout")
                  config.worker.heartbeat_timeout = r.read_duration(v, "worker.heartbeat_timeout");
              });
          if (config.worker.heartbeat_timeout <= config.worker.heartbeat_interval) {
            r.fail(value,
                   "'worker.heartbeat_timeout' must be longer than 'worker.heartbeat_interval'");
          }
        } else if (key == "scheduler") {
          r.for_each_key(
              value, "scheduler", {"loop_interval", "dag_scan_interval", "map_limit"},
              [&](const std::string& k, const YAML::Node&, const YAML::Node& v) {
                if (k == "loop_interval")
                  config.scheduler.loop_interval = r.read_duration(v, "scheduler.loop_interval");
                if (k == "dag_scan_interval")
                  config.scheduler.dag_scan_interval =
                      r.read_duration(v, "scheduler.dag_scan_interval");
                if (k == "map_limit")
                  config.scheduler.map_limit =
                      static_cast<int>(r.read_integer(v, "scheduler.map_limit", 1, 1000000));
              });
        }
      });
}

Config load_config(const ConfigSources& sources) {
  Config config;
  config.worker.slots = std::max(1u, std::thread::hardware_concurrency());

  // Layer 2: sluice.yaml.
  std::string file;
  if (sources.config_file) {
    file = *sources.config_file;
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) {
      throw UserError("configuration file '" + file + "' does not exist");
    }
  } else {
    fs::path candidate =
        fs::path(sources.working_dir.empty() ? "." : sources.working_dir) / "sluice.yaml";
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec)) file = candidate.lexically_normal().string();
  }
  if (!file.empty()) apply_config_yaml(config, read_file(file), file);

  // Layer 3: SLUICE_* environment variables.
  auto env = [&](const char* name) -> const std::string* {
    auto it = sources.env.find(name);
    return it == sources.env.end() ? nullptr : &it->second;
  };
  if (auto v = env("SLUICE_DB"); v && !v->empty()) {
    check_db_url(*v, "SLUICE_DB");
    config.db_url = *v;
  }
  if (auto v = env("SLUICE_DAGS"); v && !v->empty()) config.dags_dir = *v;
  if (auto v = env("SLUICE_API_TOKEN")) config.web.api_token = *v;
  if (auto v = env("SLUICE_ALERTS_WEBHOOK")) config.alerts.webhook = *v;
  if (auto v = env("SLUICE_ALERTS_SECRET")) config.alerts.secret = *v;
  if (auto v = env("SLUICE_WEB_BASE_URL")) config.web.base_url = *v;
  if (auto v = env("SLUICE_SPARK_SUBMIT_BIN"); v && !v->empty()) config.spark.submit_bin = *v;
  if (auto v = env("SLUICE_LOGS_MAX_BYTES_PER_TRY"); v && !v->empty()) {
    auto size = parse_byte_size(*v);
    if (!size || *size <= 0) {
      throw UserError("SLUICE_LOGS_MAX_BYTES_PER_TRY must be a positive size like 10MB, got '" +
                      *v + "'");
    }
    config.logs.max_bytes_per_try = *size;
  }
  const std::string conn_prefix = "SLUICE_CONN_";
  for (const auto& [name, value] : sources.env) {
    // An empty value counts as unset, as docker-compose and shells often leave them.
    if (!starts_with(name, conn_prefix) || name.size() == conn_prefix.size() || value.empty()) {
      continue;
    }
    std::string conn_name = to_lower(std::string_view(name).substr(conn_prefix.size()));
    Connection c;
    try {
      c = Connection::parse(conn_name, value);
    } catch (const UserError& e) {
      throw UserError(name + ": " + e.what());
    }
    // The environment replaces the URL; headers and token from sluice.yaml stay.
    auto existing = config.connections.find(conn_name);
    if (existing != config.connections.end()) {
      c.headers = existing->second.headers;
      c.token = existing->second.token;
    }
    config.connections[conn_name] = std::move(c);
  }

  // Layer 4: flags.
  if (sources.db_flag) {
    check_db_url(*sources.db_flag, "--db");
    config.db_url = *sources.db_flag;
  }
  if (sources.dags_flag) config.dags_dir = *sources.dags_flag;
  return config;
}

std::string mask_secrets(std::string text, const Config& config) {
  return mask_secrets(std::move(text), config.secrets());
}

}  // namespace sluice
