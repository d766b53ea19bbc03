SELECT * FROM t WHERE day = '{{ dz }}';
