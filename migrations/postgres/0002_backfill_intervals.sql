-- The plan of each backfill: one row per data interval it covers, written
-- when the backfill is created, so that a restarted scheduler resumes from
-- the store alone and `backfill show` lists every interval with its reason.
-- Mirrors migrations/sqlite/0002_backfill_intervals.sql.
CREATE TABLE backfill_intervals (
  backfill_id    BIGINT NOT NULL,
  interval_start BIGINT NOT NULL,
  interval_end   BIGINT NOT NULL,
  action         TEXT NOT NULL,                  -- create | rerun | skip
  reason         TEXT NOT NULL,                  -- missing | failed | completed | running | outside_bounds
  run_pk         BIGINT,                         -- dag_runs.id once started
  PRIMARY KEY (backfill_id, interval_start)
);
-- The scheduler's backfill pass reads only running backfills.
CREATE INDEX backfills_running ON backfills (id) WHERE state = 'running';
