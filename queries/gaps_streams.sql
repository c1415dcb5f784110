-- Telemetry streams. A stream is region × service × signal: `spans` (by start time),
-- `metrics` (metric points, Prometheus staleness markers left out: they say a series ended),
-- `logs` and `siem`; metric points also form one stream per metric name (signal `metrics`,
-- `metric` = the name; `metric` is '' for the whole signal). Per stream: events (rows),
-- times (distinct event times), first and last event time, and the inferred cadence: the
-- median step between consecutive distinct event times, in ns (null with one time).
WITH events AS (
    SELECT region, service, 'spans' AS signal, '' AS metric, start_time AS t FROM spans
    UNION ALL SELECT region, service, 'metrics', '', time FROM metric_points WHERE NOT is_stale
    UNION ALL SELECT region, service, 'metrics', name, time FROM metric_points WHERE NOT is_stale
    UNION ALL SELECT region, service, 'logs', '', time FROM logs
    UNION ALL SELECT region, service, 'siem', '', time FROM siem
),
times AS (
    SELECT region, service, signal, metric, t, COUNT(*) AS n
    FROM events
    GROUP BY region, service, signal, metric, t
),
steps AS (
    SELECT region, service, signal, metric, t, n,
           CAST(t AS BIGINT)
             - CAST(LAG(t) OVER (PARTITION BY region, service, signal, metric ORDER BY t) AS BIGINT) AS step_ns
    FROM times
)
SELECT region, service, signal, metric,
       SUM(n) AS events,
       COUNT(*) AS times,
       MIN(t) AS first_at,
       MAX(t) AS last_at,
       MEDIAN(step_ns) AS inferred_cadence_ns
FROM steps
GROUP BY region, service, signal, metric
ORDER BY region, service, signal, metric
