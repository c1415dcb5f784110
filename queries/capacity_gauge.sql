-- Capacity: one utilization gauge ({{metric}}) in the secondary region from cutover_at on,
-- optionally of one service ({{service}}; '' for any). One row per series (service and its
-- point attributes; `series` lists attribute keys then values). Stale markers are skipped.
-- Time above threshold (step rule): a point's value holds until the series' next point, so
-- seconds_above sums (next point's time − point's time) over points whose value is above
-- {{threshold}}; the last point of a series adds nothing. peak_at is the first time the peak
-- value was seen.
WITH pts AS (
    SELECT service,
           CASE WHEN cardinality(map_keys(attributes)) = 0 THEN ''
                ELSE array_to_string(map_keys(attributes), ',') || '=' || array_to_string(map_values(attributes), ',')
           END AS series,
           time,
           value,
           seq
    FROM metric_points
    WHERE name = {{metric}}
      AND region = {{secondary}}
      AND time >= TIMESTAMP '{{cutover_at}}'
      AND NOT is_stale
      AND ({{service}} = '' OR service = {{service}})
),
steps AS (
    SELECT service,
           series,
           time,
           value,
           LEAD(time) OVER (PARTITION BY service, series ORDER BY time, seq) AS next_time,
           ROW_NUMBER() OVER (PARTITION BY service, series ORDER BY value DESC, time, seq) AS peak_rank
    FROM pts
)
SELECT service,
       series,
       COUNT(*) AS points,
       SUM(CASE WHEN value > {{threshold}} THEN 1 ELSE 0 END) AS points_above,
       MAX(value) AS peak,
       MAX(CASE WHEN peak_rank = 1 THEN time END) AS peak_at,
       CAST(SUM(CASE WHEN value > {{threshold}} AND next_time IS NOT NULL
                     THEN CAST(next_time AS BIGINT) - CAST(time AS BIGINT) ELSE 0 END) AS DOUBLE) / 1e9 AS seconds_above,
       MIN(time) AS first_at,
       MAX(time) AS last_at
FROM steps
GROUP BY service, series
ORDER BY service, series
