-- Alerts are delivered in outbox order per DAG (scheduler/alert_delivery.h).
-- SQLite has one writer at a time, so ids are in commit order already.
-- Mirrors migrations/postgres/0011_alert_order.sql.

-- The receiver's answer to the last attempt: its HTTP status (null: no
-- answer, e.g. connection refused) beside last_error.
ALTER TABLE alert_outbox ADD COLUMN last_status INTEGER;
-- Set while a scheduler posts the alert; a claim left by a killed scheduler
-- lapses at this time.
ALTER TABLE alert_outbox ADD COLUMN claimed_until INTEGER;

-- claim_next_alert: the open alerts of a DAG in order, to find each DAG's
-- first one.
CREATE INDEX alert_outbox_open_by_dag ON alert_outbox (dag_id, id)
  WHERE delivered_at IS NULL AND next_attempt_at IS NOT NULL;
