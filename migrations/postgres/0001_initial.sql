-- The initial Sluice schema (Postgres). Mirrors migrations/sqlite/0001_initial.sql
-- table for table and index for index, so that both stores share semantics.
-- Conventions: times are epoch milliseconds (BIGINT), as in SQLite, so that no
-- time zone setting of a session can change a stored instant; JSON is TEXT
-- (kept byte for byte as written, like SQLite); states and run types are their
-- names from core/states.cc.
-- schema_migrations(version, name, applied_at) is created by the store itself,
-- before the first migration runs.
-- Foreign keys exist only where a delete must cascade (a run owns its task
-- instances, a task instance owns its logs).

-- One row per DAG id ever loaded.
CREATE TABLE dags (
  dag_id           TEXT PRIMARY KEY,
  file             TEXT NOT NULL,
  paused           BOOLEAN NOT NULL DEFAULT FALSE,
  active           BOOLEAN NOT NULL DEFAULT TRUE,   -- false once its file is gone
  max_active_tasks INTEGER NOT NULL DEFAULT 16,
  version_id       BIGINT,                          -- latest dag_versions.id
  updated_at       BIGINT NOT NULL
);

-- Every distinct content of a DAG file; runs point at the version they were
-- created with.
CREATE TABLE dag_versions (
  id           BIGSERIAL PRIMARY KEY,
  dag_id       TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  yaml         TEXT NOT NULL,
  definition   TEXT NOT NULL,                       -- dag_to_json()
  created_at   BIGINT NOT NULL,
  UNIQUE (dag_id, content_hash)
);

-- Files that failed to load, with every diagnostic.
CREATE TABLE file_errors (
  file    TEXT PRIMARY KEY,
  dag_id  TEXT NOT NULL DEFAULT '',
  message TEXT NOT NULL,
  at      BIGINT NOT NULL
);

CREATE TABLE backfills (
  id              BIGSERIAL PRIMARY KEY,
  dag_id          TEXT NOT NULL,
  range_from      BIGINT NOT NULL,                  -- first interval start covered
  range_to        BIGINT NOT NULL,                  -- last interval start covered (inclusive)
  reprocess       TEXT NOT NULL DEFAULT 'none',     -- none | failed | all
  max_active_runs INTEGER NOT NULL DEFAULT 1,
  backwards       BOOLEAN NOT NULL DEFAULT FALSE,
  conf            TEXT NOT NULL DEFAULT '{}',
  state           TEXT NOT NULL DEFAULT 'running',  -- running | success | failed | canceled
  created_at      BIGINT NOT NULL,
  finished_at     BIGINT,
  total_runs      INTEGER NOT NULL DEFAULT 0,
  succeeded_runs  INTEGER NOT NULL DEFAULT 0,
  failed_runs     INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE dag_runs (
  id             BIGSERIAL PRIMARY KEY,
  dag_id         TEXT NOT NULL,
  run_id         TEXT NOT NULL,
  run_type       TEXT NOT NULL,                     -- scheduled | manual | backfill
  state          TEXT NOT NULL,
  version_id     BIGINT NOT NULL,
  interval_start BIGINT NOT NULL,
  interval_end   BIGINT NOT NULL,
  conf           TEXT NOT NULL DEFAULT '{}',
  backfill_id    BIGINT,
  created_at     BIGINT NOT NULL,
  started_at     BIGINT,
  ended_at       BIGINT,
  deadline_at    BIGINT,                            -- SLA deadline, when the DAG has one
  UNIQUE (dag_id, run_id)
);
-- A scheduled or backfill run is never created twice for one interval
-- (create_run inserts with ON CONFLICT DO NOTHING against it); also serves
-- latest_interval_run and the previous interval's run for depends_on_past.
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
  id               BIGSERIAL PRIMARY KEY,
  run_pk           BIGINT NOT NULL REFERENCES dag_runs (id) ON DELETE CASCADE,
  dag_id           TEXT NOT NULL,
  task_id          TEXT NOT NULL,
  map_index        INTEGER NOT NULL DEFAULT -1,
  state            TEXT NOT NULL DEFAULT 'none',
  try_number       INTEGER NOT NULL DEFAULT 0,      -- tries started so far
  max_tries        INTEGER NOT NULL DEFAULT 1,      -- 1 + retries
  pool             TEXT NOT NULL DEFAULT 'default',
  pool_slots       INTEGER NOT NULL DEFAULT 1,
  priority         INTEGER NOT NULL DEFAULT 0,
  queue            TEXT NOT NULL DEFAULT 'default',
  run_type_rank    INTEGER NOT NULL DEFAULT 0,      -- 0 scheduled/manual, 1 backfill: claim order
  queued_at        BIGINT,
  started_at       BIGINT,
  ended_at         BIGINT,
  next_try_at      BIGINT,                          -- up_for_retry / up_for_reschedule
  first_started_at BIGINT,
  worker_id        TEXT,
  exit_code        INTEGER,
  outputs          TEXT NOT NULL DEFAULT '{}',
  rendered         TEXT,                            -- rendered spec, secrets masked
  error            TEXT NOT NULL DEFAULT '',
  UNIQUE (run_pk, task_id, map_index)               -- also serves a run's snapshot
);
-- claim_tasks: queued task instances of a queue in claim order.
CREATE INDEX task_instances_claim ON task_instances
  (queue, run_type_rank, priority DESC, queued_at, id) WHERE state = 'queued';
