select
  {% for m in params.methds %}sum({{ m }}_amount),{% endfor %}
  {# loop variables and set names are the template's own: not reported #}
  {% set total = 'sum(amount)' %}{{ total }}
from payments
