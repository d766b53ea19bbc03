{# Mart: one row per order, its payments pivoted by method. #}
{% set payment_methods = ['credit_card', 'coupon', 'bank_transfer', 'gift_card'] %}
DROP TABLE IF EXISTS orders;
CREATE TABLE orders AS
WITH order_payments AS (
  SELECT order_id,
         {% for payment_method in payment_methods -%}
         sum(CASE WHEN payment_method = '{{ payment_method }}' THEN amount ELSE 0 END) AS {{ payment_method }}_amount,
         {% endfor -%}
         sum(amount) AS total_amount
  FROM stg_payments
  GROUP BY order_id
)
SELECT o.order_id,
       o.customer_id,
       o.order_date,
       o.status,
       {% for payment_method in payment_methods -%}
       op.{{ payment_method }}_amount{% if not loop.last %},{% endif %}
       {% endfor -%}
       , op.total_amount AS amount
FROM stg_orders o
LEFT JOIN order_payments op ON o.order_id = op.order_id;
