-- A state set by hand (tasks mark, the UI's Mark) is recorded beside the
-- try's own times: who set it and when. The try's started_at, ended_at and
-- exit_code stay as the try left them, so its duration stays true.
ALTER TABLE task_instances ADD COLUMN marked_at INTEGER;
ALTER TABLE task_instances ADD COLUMN marked_by TEXT NOT NULL DEFAULT '';
