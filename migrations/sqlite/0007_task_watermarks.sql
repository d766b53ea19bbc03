-- The high-water marks of incremental extracts: per task, the greatest value
-- of its column loaded so far. `value` is as the source wrote it (it is bound
-- back into the next run's query); `sort_key` orders the marks of one kind
-- (number, timestamp, text) as their values, so that a finish keeps the
-- greater mark with one compare in the upsert.
CREATE TABLE task_watermarks (
  dag_id TEXT NOT NULL,
  task_id TEXT NOT NULL,
  column_name TEXT NOT NULL,
  kind TEXT NOT NULL,
  value TEXT NOT NULL,
  sort_key TEXT NOT NULL,
  run_id TEXT NOT NULL DEFAULT '',
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (dag_id, task_id)
);
