-- Staging: customers renamed to the marts' vocabulary.
DROP TABLE IF EXISTS stg_customers;
CREATE TABLE stg_customers AS
SELECT id AS customer_id, first_name, last_name
FROM raw_customers;
