-- Staging: payments, amounts from cents to dollars (the seed's amount is
-- loaded as an integer, so the division is arithmetic, not an error on text).
DROP TABLE IF EXISTS stg_payments;
CREATE TABLE stg_payments AS
SELECT id AS payment_id, order_id, payment_method, amount / 100.0 AS amount
FROM raw_payments;
