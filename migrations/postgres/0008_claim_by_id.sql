-- sluice_claim finds the tasks it takes by id only. Asked for "this id, if
-- still queued", a planner without statistics for a freshly filled table
-- read the whole queued-tasks index instead of the primary key, so that a
-- claim cost O(queued tasks): the state is now checked on the row once it is
-- locked (a locked row cannot change), and the update goes by id. Otherwise
-- as in 0001.
CREATE OR REPLACE FUNCTION sluice_claim(p_queues TEXT[], p_max INTEGER, p_worker TEXT, p_now BIGINT,
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
  v_state TEXT;
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
    v_state := NULL;
    SELECT t.state INTO v_state FROM task_instances t WHERE t.id = c.id FOR UPDATE SKIP LOCKED;
    CONTINUE WHEN v_state IS DISTINCT FROM 'queued';
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
    WHERE t.id = ANY(chosen) AND r.id = t.run_pk
    RETURNING t.id, t.run_pk, t.dag_id, r.run_id, t.task_id, t.map_index, t.state,
      t.try_number, t.max_tries, t.pool, t.pool_slots, t.priority, t.queue, t.queued_at,
      t.started_at, t.ended_at, t.next_try_at, t.first_started_at, t.worker_id, t.exit_code,
      t.outputs, t.rendered, t.error, r.id, r.dag_id, r.run_id, r.run_type, r.state,
      r.version_id, r.interval_start, r.interval_end, r.conf, r.backfill_id, r.created_at,
      r.started_at, r.ended_at, array_position(chosen, t.id);
END $$;

-- Claims read the queue through task_instances_claim_order (queue = ANY
-- cannot keep (queue, ...) order); the per-queue index only cost a write
-- each time a task was queued.
DROP INDEX task_instances_claim;
