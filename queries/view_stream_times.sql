-- Telemetry streams (see stream_events: region × service × signal, and per metric name) with
-- their events: the rows of the stream and its distinct event times, sorted ascending (the
-- aggregate stream_times). Computed once; the gaps queries read one row per stream.
SELECT region, service, signal, metric, COUNT(*) AS events, stream_times(t) AS times
FROM stream_events
GROUP BY region, service, signal, metric
