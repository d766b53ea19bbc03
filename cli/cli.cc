#include "cli/cli.h"

#include <unistd.h>

#include <iostream>
#include <streambuf>

#include <CLI/CLI.hpp>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/secrets.h"
#include "core/store.h"
#include "core/text.h"
#include "core/yaml_reader.h"
#include "engine/alerts.h"

namespace sluice {

/// A stream buffer that masks secrets on the way to another one, so that no
/// command prints a secret whatever it reads (logs, errors, JSON).
class MaskingStreambuf : public std::streambuf {
 public:
  explicit MaskingStreambuf(std::streambuf* out) : out_(out) {}

  void set_secrets(const std::vector<std::string>& secrets) {
    // JSON output escapes some characters: mask a secret in that form too.
    masker_.set_secrets(with_json_forms(secrets));
  }
  /// Passes on what is held back (the start of what may be a secret).
  void finish() {
    pass(masker_.finish());
    out_->pubsync();
  }

 protected:
  int_type overflow(int_type ch) override {
    if (traits_type::eq_int_type(ch, traits_type::eof())) return traits_type::not_eof(ch);
    char c = traits_type::to_char_type(ch);
    pass(masker_.feed(std::string_view(&c, 1)));
    return ch;
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    pass(masker_.feed(std::string_view(s, static_cast<size_t>(n))));
    return n;
  }
  // A flush keeps what is held back: it may be the first part of a secret.
  int sync() override { return out_->pubsync(); }

 private:
  void pass(const std::string& text) {
    if (!text.empty()) out_->sputn(text.data(), static_cast<std::streamsize>(text.size()));
  }

