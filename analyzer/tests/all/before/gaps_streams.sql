-- Telemetry streams. A stream is region × service × signal: `spans` (by start time),
-- `metrics` (metric points, Prometheus staleness markers left out: they say a series ended),
-- `logs` and `siem`; metric points also form one stream per metric name (signal `metrics`,
-- `metric` = the name; `metric` is '' for the whole signal). Per stream: events (rows),
-- times (distinct event times), first and last event time, and the inferred cadence: the
-- median step between consecutive distinct event times, in ns (null with one time).
-- Steps of 0 (events at the same time) are duplicates: they are left out of the median and
-- of `times`. One sort, no DISTINCT: the query runs over every event of the log.
WITH events AS (SELECT * FROM stream_events),
steps AS (
    SELECT region, service, signal, metric, t,
           CAST(t AS BIGINT)
             - CAST(LAG(t) OVER (PARTITION BY region, service, signal, metric ORDER BY t) AS BIGINT) AS step_ns
    FROM events
)
SELECT region, service, signal, metric,
       COUNT(*) AS events,
       SUM(CASE WHEN step_ns = 0 THEN 0 ELSE 1 END) AS times,
       MIN(t) AS first_at,
       MAX(t) AS last_at,
       MEDIAN(CASE WHEN step_ns > 0 THEN step_ns END) AS inferred_cadence_ns
FROM steps
GROUP BY region, service, signal, metric
ORDER BY region, service, signal, metric
