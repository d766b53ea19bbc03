-- Metrics that outlive the rows they count (Postgres; the SQLite migration
-- 0009 is the same design). `db clean` deletes finished runs with their task
-- instances, and a cleared run ends again, so counting rows at scrape time
-- would give counters that go down. Instead, triggers write one event row
-- per change (a run or a task instance entering a final state, a try
-- starting, an alert delivery attempt, an SLA miss) in the transaction that
-- made the change, whichever code path made it; the scheduler and the DAG
-- sync add their own measurements as events too. Reading /metrics, or the
-- scheduler writing its measurements, folds the events into metric_counters
-- (and deletes them), so events never pile up. Writers only ever insert
-- events: no row is shared (and locked) between two finishing tasks.

-- Changes not yet folded into metric_counters.
CREATE TABLE metric_events (
  id       BIGSERIAL PRIMARY KEY,
  name     TEXT NOT NULL,                -- dag_runs, task_instances, task_duration, ...
  dag_id   TEXT NOT NULL DEFAULT '',
  label    TEXT NOT NULL DEFAULT '',     -- task type, delivery result
  state    TEXT NOT NULL DEFAULT '',
  value_us BIGINT,                       -- a histogram's sample (microseconds); NULL: a count
  n        BIGINT NOT NULL DEFAULT 1     -- how much a count adds
);

-- Counters, and the buckets of histograms (not cumulative: each bucket holds
-- the samples above the next lower bound), since this migration ran.
CREATE TABLE metric_counters (
  name   TEXT NOT NULL,
  dag_id TEXT NOT NULL DEFAULT '',
  label  TEXT NOT NULL DEFAULT '',
  state  TEXT NOT NULL DEFAULT '',
  le_us  BIGINT NOT NULL DEFAULT 0,      -- 0: a plain counter; a bucket's upper bound; -1: +Inf
  value  BIGINT NOT NULL DEFAULT 0,      -- count
  sum_us BIGINT NOT NULL DEFAULT 0,      -- sum of the bucket's samples
  PRIMARY KEY (name, dag_id, label, state, le_us)
);

-- Each DAG version's tasks with their type and upstream tasks, from its
-- definition, written once per version: what the triggers below look up per
-- task instance instead of reading the definition's JSON.
CREATE TABLE dag_version_tasks (
  version_id BIGINT NOT NULL,
  task_id    TEXT NOT NULL,
  task_type  TEXT NOT NULL,
  PRIMARY KEY (version_id, task_id)
);
CREATE TABLE dag_version_edges (
  version_id  BIGINT NOT NULL,
  task_id     TEXT NOT NULL,
  upstream_id TEXT NOT NULL,
  PRIMARY KEY (version_id, task_id, upstream_id)
);

-- The tasks of a definition (dag_to_json), an empty list when it has none.
CREATE FUNCTION sluice_definition_tasks(p_definition TEXT) RETURNS SETOF jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT t FROM jsonb_array_elements(
    CASE WHEN jsonb_typeof(p_definition::jsonb -> 'tasks') = 'array'
         THEN p_definition::jsonb -> 'tasks' ELSE '[]'::jsonb END) t
  WHERE jsonb_typeof(t -> 'id') = 'string'
$$;

CREATE FUNCTION sluice_store_version_tasks(p_version BIGINT, p_definition TEXT) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO dag_version_tasks (version_id, task_id, task_type)
    SELECT p_version, t ->> 'id', COALESCE(t ->> 'type', '')
    FROM sluice_definition_tasks(p_definition) t
    ON CONFLICT DO NOTHING;
  INSERT INTO dag_version_edges (version_id, task_id, upstream_id)
    SELECT p_version, t ->> 'id', u
    FROM sluice_definition_tasks(p_definition) t,
         jsonb_array_elements_text(CASE WHEN jsonb_typeof(t -> 'depends_on') = 'array'
                                        THEN t -> 'depends_on' ELSE '[]'::jsonb END) u
    ON CONFLICT DO NOTHING;
$$;

CREATE FUNCTION sluice_version_tasks_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM sluice_store_version_tasks(NEW.id, NEW.definition);
  RETURN NULL;
END $$;
CREATE TRIGGER dag_versions_tasks AFTER INSERT ON dag_versions
  FOR EACH ROW EXECUTE FUNCTION sluice_version_tasks_trigger();

-- The versions stored before this migration.
SELECT sluice_store_version_tasks(id, definition) FROM dag_versions;

