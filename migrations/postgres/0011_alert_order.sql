-- Alerts are delivered in outbox order per DAG (scheduler/alert_delivery.h):
-- an alert waits until every earlier alert of its DAG was delivered or given
-- up. Mirrors migrations/sqlite/0008_alert_order.sql.

-- The receiver's answer to the last attempt: its HTTP status (null: no
-- answer, e.g. connection refused) beside last_error.
ALTER TABLE alert_outbox ADD COLUMN last_status INTEGER;
-- Set while one scheduler posts the alert, so that a second one (a standby
-- taking over mid-pass) neither posts it again nor the alert after it. A
-- claim left by a killed scheduler lapses at this time.
ALTER TABLE alert_outbox ADD COLUMN claimed_until BIGINT;

-- claim_next_alert: the open alerts of a DAG in order, to find each DAG's
-- first one.
CREATE INDEX alert_outbox_open_by_dag ON alert_outbox (dag_id, id)
  WHERE delivered_at IS NULL AND next_attempt_at IS NOT NULL;

-- Ids in commit order per DAG. An id is drawn when a row is inserted, not
-- when its transaction commits: two transactions could commit alerts 11 and
-- then 10 of one DAG, and a scheduler that had already posted 11 would post
-- 10 after it. Drawing the id under a per-DAG lock held until commit makes
-- the later id commit later. Deadlocks this may cause are retried like any
-- other (40P01).
CREATE FUNCTION sluice_alert_id_in_dag_order() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('sluice alert order'),
                                hashtext(current_schema() || '/' || NEW.dag_id));
  NEW.id := nextval(quote_ident(TG_TABLE_SCHEMA) || '.alert_outbox_id_seq');
  RETURN NEW;
END $$;

CREATE TRIGGER alert_outbox_id_in_dag_order BEFORE INSERT ON alert_outbox
  FOR EACH ROW EXECUTE FUNCTION sluice_alert_id_in_dag_order();
