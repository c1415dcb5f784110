-- Telemetry stream events: one row per event and stream it belongs to. A stream is region ×
-- service × signal: `spans` (by start time), `metrics` (metric points; Prometheus staleness
-- markers left out: they say a series ended), `logs` and `siem`; metric points also form one
-- stream per metric name (signal `metrics`, `metric` = the name; '' for the whole signal).
-- The ingest daemon's own records (service `cutover-ingest`: datagrams it lost) are not a
-- stream of the drill. A plain view (evaluated inside each query that reads it), not a
-- materialized table.
SELECT region, service, 'spans' AS signal, '' AS metric, start_time AS t FROM spans
UNION ALL SELECT region, service, 'metrics', '', time FROM metric_points WHERE NOT is_stale
UNION ALL SELECT region, service, 'metrics', name, time FROM metric_points WHERE NOT is_stale
UNION ALL SELECT region, service, 'logs', '', time FROM logs WHERE service <> 'cutover-ingest'
UNION ALL SELECT region, service, 'siem', '', time FROM siem
