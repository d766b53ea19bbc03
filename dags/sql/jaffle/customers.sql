-- Mart: one row per customer with their order history and lifetime value.
DROP TABLE IF EXISTS customers;
CREATE TABLE customers AS
WITH customer_orders AS (
  SELECT customer_id,
         min(order_date) AS first_order,
         max(order_date) AS most_recent_order,
         count(order_id) AS number_of_orders
  FROM stg_orders
  GROUP BY customer_id
),
customer_payments AS (
  SELECT o.customer_id, sum(p.amount) AS total_amount
  FROM stg_payments p
  LEFT JOIN stg_orders o ON p.order_id = o.order_id
  GROUP BY o.customer_id
)
SELECT c.customer_id,
       c.first_name,
       c.last_name,
       co.first_order,
       co.most_recent_order,
       COALESCE(co.number_of_orders, 0) AS number_of_orders,
       cp.total_amount AS customer_lifetime_value
FROM stg_customers c
LEFT JOIN customer_orders co ON c.customer_id = co.customer_id
LEFT JOIN customer_payments cp ON c.customer_id = cp.customer_id;
