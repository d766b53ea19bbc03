#pragma once
// The `sluice` command line: parses arguments and calls the library.

#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace CLI {
class App;
}

namespace sluice {

class Store;
struct Config;
class MaskingStreambuf;

/// Exit codes of every command (SPEC section 2).
enum ExitCode {
  kExitOk = 0,
  kExitBadInput = 1,
  kExitRunFailed = 2,
  kExitInternal = 3,
};

/// Options every command accepts.
struct GlobalOptions {
  std::string db;
  std::string dags;
  std::string config_file;
  bool json = false;
};

/// What a command needs from the process: options, configuration, the store.
class CliContext {
 public:
  CliContext(std::ostream& out, std::ostream& err);
  ~CliContext();
  CliContext(const CliContext&) = delete;
  CliContext& operator=(const CliContext&) = delete;

  GlobalOptions options;

 private:
  // Before `out` and `err`, which print through them.
  std::unique_ptr<MaskingStreambuf> out_buf_;
  std::unique_ptr<MaskingStreambuf> err_buf_;
  std::unique_ptr<std::ostream> out_stream_;
  std::unique_ptr<std::ostream> err_stream_;

 public:
  /// What commands print. Every secret of the configuration is masked on the
  /// way out, once the configuration is loaded.
  std::ostream& out;
  std::ostream& err;

  /// The configuration, loaded on first use from sluice.yaml, SLUICE_* and flags.
  const Config& config();
  /// Opens the store named by --db / SLUICE_DB / sluice.yaml. With
  /// `require_schema`, refuses an unmigrated or newer schema.
  Store& store(bool require_schema = true);
  /// The store when one exists and is migrated, else nullptr (for commands
  /// that work without a database, such as `dags list`). Never creates a
  /// SQLite file.
  Store* existing_store();
  /// True when stdout is a terminal (progress bars rather than plain lines).
  bool interactive() const;

 private:
  std::unique_ptr<Config> config_;
  std::unique_ptr<Store> store_;
};

/// The exit code a command returns through its handler.
using CommandResult = int;

void add_dags_commands(CLI::App& app, CliContext& ctx, CommandResult& result);
void add_db_commands(CLI::App& app, CliContext& ctx, CommandResult& result);
void add_run_commands(CLI::App& app, CliContext& ctx, CommandResult& result);
void add_process_commands(CLI::App& app, CliContext& ctx, CommandResult& result);
void add_backfill_commands(CLI::App& app, CliContext& ctx, CommandResult& result);
void add_worker_commands(CLI::App& app, CliContext& ctx, CommandResult& result);
void add_alert_commands(CLI::App& app, CliContext& ctx, CommandResult& result);

struct Diagnostic;

/// For a DAG that is not found: the folder's load errors, which may be why
/// (a DAG whose SQL file has a mistake is reported under that file); empty
/// when the folder loaded cleanly.
std::string unloaded_files(const std::vector<Diagnostic>& errors);

/// Parses a `--conf` flag: empty is {}, anything but a JSON object is a UserError.
nlohmann::json parse_conf_flag(const std::string& text);

/// Runs the command line; returns the exit code.
int run_cli(int argc, char** argv);
int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace sluice
