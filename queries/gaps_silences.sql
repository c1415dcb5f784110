-- Telemetry gaps. Streams as in gaps_streams.sql. A stream with at least {{min_events}}
-- distinct event times is checked against its threshold = {{gap_factor}} × cadence, where the
-- cadence is the spec's for the signal (the *_cadence_ns placeholders; 0 = none) or else the
-- inferred one (median step between distinct event times). A gap is a step between two
-- consecutive distinct event times longer than the threshold (start = the event before, end =
-- the event after), or, after the stream's last event, a silence to the end of the data
-- ({{data_end}}) longer than the threshold (an open gap: end null).
WITH events AS (
    SELECT region, service, 'spans' AS signal, '' AS metric, start_time AS t FROM spans
    UNION ALL SELECT region, service, 'metrics', '', time FROM metric_points WHERE NOT is_stale
    UNION ALL SELECT region, service, 'metrics', name, time FROM metric_points WHERE NOT is_stale
    UNION ALL SELECT region, service, 'logs', '', time FROM logs
    UNION ALL SELECT region, service, 'siem', '', time FROM siem
),
times AS (
    SELECT DISTINCT region, service, signal, metric, t FROM events
),
steps AS (
    SELECT region, service, signal, metric, t,
           LAG(t) OVER (PARTITION BY region, service, signal, metric ORDER BY t) AS prev_t,
           CAST(t AS BIGINT)
             - CAST(LAG(t) OVER (PARTITION BY region, service, signal, metric ORDER BY t) AS BIGINT) AS step_ns
    FROM times
),
cadence AS (
    SELECT region, service, signal, metric,
           MAX(t) AS last_at,
           CASE signal
               WHEN 'spans' THEN {{spans_cadence_ns}}
               WHEN 'metrics' THEN {{metrics_cadence_ns}}
               WHEN 'logs' THEN {{logs_cadence_ns}}
               ELSE {{siem_cadence_ns}}
           END AS spec_ns,
           MEDIAN(step_ns) AS inferred_ns,
           COUNT(*) AS times
    FROM steps
    GROUP BY region, service, signal, metric
),
checked AS (
    SELECT region, service, signal, metric, last_at,
           {{gap_factor}} * CAST(CASE WHEN spec_ns > 0 THEN spec_ns ELSE inferred_ns END AS DOUBLE) AS threshold_ns
    FROM cadence
    WHERE times >= {{min_events}}
)
SELECT s.region, s.service, s.signal, s.metric, s.prev_t AS start_at, s.t AS end_at, s.step_ns AS silence_ns
FROM steps s
JOIN checked c
  ON s.region = c.region AND s.service = c.service AND s.signal = c.signal AND s.metric = c.metric
WHERE CAST(s.step_ns AS DOUBLE) > c.threshold_ns
UNION ALL
SELECT region, service, signal, metric, last_at AS start_at, CAST(NULL AS TIMESTAMP) AS end_at,
       CAST(TIMESTAMP '{{data_end}}' AS BIGINT) - CAST(last_at AS BIGINT) AS silence_ns
FROM checked
WHERE CAST(CAST(TIMESTAMP '{{data_end}}' AS BIGINT) - CAST(last_at AS BIGINT) AS DOUBLE) > threshold_ns
ORDER BY region, service, signal, metric, start_at
