-- Telemetry gaps. Streams as in gaps_streams.sql. A stream with at least {{min_events}}
-- distinct event times is checked against its threshold = the larger of {{gap_factor}} ×
-- cadence and the floor {{min_gap_ns}} ns, where the
-- cadence is the spec's for the signal (the *_cadence_ns placeholders; 0 = none) or else the
-- inferred one (median step between distinct event times). A gap is a step between two
-- consecutive distinct event times longer than the threshold (start = the event before, end =
-- the event after), or, after the stream's last event, a silence to the end of the data
-- ({{data_end}}) longer than the threshold (an open gap: end null). Steps of 0 are duplicate
-- times; the stream's figures are window aggregates, so no join is needed.
WITH events AS (SELECT * FROM stream_events),
steps AS (
    SELECT region, service, signal, metric, t,
           LAG(t) OVER w AS prev_t,
           CAST(t AS BIGINT) - CAST(LAG(t) OVER w AS BIGINT) AS step_ns
    FROM events
    WINDOW w AS (PARTITION BY region, service, signal, metric ORDER BY t)
),
streams AS (
    SELECT region, service, signal, metric, t, prev_t, step_ns,
           SUM(CASE WHEN step_ns = 0 THEN 0 ELSE 1 END) OVER p AS times,
           MEDIAN(CASE WHEN step_ns > 0 THEN step_ns END) OVER p AS inferred_ns,
           MAX(t) OVER p AS last_at
    FROM steps
    WINDOW p AS (PARTITION BY region, service, signal, metric)
),
checked AS (
    SELECT region, service, signal, metric, t, prev_t, step_ns, last_at,
           {{gap_factor}} * CAST(
               CASE signal
                   WHEN 'spans' THEN {{spans_cadence_ns}}
                   WHEN 'metrics' THEN {{metrics_cadence_ns}}
                   WHEN 'logs' THEN {{logs_cadence_ns}}
                   ELSE {{siem_cadence_ns}}
               END AS DOUBLE) AS spec_threshold_ns,
           {{gap_factor}} * CAST(inferred_ns AS DOUBLE) AS inferred_threshold_ns
    FROM streams
    WHERE times >= {{min_events}}
),
thresholds AS (
    SELECT region, service, signal, metric, t, prev_t, step_ns, last_at,
           greatest(
               CASE WHEN spec_threshold_ns > 0 THEN spec_threshold_ns ELSE inferred_threshold_ns END,
               CAST({{min_gap_ns}} AS DOUBLE)) AS threshold_ns
    FROM checked
)
SELECT region, service, signal, metric, prev_t AS start_at, t AS end_at, step_ns AS silence_ns
FROM thresholds
WHERE CAST(step_ns AS DOUBLE) > threshold_ns
UNION ALL
SELECT region, service, signal, metric, last_at AS start_at, CAST(NULL AS TIMESTAMP) AS end_at,
       CAST(TIMESTAMP '{{data_end}}' AS BIGINT) - CAST(last_at AS BIGINT) AS silence_ns
FROM thresholds
WHERE t = last_at
  AND (step_ns IS NULL OR step_ns > 0)
  AND CAST(CAST(TIMESTAMP '{{data_end}}' AS BIGINT) - CAST(last_at AS BIGINT) AS DOUBLE) > threshold_ns
ORDER BY region, service, signal, metric, start_at
