-- Staging for one day of orders: typed columns, cancelled orders dropped.
-- Deleting the day first makes a rerun replace rather than duplicate it.
CREATE TABLE IF NOT EXISTS stg_orders (
  order_id BIGINT NOT NULL,
  customer_id BIGINT NOT NULL,
  order_date TEXT NOT NULL,
  amount NUMERIC(12, 2) NOT NULL,
  status TEXT NOT NULL,
  load_date TEXT NOT NULL
);

DELETE FROM stg_orders WHERE load_date = '{{ ds }}';

INSERT INTO stg_orders (order_id, customer_id, order_date, amount, status, load_date)
SELECT CAST(order_id AS BIGINT),
       CAST(customer_id AS BIGINT),
       order_date,
       CAST(amount AS NUMERIC(12, 2)),
       lower(status),
       load_date
FROM raw_orders
WHERE load_date = '{{ ds }}'
  AND lower(status) <> 'cancelled';