  std::streambuf* out_;
  SecretMasker masker_;
};

CliContext::CliContext(std::ostream& o, std::ostream& e)
    : out_buf_(std::make_unique<MaskingStreambuf>(o.rdbuf())),
      err_buf_(std::make_unique<MaskingStreambuf>(e.rdbuf())),
      out_stream_(std::make_unique<std::ostream>(out_buf_.get())),
      err_stream_(std::make_unique<std::ostream>(err_buf_.get())),
      out(*out_stream_),
      err(*err_stream_) {}

CliContext::~CliContext() {
  out_buf_->finish();
  err_buf_->finish();
}

const Config& CliContext::config() {
  if (!config_) {
    ConfigSources sources;
    if (!options.config_file.empty()) sources.config_file = options.config_file;
    sources.env = environment_snapshot();
    if (!options.db.empty()) sources.db_flag = options.db;
    if (!options.dags.empty()) sources.dags_flag = options.dags;
    config_ = std::make_unique<Config>(load_config(sources));
    set_alert_policy(alert_policy_from(*config_));
    const std::vector<std::string> secrets = config_->secrets();
    out_buf_->set_secrets(secrets);
    err_buf_->set_secrets(secrets);
    set_log_secrets(secrets);
  }
  return *config_;
}

Store& CliContext::store(bool require_schema) {
  if (!store_) {
    store_ = Store::open(config().db_url);
    if (require_schema) store_->require_current_schema();
  }
  return *store_;
}

Store* CliContext::existing_store() {
  if (store_) return store_.get();
  const std::string& url = config().db_url;
  if (url.rfind("sqlite://", 0) == 0) {
    std::string path = url.substr(9, url.find('?') == std::string::npos ? std::string::npos
                                                                          : url.find('?') - 9);
    if (access(path.c_str(), F_OK) != 0) return nullptr;
  }
  try {
    return &store(true);
  } catch (const StoreError& e) {
    store_.reset();
    return nullptr;
  }
}

bool CliContext::interactive() const { return isatty(STDOUT_FILENO) != 0; }

nlohmann::json parse_conf_flag(const std::string& text) {
  if (text.empty()) return nlohmann::json::object();
  nlohmann::json conf = nlohmann::json::parse(text, nullptr, false);
  if (conf.is_discarded() || !conf.is_object()) {
    throw UserError("--conf is not a JSON object: " + text +
                    " (example: --conf '{\"country\": \"de\"}')");
  }
  return conf;
}

std::string unloaded_files(const std::vector<Diagnostic>& errors) {
  if (errors.empty()) return "";
  std::string out = "; these files do not load (one may hold it):";
  for (const Diagnostic& d : errors) out += "\n  " + d.to_string();
  return out;
}

int run_cli(const std::vector<std::string>& args, std::ostream& raw_out, std::ostream& raw_err) {
  if (const char* level = std::getenv("SLUICE_LOG_LEVEL")) {
    std::string l = level;
    if (l == "debug") set_log_level(LogLevel::kDebug);
    if (l == "warn") set_log_level(LogLevel::kWarn);
    if (l == "error") set_log_level(LogLevel::kError);
  }
  CliContext ctx(raw_out, raw_err);
  std::ostream& out = ctx.out;
  std::ostream& err = ctx.err;
  CommandResult result = kExitOk;
  CLI::App app{
      "Sluice: a batch ELT orchestrator. DAGs in YAML, state in SQLite or Postgres.\n"
      "Start with `sluice standalone` (scheduler, workers and web UI in one process).",
      "sluice"};
  app.require_subcommand(1);
  app.fallthrough();
  app.set_version_flag("--version", "sluice 0.1.0");
  app.add_option("--db", ctx.options.db,
                 "Database URL: sqlite://PATH or postgresql://user:pass@host:port/db "
                 "(default: SLUICE_DB, sluice.yaml, sqlite://sluice.db)");
  app.add_option("--dags", ctx.options.dags, "DAG folder (default: SLUICE_DAGS, sluice.yaml, ./dags)");
  app.add_option("--config", ctx.options.config_file, "Configuration file (default: ./sluice.yaml)");
  app.add_flag("--json", ctx.options.json, "Machine-readable output for list and show commands");

  add_dags_commands(app, ctx, result);
  add_db_commands(app, ctx, result);
  add_run_commands(app, ctx, result);
  add_process_commands(app, ctx, result);
  add_backfill_commands(app, ctx, result);
  add_worker_commands(app, ctx, result);
  add_alert_commands(app, ctx, result);

  std::vector<std::string> reversed(args.rbegin(), args.rend() - (args.empty() ? 0 : 1));
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp& e) {
    out << app.help();
    return kExitOk;
  } catch (const CLI::CallForAllHelp& e) {
    out << app.help("", CLI::AppFormatMode::All);
    return kExitOk;
  } catch (const CLI::CallForVersion& e) {
    out << "sluice 0.1.0\n";
    return kExitOk;
  } catch (const CLI::RequiredError& e) {
    if (app.get_subcommands().empty() && app.remaining().empty()) {
      out << app.help();
      return kExitBadInput;
    }
    // Find the deepest command given, and what followed it.
    CLI::App* deepest = &app;
    std::string path = "sluice";
    while (!deepest->get_subcommands().empty()) {
      deepest = deepest->get_subcommands().front();
      path += " " + deepest->get_name();
    }
    std::vector<std::string> names;
    for (CLI::App* sub : deepest->get_subcommands({})) names.push_back(sub->get_name());
    std::vector<std::string> rest = deepest->remaining();
    if (rest.empty()) rest = app.remaining();
    if (!rest.empty() && !names.empty()) {
      err << "error: unknown command '" << rest.front() << "' for `" << path << "`"
          << did_you_mean(rest.front(), names) << "; choose one of: " << join(names, ", ")
          << "\n";
    } else if (!names.empty()) {
      err << "error: `" << path << "` needs a command: " << join(names, ", ")
          << "\nRun `" << path << " --help` for usage.\n";
    } else {
      err << "error: " << e.what() << "\nRun `" << path << " --help` for usage.\n";
    }
    return kExitBadInput;
  } catch (const CLI::ParseError& e) {
    err << "error: " << e.what() << "\nRun `sluice --help` (or `sluice COMMAND --help`) for usage.\n";
    return kExitBadInput;
  } catch (const UserError& e) {
    err << "error: " << e.what() << "\n";
    return kExitBadInput;
  } catch (const SchemaError& e) {
    err << "error: " << e.what() << "\n";
    return kExitBadInput;
  } catch (const StoreError& e) {
    err << "error: database: " << mask_url(e.what()) << "\n";
    return kExitInternal;
  } catch (const std::exception& e) {
    err << "internal error: " << e.what() << "\n";
    return kExitInternal;
  }
  return result;
}

int run_cli(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  return run_cli(args, std::cout, std::cerr);
}

}  // namespace sluice
