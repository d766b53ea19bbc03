-- Metrics that outlive the rows they count (SQLite; the Postgres migration
-- 0012 is the same design). `db clean` deletes finished runs with their task
-- instances, and a cleared run ends again, so counting rows at scrape time
-- would give counters that go down. Instead, triggers write one event row
-- per change (a run or a task instance entering a final state, a try
-- starting, an alert delivery attempt, an SLA miss) in the transaction that
-- made the change, whichever code path made it; the scheduler and the DAG
-- sync add their own measurements as events too. Reading /metrics, or the
-- scheduler writing its measurements, folds the events into metric_counters
-- (and deletes them), so events never pile up. Writers only ever insert
-- events: no row is shared between two finishing tasks.

-- Changes not yet folded into metric_counters.
CREATE TABLE metric_events (
  id       INTEGER PRIMARY KEY,
  name     TEXT NOT NULL,                -- dag_runs, task_instances, task_duration, ...
  dag_id   TEXT NOT NULL DEFAULT '',
  label    TEXT NOT NULL DEFAULT '',     -- task type, delivery result
  state    TEXT NOT NULL DEFAULT '',
  value_us INTEGER,                      -- a histogram's sample (microseconds); NULL: a count
  n        INTEGER NOT NULL DEFAULT 1    -- how much a count adds
);

-- Counters, and the buckets of histograms (not cumulative: each bucket holds
-- the samples above the next lower bound), since this migration ran.
CREATE TABLE metric_counters (
  name   TEXT NOT NULL,
  dag_id TEXT NOT NULL DEFAULT '',
  label  TEXT NOT NULL DEFAULT '',
  state  TEXT NOT NULL DEFAULT '',
  le_us  INTEGER NOT NULL DEFAULT 0,     -- 0: a plain counter; a bucket's upper bound; -1: +Inf
  value  INTEGER NOT NULL DEFAULT 0,     -- count
  sum_us INTEGER NOT NULL DEFAULT 0,     -- sum of the bucket's samples
  PRIMARY KEY (name, dag_id, label, state, le_us)
);

-- Each DAG version's tasks with their type and upstream tasks, from its
-- definition, written once per version: what the triggers below look up per
-- task instance instead of reading the definition's JSON.
CREATE TABLE dag_version_tasks (
  version_id INTEGER NOT NULL,
  task_id    TEXT NOT NULL,
  task_type  TEXT NOT NULL,
  PRIMARY KEY (version_id, task_id)
);
CREATE TABLE dag_version_edges (
  version_id  INTEGER NOT NULL,
  task_id     TEXT NOT NULL,
  upstream_id TEXT NOT NULL,
  PRIMARY KEY (version_id, task_id, upstream_id)
);

CREATE TRIGGER dag_versions_tasks AFTER INSERT ON dag_versions
WHEN json_valid(NEW.definition) AND json_type(NEW.definition, '$.tasks') = 'array'
BEGIN
  INSERT OR IGNORE INTO dag_version_tasks (version_id, task_id, task_type)
    SELECT NEW.id, json_extract(t.value, '$.id'), COALESCE(json_extract(t.value, '$.type'), '')
    FROM json_each(NEW.definition, '$.tasks') t
    WHERE json_type(t.value, '$.id') = 'text';
  INSERT OR IGNORE INTO dag_version_edges (version_id, task_id, upstream_id)
    SELECT NEW.id, json_extract(t.value, '$.id'), u.value
    FROM json_each(NEW.definition, '$.tasks') t, json_each(t.value, '$.depends_on') u
    WHERE json_type(t.value, '$.id') = 'text' AND json_type(t.value, '$.depends_on') = 'array';
END;

-- The versions stored before this migration.
INSERT OR IGNORE INTO dag_version_tasks (version_id, task_id, task_type)
  SELECT v.id, json_extract(t.value, '$.id'), COALESCE(json_extract(t.value, '$.type'), '')
  FROM dag_versions v, json_each(v.definition, '$.tasks') t
  WHERE json_valid(v.definition) AND json_type(v.definition, '$.tasks') = 'array'
    AND json_type(t.value, '$.id') = 'text';
