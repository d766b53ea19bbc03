{#- dbt's jaffle_shop orders model: one column per payment method. -#}
{% set methods = params.payment_methods %}
{% if params.full_refresh %}drop table if exists orders;{% endif %}
create table if not exists orders as
select order_id,
  {% for payment_method in methods -%}
  sum(case when payment_method = '{{ payment_method }}' then amount else 0 end) as {{ payment_method }}_amount,
  {% endfor -%}
  sum(amount) as total_amount
from payments
where day = '{{ macros.ds_format(ds, '%Y-%m-%d', '%Y-%m-%d') }}'  -- {{ run_id }}: SQL comments are rendered too
group by order_id;
