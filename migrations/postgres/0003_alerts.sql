-- SLA timers and the queries alerts need (Postgres). Mirrors
-- migrations/sqlite/0003_alerts.sql.

-- Armed SLA deadlines: stored when a run or task starts, checked by the
-- scheduler when due (never by scanning history).
CREATE TABLE sla_timers (
  id       BIGSERIAL PRIMARY KEY,
  dag_id   TEXT NOT NULL,
  run_id   TEXT NOT NULL,
  task_id  TEXT NOT NULL DEFAULT '',
  kind     TEXT NOT NULL,                        -- max_duration | deadline | sla | freshness
  due_at   BIGINT NOT NULL,
  fired_at BIGINT,
  UNIQUE (dag_id, run_id, task_id, kind)
);
-- due_sla_timers and next_sla_due: unfired timers by due time.
CREATE INDEX sla_timers_due ON sla_timers (due_at) WHERE fired_at IS NULL;

-- recovery (the previous finished run) and freshness (the last success).
CREATE INDEX dag_runs_finished_by_dag ON dag_runs (dag_id, ended_at)
  WHERE state IN ('success', 'failed');
-- sla list, newest first.
CREATE INDEX sla_misses_detected ON sla_misses (detected_at);
