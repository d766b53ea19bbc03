-- sluice_finish reads a finishing task's scope through the (run_pk, task_id,
-- map_index) index, task by task: a finish in a large run reads a handful of
-- rows, not every instance of the run. Same signature and result as in 0004.
CREATE OR REPLACE FUNCTION sluice_finish(p_ti BIGINT, p_try INTEGER, p_worker TEXT, p_state TEXT,
                              p_ended BIGINT, p_exit INTEGER, p_outputs TEXT,
                              p_rendered TEXT, p_error TEXT, p_next BIGINT,
                              p_log_seq INTEGER, p_log BYTEA, p_scope TEXT[])
RETURNS TABLE (
  r_id BIGINT, r_dag_id TEXT, r_run_id TEXT, r_run_type TEXT, r_state TEXT,
  r_version_id BIGINT, r_interval_start BIGINT, r_interval_end BIGINT, r_conf TEXT,
  r_backfill_id BIGINT, r_created_at BIGINT, r_started_at BIGINT, r_ended_at BIGINT,
  id BIGINT, task_id TEXT, map_index INTEGER, state TEXT, try_number INTEGER,
  max_tries INTEGER, next_try_at BIGINT, r_partial BOOLEAN)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_run BIGINT;
  v_partial BOOLEAN := false;
  v_task TEXT;
  v_ids BIGINT[] := '{}';
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
  IF cardinality(p_scope) > 0 THEN
    SELECT EXISTS (
      SELECT 1 FROM task_instances t
      WHERE t.run_pk = v_run
        AND t.state IN ('none', 'scheduled', 'queued', 'running', 'up_for_retry',
                        'up_for_reschedule')
        AND NOT (t.task_id = ANY (p_scope))) INTO v_partial;
  END IF;
  -- Looked up task by task: each lookup is an index probe on (run_pk,
  -- task_id), whatever the planner believes about the run's size (a run
  -- created moments ago has no statistics yet, and a plan that reads the
  -- whole run would make every finish cost O(tasks in the run)).
  IF v_partial THEN
    FOREACH v_task IN ARRAY p_scope LOOP
      v_ids := v_ids || ARRAY(SELECT t.id FROM task_instances t
                              WHERE t.run_pk = v_run AND t.task_id = v_task);
    END LOOP;
    RETURN QUERY
      SELECT r.id, r.dag_id, r.run_id, r.run_type, r.state, r.version_id, r.interval_start,
        r.interval_end, r.conf, r.backfill_id, r.created_at, r.started_at, r.ended_at,
        t.id, t.task_id, t.map_index, t.state, t.try_number, t.max_tries, t.next_try_at,
        v_partial
      FROM task_instances t JOIN dag_runs r ON r.id = t.run_pk
      WHERE t.id = ANY (v_ids)
      ORDER BY t.id;
  ELSE
    RETURN QUERY
      SELECT r.id, r.dag_id, r.run_id, r.run_type, r.state, r.version_id, r.interval_start,
        r.interval_end, r.conf, r.backfill_id, r.created_at, r.started_at, r.ended_at,
        t.id, t.task_id, t.map_index, t.state, t.try_number, t.max_tries, t.next_try_at,
        v_partial
      FROM dag_runs r JOIN task_instances t ON t.run_pk = r.id
      WHERE r.id = v_run
      ORDER BY t.id;
  END IF;
END $$;
