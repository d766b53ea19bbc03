-- Staging: orders with their customer.
DROP TABLE IF EXISTS stg_orders;
CREATE TABLE stg_orders AS
SELECT id AS order_id, user_id AS customer_id, order_date, status
FROM raw_orders;
