-- Durations (ms, ascending) of the SLI requests per step bucket for an abort criterion with a
-- latency condition: the same buckets and region filter as abort_buckets.sql. The analyzer
-- takes the exact p99 of each trailing window from them (nearest rank: the ⌈0.99 × n⌉-th
-- smallest of the window's n durations).
WITH r AS (
    SELECT CAST(start_time AS BIGINT) - {{origin_ns}} AS offset_ns, duration_ms
    FROM requests
    WHERE {{any_region}} = 1 OR region = {{region}}
), b AS (
    SELECT CASE WHEN offset_ns >= 0 THEN offset_ns / {{step_ns}}
                ELSE -((-offset_ns + {{step_ns}} - 1) / {{step_ns}}) END AS bucket,
           duration_ms
    FROM r
)
SELECT bucket, ARRAY_AGG(duration_ms ORDER BY duration_ms) AS durations_ms
FROM b
GROUP BY bucket
ORDER BY bucket
