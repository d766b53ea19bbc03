-- payments per method
select
  order_id,
  {% for m in ['card', 'coupon'] %}
  sum(case when method = '{{ m }}' then amount end) as {{ m }}_amount,
  sum(amount) as total
from payments
group by order_id
