// sluice db migrate | status | clean
#include <CLI/CLI.hpp>

#include "cli/cli.h"
#include "core/config.h"
#include "core/error.h"
#include "core/store.h"

namespace sluice {
namespace {

void print_status(CliContext& ctx, const SchemaStatus& status) {
  if (ctx.options.json) {
    ctx.out << nlohmann::json{{"current", status.current},
                              {"latest", status.latest},
                              {"applied", status.applied},
                              {"pending", status.pending}}
                   .dump(2)
            << "\n";
    return;
  }
  ctx.out << "database: " << mask_url(ctx.config().db_url) << "\n";
  ctx.out << "schema version: " << status.current << " (this sluice: " << status.latest << ")\n";
  for (const std::string& name : status.applied) ctx.out << "  applied  " << name << "\n";
  for (const std::string& name : status.pending) ctx.out << "  pending  " << name << "\n";
  if (!status.pending.empty()) ctx.out << "Run `sluice db migrate` to apply pending migrations.\n";
  if (status.current > status.latest) {
    ctx.out << "The database is newer than this sluice: upgrade sluice.\n";
  }
}

}  // namespace

void add_db_commands(CLI::App& app, CliContext& ctx, CommandResult& result) {
  CLI::App* db = app.add_subcommand("db", "Create, upgrade and clean the metadata database");
  db->require_subcommand(1);

  db->add_subcommand("migrate", "Apply pending schema migrations (safe to run again)")
      ->callback([&ctx, &result] {
        Store& store = ctx.store(/*require_schema=*/false);
        SchemaStatus before = store.schema_status();
        SchemaStatus after = store.migrate();
        if (!ctx.options.json) {
          int applied = static_cast<int>(after.applied.size() - before.applied.size());
          ctx.out << (applied == 0 ? "schema already current" :
                      "applied " + std::to_string(applied) + " migration(s)")
                  << " (version " << after.current << ")\n";
        } else {
          print_status(ctx, after);
        }
        result = kExitOk;
      });

  db->add_subcommand("status", "Show applied and pending schema migrations")
      ->callback([&ctx, &result] {
        SchemaStatus status = ctx.store(false).schema_status();
        print_status(ctx, status);
        result = status.pending.empty() && status.current <= status.latest ? kExitOk
                                                                            : kExitBadInput;
      });

  auto older = std::make_shared<std::string>();
  CLI::App* clean = db->add_subcommand(
      "clean", "Delete finished runs older than a duration, with their tasks and logs");
  clean->add_option("--older-than", *older, "Age such as 90d or 12h")->required();
  clean->callback([&ctx, &result, older] {
    auto age = parse_duration(*older);
    if (!age) {
      throw UserError("--older-than '" + *older + "' is not a duration: use e.g. 90d, 12h, 30m");
    }
    Timestamp cutoff = RealClock().now() - *age;
    int64_t deleted = ctx.store().clean_finished_runs(cutoff);
    ctx.out << "deleted " << deleted << " finished run(s) that ended before "
            << format_iso(cutoff) << "\n";
    result = kExitOk;
  });
}

}  // namespace sluice