INSERT OR IGNORE INTO dag_version_edges (version_id, task_id, upstream_id)
  SELECT v.id, json_extract(t.value, '$.id'), u.value
  FROM dag_versions v, json_each(v.definition, '$.tasks') t, json_each(t.value, '$.depends_on') u
  WHERE json_valid(v.definition) AND json_type(v.definition, '$.tasks') = 'array'
    AND json_type(t.value, '$.id') = 'text' AND json_type(t.value, '$.depends_on') = 'array';

-- A run that ends (each time: a cleared run that ends again counts again).
CREATE TRIGGER dag_runs_end_metric AFTER UPDATE OF state ON dag_runs
WHEN NEW.state IN ('success', 'failed', 'canceled') AND OLD.state IS NOT NEW.state
BEGIN
  INSERT INTO metric_events (name, dag_id, state) VALUES ('dag_runs', NEW.dag_id, NEW.state);
END;
CREATE TRIGGER dag_runs_insert_metric AFTER INSERT ON dag_runs
WHEN NEW.state IN ('success', 'failed', 'canceled')
BEGIN
  INSERT INTO metric_events (name, dag_id, state) VALUES ('dag_runs', NEW.dag_id, NEW.state);
END;

-- A task instance that enters a state a try or a decision ends in, and the
-- run time of a try that ran to its end.
CREATE TRIGGER task_instances_end_metric AFTER UPDATE OF state ON task_instances
WHEN NEW.state IN ('success', 'failed', 'up_for_retry', 'skipped', 'upstream_failed', 'canceled')
  AND OLD.state IS NOT NEW.state
BEGIN
  INSERT INTO metric_events (name, dag_id, label, state)
    VALUES ('task_instances', NEW.dag_id,
            COALESCE((SELECT k.task_type FROM dag_runs r JOIN dag_version_tasks k
                      ON k.version_id = r.version_id AND k.task_id = NEW.task_id
                      WHERE r.id = NEW.run_pk), 'unknown'),
            NEW.state);
  INSERT INTO metric_events (name, value_us)
    SELECT 'task_duration', (NEW.ended_at - NEW.started_at) * 1000
    WHERE OLD.state = 'running' AND NEW.state IN ('success', 'failed', 'up_for_retry', 'skipped')
      AND NEW.started_at IS NOT NULL AND NEW.ended_at >= NEW.started_at;
END;

-- A claimed try: how long it waited in the queue and, for the first try of
-- a task with upstream tasks, how long after its last upstream ended.
CREATE TRIGGER task_instances_start_metric AFTER UPDATE OF state ON task_instances
WHEN NEW.state = 'running' AND OLD.state = 'queued' AND NEW.started_at IS NOT NULL
BEGIN
  INSERT INTO metric_events (name, value_us)
    SELECT 'task_queue_wait', MAX(NEW.started_at - NEW.queued_at, 0) * 1000
    WHERE NEW.queued_at IS NOT NULL;
  INSERT INTO metric_events (name, value_us)
    SELECT 'task_hop_latency', MAX(NEW.started_at - last_end, 0) * 1000
    FROM (SELECT MAX(u.ended_at) AS last_end
          FROM dag_runs r
          JOIN dag_version_edges e ON e.version_id = r.version_id AND e.task_id = NEW.task_id
          JOIN task_instances u ON u.run_pk = NEW.run_pk AND u.task_id = e.upstream_id
          WHERE r.id = NEW.run_pk)
    WHERE NEW.try_number = 1 AND last_end IS NOT NULL;
END;

-- Each delivery attempt of an alert: delivered, or failed (attempts counted
-- without a delivery).
CREATE TRIGGER alert_outbox_metric AFTER UPDATE OF delivered_at, attempts ON alert_outbox
BEGIN
  INSERT INTO metric_events (name, label)
    SELECT 'alert_deliveries', 'delivered'
    WHERE OLD.delivered_at IS NULL AND NEW.delivered_at IS NOT NULL;
  INSERT INTO metric_events (name, label, n)
    SELECT 'alert_deliveries', 'failed', NEW.attempts - OLD.attempts
    WHERE NEW.delivered_at IS NULL AND NEW.attempts > OLD.attempts;
END;

CREATE TRIGGER sla_misses_metric AFTER INSERT ON sla_misses
BEGIN
  INSERT INTO metric_events (name, dag_id) VALUES ('sla_misses', NEW.dag_id);
END;
