-- A successful finish whose decisions the worker could work out beforehand
-- (Decider::predictable in core/store.h), in one statement and so in one
-- round trip: ends the try like sluice_finish, checks under the run's lock
-- that the snapshot the decisions were made on holds, applies them, and
-- claims the worker's next task like finish_task's claim_next.
--
-- The prediction: the run is running; tasks outside p_task and p_scope are
-- still unfinished (the snapshot would be partial); p_task has one instance
-- (this one); every task of p_scope has one instance, in state 'none'.
-- p_to[i] is the state decided for p_scope[i] ('' for none), p_errors[i] its
-- error text. When the prediction does not hold it raises SQLSTATE SLPRD and
-- nothing is changed: the caller then takes the general path.
--
-- Returns sluice_claim's columns for each task claimed (p_max 0: none), then
-- one row whose task columns are NULL with `more` (queued tasks are left for
-- other workers, who were notified) and `queued` (how many tasks the
-- decisions queued).
CREATE FUNCTION sluice_finish_predicted(
    p_ti BIGINT, p_try INTEGER, p_worker TEXT, p_ended BIGINT, p_exit INTEGER,
    p_outputs TEXT, p_rendered TEXT, p_error TEXT, p_log_seq INTEGER, p_log BYTEA,
    p_task TEXT, p_scope TEXT[], p_to TEXT[], p_errors TEXT[],
    p_queues TEXT[], p_max INTEGER, p_claim_worker TEXT, p_claim_now BIGINT, p_lock_key BIGINT)
RETURNS TABLE (
  id BIGINT, run_pk BIGINT, dag_id TEXT, run_id TEXT, task_id TEXT, map_index INTEGER,
  state TEXT, try_number INTEGER, max_tries INTEGER, pool TEXT, pool_slots INTEGER,
  priority INTEGER, queue TEXT, queued_at BIGINT, started_at BIGINT, ended_at BIGINT,
  next_try_at BIGINT, first_started_at BIGINT, worker_id TEXT, exit_code INTEGER,
  outputs TEXT, rendered TEXT, error TEXT,
  r_id BIGINT, r_dag_id TEXT, r_run_id TEXT, r_run_type TEXT, r_state TEXT,
  r_version_id BIGINT, r_interval_start BIGINT, r_interval_end BIGINT, r_conf TEXT,
  r_backfill_id BIGINT, r_created_at BIGINT, r_started_at BIGINT, r_ended_at BIGINT,
  claim_order INTEGER, more BOOLEAN, queued INTEGER)
LANGUAGE plpgsql
-- Every statement here is a lookup by key (see finish_task in
-- core/postgres_store.cc for why these settings).
SET enable_seqscan = off SET enable_bitmapscan = off SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
  v_run BIGINT;
  v_task TEXT;
  v_map INTEGER;
  v_count INTEGER;
  v_id BIGINT;
  v_state TEXT;
  v_ids BIGINT[] := '{}';
  v_queued INTEGER := 0;
  v_more BOOLEAN := false;
  n INTEGER := COALESCE(array_length(p_scope, 1), 0);
  cur RECORD;
