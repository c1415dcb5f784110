-- Telemetry streams. A stream is region × service × signal: `spans` (by start time),
-- `metrics` (metric points, Prometheus staleness markers left out: they say a series ended),
-- `logs` and `siem`; metric points also form one stream per metric name (signal `metrics`,
-- `metric` = the name; `metric` is '' for the whole signal). Per stream: events (rows),
-- times (distinct event times), first and last event time, and the inferred cadence: the
-- median step between consecutive distinct event times, in ns (null with one time). From
-- the stream_times view and stream_profile (analyzer/src/udf/streams.rs).
WITH profiles AS (
    SELECT region, service, signal, metric, events, stream_profile(times) AS p
    FROM stream_times
)
SELECT region, service, signal, metric,
       events,
       p['times'] AS times,
       p['first_at'] AS first_at,
       p['last_at'] AS last_at,
       p['inferred_cadence_ns'] AS inferred_cadence_ns
FROM profiles
ORDER BY region, service, signal, metric