-- claim_tasks (Postgres only): queued task instances in claim order across
-- queues, so that a claim reads the head of the queue and stops at its LIMIT
-- whichever queues the worker listens on.
CREATE INDEX task_instances_claim_order ON task_instances
  (run_type_rank, priority DESC, queued_at, id) WHERE state = 'queued';
-- claim_tasks: running slots per pool.
CREATE INDEX task_instances_running_pool ON task_instances (pool, pool_slots)
  WHERE state = 'running';
-- claim_tasks: running task instances per DAG (max_active_tasks).
CREATE INDEX task_instances_running_dag ON task_instances (dag_id) WHERE state = 'running';
-- orphaned_tasks: running task instances by worker.
CREATE INDEX task_instances_running_worker ON task_instances (worker_id)
  WHERE state = 'running';
-- runs_with_due_tasks and next_due_time: waiting tries by due time.
CREATE INDEX task_instances_due ON task_instances (state, next_try_at);

-- A try's log, in chunks appended as the task runs.
CREATE TABLE task_logs (
  ti_id      BIGINT NOT NULL REFERENCES task_instances (id) ON DELETE CASCADE,
  try_number INTEGER NOT NULL,
  seq        INTEGER NOT NULL,
  data       BYTEA NOT NULL,                        -- raw bytes, not necessarily UTF-8
  PRIMARY KEY (ti_id, try_number, seq)
);

CREATE TABLE workers (
  id             TEXT PRIMARY KEY,
  host           TEXT NOT NULL,
  pid            INTEGER NOT NULL,
  slots          INTEGER NOT NULL,
  queues         TEXT NOT NULL DEFAULT '["default"]',  -- JSON array
  started_at     BIGINT NOT NULL,
  last_heartbeat BIGINT NOT NULL,
  state          TEXT NOT NULL DEFAULT 'running'       -- running | draining | stopped
);

CREATE TABLE schedulers (
  id             TEXT PRIMARY KEY,
  host           TEXT NOT NULL,
  leader         BOOLEAN NOT NULL DEFAULT FALSE,
  epoch          BIGINT NOT NULL DEFAULT 0,          -- leadership term, for fencing
  last_heartbeat BIGINT NOT NULL,
  loop_lag_ms    BIGINT NOT NULL DEFAULT 0
);

-- Alerts written in the same transaction as the change that caused them,
-- delivered later (with retries) by the scheduler.
CREATE TABLE alert_outbox (
  id              BIGSERIAL PRIMARY KEY,
  event_id        TEXT NOT NULL UNIQUE,              -- for receivers to deduplicate
  event           TEXT NOT NULL,
  dag_id          TEXT NOT NULL DEFAULT '',
  run_id          TEXT NOT NULL DEFAULT '',
  task_id         TEXT NOT NULL DEFAULT '',
  payload         TEXT NOT NULL,
  attempts        INTEGER NOT NULL DEFAULT 0,
  created_at      BIGINT NOT NULL,
  next_attempt_at BIGINT,                            -- null: no further attempt
  delivered_at    BIGINT,
  last_error      TEXT NOT NULL DEFAULT ''
);
-- due_alerts: undelivered alerts by next attempt.
CREATE INDEX alert_outbox_due ON alert_outbox (next_attempt_at) WHERE delivered_at IS NULL;

-- Each SLA miss is recorded (and alerted) once.
CREATE TABLE sla_misses (
  id          BIGSERIAL PRIMARY KEY,
  dag_id      TEXT NOT NULL,
  run_id      TEXT NOT NULL,
  task_id     TEXT NOT NULL DEFAULT '',              -- '' for a run-level miss
  kind        TEXT NOT NULL,                         -- max_duration | deadline | freshness
  deadline    BIGINT NOT NULL,
  detected_at BIGINT NOT NULL,
  alerted     BOOLEAN NOT NULL DEFAULT FALSE,
  UNIQUE (dag_id, run_id, task_id, kind)
);

-- Pool sizes from sluice.yaml; a pool without a row has 128 slots.
CREATE TABLE pools (
  name  TEXT PRIMARY KEY,
  slots INTEGER NOT NULL
);

