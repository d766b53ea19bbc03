-- The initial Sluice schema (SQLite). The Postgres schema mirrors it table for
-- table and index for index.
-- Conventions: times are epoch milliseconds (INTEGER); JSON is TEXT; booleans
-- are 0/1; states and run types are their names from core/states.cc.
-- schema_migrations(version, name, applied_at) is created by the store itself,
-- before the first migration runs.
-- Foreign keys exist only where a delete must cascade (a run owns its task
-- instances, a task instance owns its logs); other references (version_id,
-- backfill_id, dag_id) are kept by the code, so that housekeeping never has to
-- delete in a particular order.

-- One row per DAG id ever loaded.
CREATE TABLE dags (
  dag_id           TEXT PRIMARY KEY,
  file             TEXT NOT NULL,
  paused           INTEGER NOT NULL DEFAULT 0,
  active           INTEGER NOT NULL DEFAULT 1,   -- 0 once its file is gone
  max_active_tasks INTEGER NOT NULL DEFAULT 16,
  version_id       INTEGER,                      -- latest dag_versions.id
  updated_at       INTEGER NOT NULL
);

-- Every distinct content of a DAG file; runs point at the version they were
-- created with.
CREATE TABLE dag_versions (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  dag_id       TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  yaml         TEXT NOT NULL,
  definition   TEXT NOT NULL,                    -- dag_to_json()
  created_at   INTEGER NOT NULL,
  UNIQUE (dag_id, content_hash)
);

-- Files that failed to load, with every diagnostic.
CREATE TABLE file_errors (
  file    TEXT PRIMARY KEY,
  dag_id  TEXT NOT NULL DEFAULT '',
  message TEXT NOT NULL,
  at      INTEGER NOT NULL
);

