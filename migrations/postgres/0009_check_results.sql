-- Data check results: one row per check per try of a check task, written in
-- the transaction that ends the try. dag_id, task_id and the interval are
-- copied from the task instance and its run so that a check's history (its
-- page, volume_change's earlier value) is one index range.
CREATE TABLE check_results (
  ti_id          BIGINT NOT NULL REFERENCES task_instances (id) ON DELETE CASCADE,
  try_number     INTEGER NOT NULL,
  seq            INTEGER NOT NULL,              -- position of the check in its task
  dag_id         TEXT NOT NULL,
  run_id         TEXT NOT NULL,
  task_id        TEXT NOT NULL,
  map_index      INTEGER NOT NULL,
  interval_start BIGINT NOT NULL,
  interval_end   BIGINT NOT NULL,
  name           TEXT NOT NULL,
  kind           TEXT NOT NULL,
  severity       TEXT NOT NULL,                 -- error | warn
  status         TEXT NOT NULL,                 -- pass | fail | warn | error
  actual         TEXT NOT NULL,
  value          DOUBLE PRECISION,                         -- the measured number, when there is one
  threshold      TEXT NOT NULL,
  recorded_at    BIGINT NOT NULL,
  PRIMARY KEY (ti_id, try_number, seq)
);
-- A check's history, newest interval first.
CREATE INDEX check_results_history ON check_results (dag_id, task_id, name, interval_start DESC);
