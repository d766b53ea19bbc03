-- Serves finish_task's question "is any task of this run outside the
-- decider's scope still unfinished?" without reading the run's finished tasks:
--   SELECT task_id FROM task_instances WHERE run_pk = ? AND state IN (<unfinished>)
CREATE INDEX task_instances_unfinished ON task_instances (run_pk, task_id)
  WHERE state IN ('none', 'scheduled', 'queued', 'running', 'up_for_retry', 'up_for_reschedule');