CREATE TABLE backfills (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  dag_id          TEXT NOT NULL,
  range_from      INTEGER NOT NULL,              -- first interval start covered
  range_to        INTEGER NOT NULL,              -- last interval start covered (inclusive)
  reprocess       TEXT NOT NULL DEFAULT 'none',  -- none | failed | all
  max_active_runs INTEGER NOT NULL DEFAULT 1,
  backwards       INTEGER NOT NULL DEFAULT 0,
  conf            TEXT NOT NULL DEFAULT '{}',
  state           TEXT NOT NULL DEFAULT 'running',  -- running | success | failed | canceled
  created_at      INTEGER NOT NULL,
  finished_at     INTEGER,
  total_runs      INTEGER NOT NULL DEFAULT 0,
  succeeded_runs  INTEGER NOT NULL DEFAULT 0,
  failed_runs     INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE dag_runs (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  dag_id         TEXT NOT NULL,
  run_id         TEXT NOT NULL,
  run_type       TEXT NOT NULL,                  -- scheduled | manual | backfill
  state          TEXT NOT NULL,
  version_id     INTEGER NOT NULL,
  interval_start INTEGER NOT NULL,
  interval_end   INTEGER NOT NULL,
  conf           TEXT NOT NULL DEFAULT '{}',
  backfill_id    INTEGER,
  created_at     INTEGER NOT NULL,
  started_at     INTEGER,
  ended_at       INTEGER,
  deadline_at    INTEGER,                        -- SLA deadline, when the DAG has one
  UNIQUE (dag_id, run_id)
);
-- A scheduled or backfill run is never created twice for one interval
-- (create_run relies on it); also serves latest_interval_run and the previous
-- interval's run for depends_on_past.
CREATE UNIQUE INDEX dag_runs_interval ON dag_runs (dag_id, interval_start)
  WHERE run_type IN ('scheduled', 'backfill');
-- list_runs for one DAG, newest interval first (DAG page, runs list).
CREATE INDEX dag_runs_by_dag ON dag_runs (dag_id, interval_start DESC);
-- list_unfinished_runs (the scheduler's reconcile pass).
CREATE INDEX dag_runs_unfinished ON dag_runs (id) WHERE state IN ('queued', 'running');
-- clean_finished_runs: finished runs by end time.
CREATE INDEX dag_runs_ended ON dag_runs (ended_at);
-- Runs of one backfill (backfill show / progress).
CREATE INDEX dag_runs_backfill ON dag_runs (backfill_id) WHERE backfill_id IS NOT NULL;

CREATE TABLE task_instances (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  run_pk           INTEGER NOT NULL REFERENCES dag_runs (id) ON DELETE CASCADE,
  dag_id           TEXT NOT NULL,
  task_id          TEXT NOT NULL,
  map_index        INTEGER NOT NULL DEFAULT -1,
  state            TEXT NOT NULL DEFAULT 'none',
  try_number       INTEGER NOT NULL DEFAULT 0,   -- tries started so far
  max_tries        INTEGER NOT NULL DEFAULT 1,   -- 1 + retries
  pool             TEXT NOT NULL DEFAULT 'default',
  pool_slots       INTEGER NOT NULL DEFAULT 1,
  priority         INTEGER NOT NULL DEFAULT 0,
  queue            TEXT NOT NULL DEFAULT 'default',
  run_type_rank    INTEGER NOT NULL DEFAULT 0,   -- 0 scheduled/manual, 1 backfill: claim order
  queued_at        INTEGER,
  started_at       INTEGER,
  ended_at         INTEGER,
  next_try_at      INTEGER,                      -- up_for_retry / up_for_reschedule
  first_started_at INTEGER,
  worker_id        TEXT,
  exit_code        INTEGER,
  outputs          TEXT NOT NULL DEFAULT '{}',
  rendered         TEXT,                         -- rendered spec, secrets masked
  error            TEXT NOT NULL DEFAULT '',
  UNIQUE (run_pk, task_id, map_index)            -- also serves a run's snapshot
);
-- claim_tasks: queued task instances of a queue in claim order.
CREATE INDEX task_instances_claim ON task_instances
  (queue, run_type_rank, priority DESC, queued_at, id) WHERE state = 'queued';
-- claim_tasks: running slots per pool.
CREATE INDEX task_instances_running_pool ON task_instances (pool, pool_slots)
  WHERE state = 'running';
-- claim_tasks: running task instances per DAG (max_active_tasks).
CREATE INDEX task_instances_running_dag ON task_instances (dag_id) WHERE state = 'running';
-- orphaned_tasks: running task instances by worker.
CREATE INDEX task_instances_running_worker ON task_instances (worker_id)
  WHERE state = 'running';
-- runs_with_due_tasks and next_due_time: waiting tries by due time.
CREATE INDEX task_instances_due ON task_instances (next_try_at)
  WHERE state IN ('up_for_retry', 'up_for_reschedule');

-- A try's log, in chunks appended as the task runs.
CREATE TABLE task_logs (
  ti_id      INTEGER NOT NULL REFERENCES task_instances (id) ON DELETE CASCADE,
  try_number INTEGER NOT NULL,
  seq        INTEGER NOT NULL,
  data       BLOB NOT NULL,                      -- raw bytes, not necessarily UTF-8
  PRIMARY KEY (ti_id, try_number, seq)
);

CREATE TABLE workers (
  id             TEXT PRIMARY KEY,
  host           TEXT NOT NULL,
  pid            INTEGER NOT NULL,
  slots          INTEGER NOT NULL,
  queues         TEXT NOT NULL DEFAULT '["default"]',  -- JSON array
  started_at     INTEGER NOT NULL,
  last_heartbeat INTEGER NOT NULL,
  state          TEXT NOT NULL DEFAULT 'running'       -- running | draining | stopped
);

CREATE TABLE schedulers (
  id             TEXT PRIMARY KEY,
  host           TEXT NOT NULL,
  leader         INTEGER NOT NULL DEFAULT 0,
  epoch          INTEGER NOT NULL DEFAULT 0,      -- leadership term, for fencing
  last_heartbeat INTEGER NOT NULL,
  loop_lag_ms    INTEGER NOT NULL DEFAULT 0
);

-- Alerts written in the same transaction as the change that caused them,
-- delivered later (with retries) by the scheduler.
CREATE TABLE alert_outbox (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id        TEXT NOT NULL UNIQUE,           -- for receivers to deduplicate
  event           TEXT NOT NULL,
  dag_id          TEXT NOT NULL DEFAULT '',
  run_id          TEXT NOT NULL DEFAULT '',
  task_id         TEXT NOT NULL DEFAULT '',
  payload         TEXT NOT NULL,
  attempts        INTEGER NOT NULL DEFAULT 0,
  created_at      INTEGER NOT NULL,
  next_attempt_at INTEGER,                        -- null: no further attempt
  delivered_at    INTEGER,
  last_error      TEXT NOT NULL DEFAULT ''
);
-- due_alerts: undelivered alerts by next attempt.
CREATE INDEX alert_outbox_due ON alert_outbox (next_attempt_at) WHERE delivered_at IS NULL;

-- Each SLA miss is recorded (and alerted) once.
CREATE TABLE sla_misses (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  dag_id      TEXT NOT NULL,
  run_id      TEXT NOT NULL,
  task_id     TEXT NOT NULL DEFAULT '',           -- '' for a run-level miss
  kind        TEXT NOT NULL,                      -- max_duration | deadline | freshness
  deadline    INTEGER NOT NULL,
  detected_at INTEGER NOT NULL,
  alerted     INTEGER NOT NULL DEFAULT 0,
  UNIQUE (dag_id, run_id, task_id, kind)
);

-- Pool sizes from sluice.yaml; a pool without a row has 128 slots.
CREATE TABLE pools (
  name  TEXT PRIMARY KEY,
  slots INTEGER NOT NULL
);