BEGIN
  SELECT t.run_pk INTO v_run FROM task_instances t WHERE t.id = p_ti;
  IF v_run IS NULL THEN
    RAISE EXCEPTION 'no task instance %', p_ti USING ERRCODE = 'SLNFD';
  END IF;
  PERFORM 1 FROM dag_runs r WHERE r.id = v_run AND r.state = 'running' FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'the run is not running' USING ERRCODE = 'SLPRD';
  END IF;
  UPDATE task_instances t SET state = 'success', ended_at = p_ended, exit_code = p_exit,
    outputs = p_outputs, rendered = COALESCE(p_rendered, t.rendered), error = p_error,
    next_try_at = NULL
  WHERE t.id = p_ti AND t.state = 'running' AND t.try_number = p_try
    AND (p_worker = '' OR t.worker_id = p_worker)
  RETURNING t.task_id, t.map_index INTO v_task, v_map;
  IF NOT FOUND THEN
    SELECT t.dag_id, t.task_id, t.state, t.try_number, COALESCE(t.worker_id, '') AS worker_id
      INTO cur FROM task_instances t WHERE t.id = p_ti;
    RAISE EXCEPTION 'task instance % (%.%) is % at try % on worker ''%'', not running try % on worker ''%''',
      p_ti, cur.dag_id, cur.task_id, cur.state, cur.try_number, cur.worker_id, p_try, p_worker
      USING ERRCODE = 'SLCNF';
  END IF;
  IF v_task <> p_task OR v_map <> -1 THEN
    RAISE EXCEPTION 'not the predicted task' USING ERRCODE = 'SLPRD';
  END IF;
  SELECT count(*) INTO v_count FROM task_instances t WHERE t.run_pk = v_run AND t.task_id = p_task;
  IF v_count <> 1 THEN
    RAISE EXCEPTION 'task % has % instances', p_task, v_count USING ERRCODE = 'SLPRD';
  END IF;
  IF p_log IS NOT NULL THEN
    INSERT INTO task_logs (ti_id, try_number, seq, data) VALUES (p_ti, p_try, p_log_seq, p_log)
      ON CONFLICT (ti_id, try_number, seq) DO UPDATE SET data = excluded.data;
  END IF;
  PERFORM 1 FROM task_instances t
    WHERE t.run_pk = v_run
      AND t.state IN ('none', 'scheduled', 'queued', 'running', 'up_for_retry', 'up_for_reschedule')
      AND t.task_id <> p_task AND NOT (t.task_id = ANY (p_scope))
    LIMIT 1;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no other task is unfinished' USING ERRCODE = 'SLPRD';
  END IF;
  FOR i IN 1 .. n LOOP
    SELECT count(*), min(t.id), min(t.state) INTO v_count, v_id, v_state
      FROM task_instances t WHERE t.run_pk = v_run AND t.task_id = p_scope[i];
    IF v_count <> 1 OR v_state <> 'none' THEN
      RAISE EXCEPTION 'task % is not waiting', p_scope[i] USING ERRCODE = 'SLPRD';
    END IF;
    v_ids := v_ids || v_id;
  END LOOP;
  -- Compare-and-set as apply_decisions does; a lost race is a failed prediction.
  -- The id goes through a scalar: compared with an array element, the planner
  -- would rather scan every waiting task of the table for the state.
  FOR i IN 1 .. n LOOP
    CONTINUE WHEN p_to[i] = '';
    v_id := v_ids[i];
    UPDATE task_instances t SET state = p_to[i],
      queued_at = CASE WHEN p_to[i] = 'queued' THEN p_ended ELSE t.queued_at END,
      ended_at = CASE WHEN p_to[i] IN ('success', 'failed', 'skipped', 'upstream_failed',
                                       'canceled') THEN p_ended ELSE t.ended_at END,
      next_try_at = NULL,
      error = CASE WHEN p_errors[i] <> '' THEN p_errors[i] ELSE t.error END
    WHERE t.id = v_id AND t.state = 'none';
    IF NOT FOUND THEN
      RAISE EXCEPTION 'task % changed meanwhile', p_scope[i] USING ERRCODE = 'SLPRD';
    END IF;
    IF p_to[i] = 'queued' THEN
      v_queued := v_queued + 1;
    END IF;
  END LOOP;
  IF p_max > 0 THEN
    -- The claim and the probe of finish_task's claim_next statement; here
    -- the probe runs after the claim, so the claimed tasks are running.
    RETURN QUERY SELECT c.*, NULL::BOOLEAN, NULL::INTEGER
      FROM sluice_claim(p_queues, p_max, p_claim_worker, p_claim_now, p_lock_key) c
      ORDER BY c.claim_order;
    v_more := EXISTS (SELECT 1 FROM task_instances t WHERE t.state = 'queued'
                      ORDER BY t.run_type_rank, t.priority DESC, t.queued_at, t.id LIMIT 1);
    IF v_more THEN
      PERFORM pg_notify('sluice_work', '');
    END IF;
  ELSIF v_queued > 0 THEN
    PERFORM pg_notify('sluice_work', '');
  END IF;
  -- The last row: every task column NULL.
  more := v_more;
  queued := v_queued;
  RETURN NEXT;
END $$;

-- Waiting tries by due time, and only those: an index of every task's state
-- took a write on each state change, and with (state, ...) leading it looked
-- to the planner like a fine way to find one task by id and state.
DROP INDEX task_instances_due;
CREATE INDEX task_instances_due ON task_instances (next_try_at)
  WHERE state IN ('up_for_retry', 'up_for_reschedule');