-- Postgres only: claim_tasks in one call, so that a claim costs one round
-- trip before its commit. Serialised by an advisory lock (the key is
-- claim_tasks'), then reads the queue in claim order and takes each task
-- whose pool has slots left and whose DAG is
-- below max_active_tasks (a DAG without a row has no limit; a pool without a
-- row has 128 slots). Counting running tasks stops at the limit, so a
-- claim's cost does not grow with the number of running tasks. Only the
-- tasks taken are locked (FOR UPDATE SKIP LOCKED). The queue is
-- read at most 1,000 rows deep, so a queue headed by tasks that cannot run
-- costs a bounded amount per claim. enable_sort is off so the planner reads
-- the claim index in order and stops early, even with the statistics of a
-- freshly filled table.
CREATE FUNCTION sluice_claim(p_queues TEXT[], p_max INTEGER, p_worker TEXT, p_now BIGINT,
                             p_lock_key BIGINT)
RETURNS TABLE (
  id BIGINT, run_pk BIGINT, dag_id TEXT, run_id TEXT, task_id TEXT, map_index INTEGER,
  state TEXT, try_number INTEGER, max_tries INTEGER, pool TEXT, pool_slots INTEGER,
  priority INTEGER, queue TEXT, queued_at BIGINT, started_at BIGINT, ended_at BIGINT,
  next_try_at BIGINT, first_started_at BIGINT, worker_id TEXT, exit_code INTEGER,
  outputs TEXT, rendered TEXT, error TEXT,
  r_id BIGINT, r_dag_id TEXT, r_run_id TEXT, r_run_type TEXT, r_state TEXT,
  r_version_id BIGINT, r_interval_start BIGINT, r_interval_end BIGINT, r_conf TEXT,
  r_backfill_id BIGINT, r_created_at BIGINT, r_started_at BIGINT, r_ended_at BIGINT,
  claim_order INTEGER)
LANGUAGE plpgsql SET enable_sort = off AS $$
#variable_conflict use_column
DECLARE
  c RECORD;
  chosen BIGINT[] := '{}';
  pool_names TEXT[] := '{}';
  pool_free BIGINT[] := '{}';
  dag_names TEXT[] := '{}';
  dag_free BIGINT[] := '{}';
  pi INTEGER;
  di INTEGER;
  lim BIGINT;
  used BIGINT;
  scanned INTEGER := 0;
BEGIN
  IF p_max <= 0 THEN
    RETURN;
  END IF;
  PERFORM pg_advisory_xact_lock(p_lock_key);
  FOR c IN
    SELECT t.id, t.pool, t.pool_slots, t.dag_id FROM task_instances t
    WHERE t.state = 'queued' AND t.queue = ANY(p_queues)
    ORDER BY t.run_type_rank, t.priority DESC, t.queued_at, t.id
  LOOP
    scanned := scanned + 1;
    EXIT WHEN scanned > 1000;
    pi := array_position(pool_names, c.pool);
    IF pi IS NULL THEN
      SELECT p.slots INTO lim FROM pools p WHERE p.name = c.pool;
      lim := COALESCE(lim, 128);
      SELECT COALESCE(sum(s.pool_slots), 0) INTO used FROM (
        SELECT r.pool_slots FROM task_instances r
        WHERE r.state = 'running' AND r.pool = c.pool LIMIT GREATEST(lim, 0)) s;
      pool_names := pool_names || c.pool;
      pool_free := pool_free || (lim - used);
      pi := array_length(pool_names, 1);
    END IF;
    di := array_position(dag_names, c.dag_id);
    IF di IS NULL THEN
      lim := NULL;
      SELECT d.max_active_tasks INTO lim FROM dags d WHERE d.dag_id = c.dag_id;
      IF lim IS NULL THEN
        used := -1;  -- no limit
      ELSE
        SELECT count(*) INTO used FROM (
          SELECT 1 FROM task_instances r
          WHERE r.state = 'running' AND r.dag_id = c.dag_id LIMIT GREATEST(lim, 0)) s;
        used := GREATEST(lim - used, 0);
      END IF;
      dag_names := dag_names || c.dag_id;
      dag_free := dag_free || used;
      di := array_length(dag_names, 1);
    END IF;
    CONTINUE WHEN pool_free[pi] < c.pool_slots OR dag_free[di] = 0;
    -- Only the tasks taken are locked; one that another transaction holds
    -- (a cancel, a clear) is passed over.
    PERFORM 1 FROM task_instances t WHERE t.id = c.id AND t.state = 'queued'
      FOR UPDATE SKIP LOCKED;
    CONTINUE WHEN NOT FOUND;
    pool_free[pi] := pool_free[pi] - c.pool_slots;
    IF dag_free[di] > 0 THEN
      dag_free[di] := dag_free[di] - 1;
    END IF;
    chosen := chosen || c.id;
    EXIT WHEN array_length(chosen, 1) >= p_max;
  END LOOP;
  IF array_length(chosen, 1) IS NULL THEN
    RETURN;
  END IF;
  RETURN QUERY
    UPDATE task_instances t SET state = 'running', try_number = t.try_number + 1,
      started_at = p_now, first_started_at = COALESCE(t.first_started_at, p_now),
      worker_id = p_worker, ended_at = NULL, exit_code = NULL, error = ''
    FROM dag_runs r
    WHERE t.id = ANY(chosen) AND t.state = 'queued' AND r.id = t.run_pk
    RETURNING t.id, t.run_pk, t.dag_id, r.run_id, t.task_id, t.map_index, t.state,
      t.try_number, t.max_tries, t.pool, t.pool_slots, t.priority, t.queue, t.queued_at,
      t.started_at, t.ended_at, t.next_try_at, t.first_started_at, t.worker_id, t.exit_code,
      t.outputs, t.rendered, t.error, r.id, r.dag_id, r.run_id, r.run_type, r.state,
      r.version_id, r.interval_start, r.interval_end, r.conf, r.backfill_id, r.created_at,
      r.started_at, r.ended_at, array_position(chosen, t.id);
END $$;

-- Postgres only: the first half of finish_task in one call, so that it costs
-- one round trip: locks the run's row (ordering every decision about one
-- run), ends the try with a compare-and-set (running, same try, same worker
-- unless p_worker is empty), stores the final log chunk, and returns the
-- run's snapshot for the decider. A missing task raises SQLSTATE SLNFD, a
-- failed compare-and-set SLCNF.
CREATE FUNCTION sluice_finish(p_ti BIGINT, p_try INTEGER, p_worker TEXT, p_state TEXT,
                              p_ended BIGINT, p_exit INTEGER, p_outputs TEXT,
                              p_rendered TEXT, p_error TEXT, p_next BIGINT,
                              p_log_seq INTEGER, p_log BYTEA)
