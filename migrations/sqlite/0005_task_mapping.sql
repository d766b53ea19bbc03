-- Dynamic task mapping: the item each instance of a mapped task runs with,
-- as JSON (NULL for tasks that are not mapped and for a mapped task's
-- placeholder before its expansion).
ALTER TABLE task_instances ADD COLUMN map_item TEXT;
