-- Rebuilds one day of the mart.
DELETE FROM mart WHERE day = '{{ ds }}' AND country = {{ params.country | sql_literal }};
INSERT INTO mart SELECT * FROM staging WHERE day = '{{ ds }}';