RETURNS TABLE (
  r_id BIGINT, r_dag_id TEXT, r_run_id TEXT, r_run_type TEXT, r_state TEXT,
  r_version_id BIGINT, r_interval_start BIGINT, r_interval_end BIGINT, r_conf TEXT,
  r_backfill_id BIGINT, r_created_at BIGINT, r_started_at BIGINT, r_ended_at BIGINT,
  id BIGINT, task_id TEXT, map_index INTEGER, state TEXT, try_number INTEGER,
  max_tries INTEGER, next_try_at BIGINT)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_run BIGINT;
  cur RECORD;
BEGIN
  SELECT t.run_pk INTO v_run FROM task_instances t WHERE t.id = p_ti;
  IF v_run IS NULL THEN
    RAISE EXCEPTION 'no task instance %', p_ti USING ERRCODE = 'SLNFD';
  END IF;
  PERFORM 1 FROM dag_runs r WHERE r.id = v_run FOR UPDATE;
  UPDATE task_instances t SET state = p_state, ended_at = p_ended, exit_code = p_exit,
    outputs = p_outputs, rendered = COALESCE(p_rendered, t.rendered), error = p_error,
    next_try_at = p_next
  WHERE t.id = p_ti AND t.state = 'running' AND t.try_number = p_try
    AND (p_worker = '' OR t.worker_id = p_worker);
  IF NOT FOUND THEN
    SELECT t.dag_id, t.task_id, t.state, t.try_number, COALESCE(t.worker_id, '') AS worker_id
      INTO cur FROM task_instances t WHERE t.id = p_ti;
    RAISE EXCEPTION 'task instance % (%.%) is % at try % on worker ''%'', not running try % on worker ''%''',
      p_ti, cur.dag_id, cur.task_id, cur.state, cur.try_number, cur.worker_id, p_try, p_worker
      USING ERRCODE = 'SLCNF';
  END IF;
  IF p_log IS NOT NULL THEN
    -- Re-sending a chunk (after a lost commit) replaces it rather than failing.
    INSERT INTO task_logs (ti_id, try_number, seq, data) VALUES (p_ti, p_try, p_log_seq, p_log)
      ON CONFLICT (ti_id, try_number, seq) DO UPDATE SET data = excluded.data;
  END IF;
  RETURN QUERY
    SELECT r.id, r.dag_id, r.run_id, r.run_type, r.state, r.version_id, r.interval_start,
      r.interval_end, r.conf, r.backfill_id, r.created_at, r.started_at, r.ended_at,
      t.id, t.task_id, t.map_index, t.state, t.try_number, t.max_tries, t.next_try_at
    FROM dag_runs r JOIN task_instances t ON t.run_pk = r.id
    WHERE r.id = v_run ORDER BY t.id;
END $$;
