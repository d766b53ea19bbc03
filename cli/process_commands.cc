// sluice scheduler | worker | web | standalone
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include <CLI/CLI.hpp>

#include "cli/cli.h"
#include "core/config.h"
#include "core/error.h"
#include "core/host.h"
#include "core/log.h"
#include "core/pg_listener.h"
#include "core/store.h"
#include "core/work_signal.h"
#include "engine/backfill.h"
#include "engine/dag_cache.h"
#include "scheduler/alert_delivery.h"
#include "scheduler/backfill_pass.h"
#include "scheduler/leader.h"
#include "scheduler/scheduler.h"
#include "web/server.h"
#include "worker/task_runner.h"
#include "worker/worker.h"

namespace sluice {
namespace {

std::atomic<bool> g_stop{false};
std::atomic<int> g_signals{0};

extern "C" void on_stop_signal(int) {
  g_stop = true;
  g_signals.fetch_add(1);
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

bool is_postgres_url(const std::string& url) {
  // The same test as Store::open.
  return url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0 ||
         (url.rfind("sqlite://", 0) != 0 && url.find('=') != std::string::npos);
}

SchedulerOptions scheduler_options(const Config& config) {
  SchedulerOptions options;
  options.dags_folder = config.dags_dir;
  options.sync_interval = config.scheduler.dag_scan_interval;
  options.heartbeat_timeout = config.worker.heartbeat_timeout;
  options.scheduler_id = host_name() + ":" + std::to_string(getpid());
  return options;
}

WorkerOptions worker_options(const Config& config, int slots,
                             const std::vector<std::string>& queues) {
  WorkerOptions options;
  options.slots = slots > 0 ? slots : config.worker.slots;
  options.queues = queues.empty() ? config.worker.queues : queues;
  options.heartbeat_interval = config.worker.heartbeat_interval;
  options.max_log_bytes_per_try = config.logs.max_bytes_per_try;
  return options;
}

/// Waits for Ctrl-C / SIGTERM. A second signal cancels running tasks.
void wait_for_stop(Worker* worker) {
  while (!g_stop.load()) std::this_thread::sleep_for(Millis(100));
  if (!worker) return;
  log_info("sluice", "stopping: finishing running tasks (Ctrl-C again to terminate them)");
  std::thread([worker] {
    while (g_signals.load() < 2) std::this_thread::sleep_for(Millis(100));
    log_warn("sluice", "terminating running tasks");
    worker->cancel_running();
  }).detach();
}

}  // namespace

void add_process_commands(CLI::App& app, CliContext& ctx, CommandResult& result) {
  // sluice scheduler
  app.add_subcommand("scheduler", "Run the scheduler: syncs DAG files, creates and advances runs")
      ->callback([&ctx, &result] {
        const Config& config = ctx.config();
        Store& store = ctx.store();
        install_signal_handlers();
        RealClock clock;
        DagCache dags(store);
        SchedulerOptions options = scheduler_options(config);
        // On Postgres several schedulers may run: one leads, the others stand
        // by. Notifications wake the loop when workers or `trigger` change runs.
        WorkSignal signal;
        std::unique_ptr<LeaderElector> elector;
        std::unique_ptr<PgWakeListener> listener;
        if (is_postgres_url(config.db_url)) {
          elector = std::make_unique<PostgresLeaderElector>(config.db_url, options.scheduler_id,
                                                            host_name());
          options.leader = elector.get();
          listener = std::make_unique<PgWakeListener>(
              config.db_url, PgWakeListener::Channels{{kRunsChannel, &signal}}, "scheduler");
        }
        Scheduler scheduler(store, dags, clock, options, listener ? &signal : nullptr);
        add_backfill_pass(scheduler, store, dags);
        add_alert_passes(scheduler, store, dags, clock, config);
        log_info("scheduler", "scheduler started on " + mask_url(config.db_url) + ", DAGs from " +
                                  config.dags_dir);
        std::thread waker([&] {
          while (!g_stop.load()) std::this_thread::sleep_for(Millis(100));
          signal.notify();
        });
        scheduler.run(g_stop);
        waker.join();
        log_info("scheduler", "scheduler stopped");
        result = kExitOk;
      });

  // sluice worker
  auto worker_slots = std::make_shared<int>(0);
  auto worker_queues = std::make_shared<std::vector<std::string>>();
  CLI::App* worker_cmd =
      app.add_subcommand("worker", "Run a worker: claims queued tasks and runs them");
  worker_cmd->add_option("--slots", *worker_slots, "Tasks run at once (default: CPU cores)");
  worker_cmd->add_option("--queue", *worker_queues,
                         "Queue to take tasks from; repeat for several (default: default)");
  worker_cmd->callback([&ctx, &result, worker_slots, worker_queues] {
    const Config& config = ctx.config();
    Store& store = ctx.store();
    install_signal_handlers();
    RealClock clock;
    DagCache dags(store);
    RealProcessLauncher launcher;
    // On Postgres, a notification wakes idle slots as soon as tasks are
    // queued; the adaptive poll stays as the safety net (and is all there is
    // on SQLite).
    WorkSignal signal;
    std::unique_ptr<PgWakeListener> listener;
    if (is_postgres_url(config.db_url)) {
      listener = std::make_unique<PgWakeListener>(
          config.db_url, PgWakeListener::Channels{{kWorkChannel, &signal}}, "worker");
    }
    Worker worker(store, dags, clock, launcher, config,
                  worker_options(config, *worker_slots, *worker_queues),
                  listener ? &signal : nullptr);
    std::thread stopper([&] { wait_for_stop(&worker); });
    worker.run(g_stop);
    g_stop = true;
    stopper.join();
    result = kExitOk;
  });

  // sluice web
  auto web_bind = std::make_shared<std::string>();
  auto web_port = std::make_shared<int>(0);
  CLI::App* web_cmd = app.add_subcommand("web", "Serve the REST API and the browser UI");
  web_cmd->add_option("--bind", *web_bind, "Address to listen on (default 127.0.0.1)");
  web_cmd->add_option("--port", *web_port, "Port (default 8080)");
  web_cmd->callback([&ctx, &result, web_bind, web_port] {
    const Config& config = ctx.config();
    Store& store = ctx.store();
    install_signal_handlers();
    RealClock clock;
    DagCache dags(store);
    WebServer web(store, dags, config, clock);
    std::string bind = web_bind->empty() ? config.web.bind : *web_bind;
    int port = web.start(bind, *web_port > 0 ? *web_port : config.web.port);
    ctx.out << "Sluice web UI on http://" << bind << ":" << port << "/ (Ctrl-C to stop)"
            << std::endl;
    wait_for_stop(nullptr);
    web.stop();
    result = kExitOk;
  });

  // sluice standalone
  auto sa_bind = std::make_shared<std::string>();
  auto sa_port = std::make_shared<int>(0);
  auto sa_slots = std::make_shared<int>(0);
  CLI::App* standalone = app.add_subcommand(
      "standalone", "Scheduler, workers and web UI in one process (SQLite by default)");
  standalone->add_option("--bind", *sa_bind, "Address for the web UI (default 127.0.0.1)");
  standalone->add_option("--port", *sa_port, "Port for the web UI (default 8080)");
  standalone->add_option("--slots", *sa_slots, "Tasks run at once (default: CPU cores)");
  standalone->callback([&ctx, &result, sa_bind, sa_port, sa_slots] {
    const Config& config = ctx.config();
    Store& store = ctx.store(/*require_schema=*/false);
    SchemaStatus before = store.schema_status();
    if (before.current > before.latest) store.require_current_schema();
    if (before.current < before.latest) {
      SchemaStatus after = store.migrate();
      log_info("sluice", "migrated the database to schema version " +
                             std::to_string(after.current));
    }
    install_signal_handlers();
    RealClock clock;
    DagCache dags(store);
    // Worker slots wait for queued tasks, the scheduler for changed runs.
    WorkSignal signal;
    WorkSignal runs_signal;
    // On Postgres a standalone process takes part in leader election too, so
    // that it can share a database with `sluice scheduler` processes.
    SchedulerOptions sa_options = scheduler_options(config);
    std::unique_ptr<LeaderElector> elector;
    std::unique_ptr<PgWakeListener> listener;
    if (is_postgres_url(config.db_url)) {
      elector = std::make_unique<PostgresLeaderElector>(config.db_url, sa_options.scheduler_id,
                                                        host_name());
      sa_options.leader = elector.get();
      listener = std::make_unique<PgWakeListener>(
          config.db_url,
          PgWakeListener::Channels{{kWorkChannel, &signal}, {kRunsChannel, &runs_signal}},
          "sluice");
    }
    Scheduler scheduler(store, dags, clock, sa_options, &runs_signal, &signal);
    add_backfill_pass(scheduler, store, dags);
    add_alert_passes(scheduler, store, dags, clock, config);
    RealProcessLauncher launcher;
    Worker worker(store, dags, clock, launcher, config, worker_options(config, *sa_slots, {}),
                  &signal, &runs_signal);
    WebServer web(store, dags, config, clock);
    // A run triggered, cleared or marked in the UI is picked up at once.
    web.on_change([&] {
      runs_signal.notify();
      signal.notify();
    });
    std::string bind = sa_bind->empty() ? config.web.bind : *sa_bind;
    int port = web.start(bind, *sa_port > 0 ? *sa_port : config.web.port);
    ctx.out << "Sluice standalone: DAGs from " << config.dags_dir << ", database "
            << mask_url(config.db_url) << "\nWeb UI: http://" << bind << ":" << port
            << "/   (Ctrl-C to stop)" << std::endl;
    std::thread scheduler_thread([&] { scheduler.run(g_stop); });
    std::thread worker_thread([&] { worker.run(g_stop); });
    wait_for_stop(&worker);
    signal.notify();
    runs_signal.notify();
    scheduler_thread.join();
    worker_thread.join();
    web.stop();
    log_info("sluice", "stopped");
    result = kExitOk;
  });
}

}  // namespace sluice
