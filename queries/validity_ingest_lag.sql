-- Pipeline health per region: events of every kind, and the ingest lag (ingest time − event
-- time, seconds) as median, p99 (approximate: t-digest) and maximum, plus the smallest lag
-- (negative when event times run ahead of the receiver's clock).
WITH e AS (
    SELECT region, start_time AS t, ingest_time FROM spans
    UNION ALL SELECT region, time, ingest_time FROM metric_points
    UNION ALL SELECT region, time, ingest_time FROM logs
    UNION ALL SELECT region, time, ingest_time FROM markers
    UNION ALL SELECT region, time, ingest_time FROM alerts
    UNION ALL SELECT region, time, ingest_time FROM siem
),
lag AS (
    SELECT region, CAST(CAST(ingest_time AS BIGINT) - CAST(t AS BIGINT) AS DOUBLE) / 1e9 AS lag_s
    FROM e
)
SELECT region,
       COUNT(*) AS events,
       approx_percentile_cont(lag_s, 0.5) AS lag_p50_s,
       approx_percentile_cont(lag_s, 0.99) AS lag_p99_s,
       MAX(lag_s) AS lag_max_s,
       MIN(lag_s) AS lag_min_s
FROM lag
GROUP BY region
ORDER BY region