-- A run that ends (each time: a cleared run that ends again counts again).
CREATE FUNCTION sluice_run_end_metric() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO metric_events (name, dag_id, state) VALUES ('dag_runs', NEW.dag_id, NEW.state);
  RETURN NULL;
END $$;
CREATE TRIGGER dag_runs_end_metric AFTER UPDATE OF state ON dag_runs FOR EACH ROW
  WHEN (NEW.state IN ('success', 'failed', 'canceled') AND OLD.state IS DISTINCT FROM NEW.state)
  EXECUTE FUNCTION sluice_run_end_metric();
CREATE TRIGGER dag_runs_insert_metric AFTER INSERT ON dag_runs FOR EACH ROW
  WHEN (NEW.state IN ('success', 'failed', 'canceled'))
  EXECUTE FUNCTION sluice_run_end_metric();

-- A task instance that enters a state a try or a decision ends in (with the
-- run time of a try that ran to its end), or a claimed try (how long it
-- waited in the queue and, for the first try of a task with upstream tasks,
-- how long after its last upstream ended).
CREATE FUNCTION sluice_task_metric() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.state = 'running' THEN
    IF NEW.queued_at IS NOT NULL THEN
      INSERT INTO metric_events (name, value_us)
        VALUES ('task_queue_wait', GREATEST(NEW.started_at - NEW.queued_at, 0) * 1000);
    END IF;
    IF NEW.try_number = 1 THEN
      INSERT INTO metric_events (name, value_us)
        SELECT 'task_hop_latency', GREATEST(NEW.started_at - last_end, 0) * 1000
        FROM (SELECT MAX(u.ended_at) AS last_end
              FROM dag_runs r
              JOIN dag_version_edges e ON e.version_id = r.version_id AND e.task_id = NEW.task_id
              JOIN task_instances u ON u.run_pk = NEW.run_pk AND u.task_id = e.upstream_id
              WHERE r.id = NEW.run_pk) m
        WHERE last_end IS NOT NULL;
    END IF;
    RETURN NULL;
  END IF;
  INSERT INTO metric_events (name, dag_id, label, state)
    VALUES ('task_instances', NEW.dag_id,
            COALESCE((SELECT k.task_type FROM dag_runs r JOIN dag_version_tasks k
                      ON k.version_id = r.version_id AND k.task_id = NEW.task_id
                      WHERE r.id = NEW.run_pk), 'unknown'),
            NEW.state);
  IF OLD.state = 'running' AND NEW.state IN ('success', 'failed', 'up_for_retry', 'skipped')
     AND NEW.started_at IS NOT NULL AND NEW.ended_at >= NEW.started_at THEN
    INSERT INTO metric_events (name, value_us)
      VALUES ('task_duration', (NEW.ended_at - NEW.started_at) * 1000);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER task_instances_metric AFTER UPDATE OF state ON task_instances FOR EACH ROW
  WHEN (OLD.state IS DISTINCT FROM NEW.state AND
        (NEW.state IN ('success', 'failed', 'up_for_retry', 'skipped', 'upstream_failed',
                       'canceled')
         OR (NEW.state = 'running' AND OLD.state = 'queued' AND NEW.started_at IS NOT NULL)))
  EXECUTE FUNCTION sluice_task_metric();

-- Each delivery attempt of an alert: delivered, or failed (attempts counted
-- without a delivery).
CREATE FUNCTION sluice_alert_metric() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.delivered_at IS NULL AND NEW.delivered_at IS NOT NULL THEN
    INSERT INTO metric_events (name, label) VALUES ('alert_deliveries', 'delivered');
  ELSIF NEW.delivered_at IS NULL AND NEW.attempts > OLD.attempts THEN
    INSERT INTO metric_events (name, label, n)
      VALUES ('alert_deliveries', 'failed', NEW.attempts - OLD.attempts);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER alert_outbox_metric AFTER UPDATE OF delivered_at, attempts ON alert_outbox
  FOR EACH ROW EXECUTE FUNCTION sluice_alert_metric();

CREATE FUNCTION sluice_sla_miss_metric() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO metric_events (name, dag_id) VALUES ('sla_misses', NEW.dag_id);
  RETURN NULL;
END $$;
CREATE TRIGGER sla_misses_metric AFTER INSERT ON sla_misses
  FOR EACH ROW EXECUTE FUNCTION sluice_sla_miss_metric();
