-- Orphan spans: parent_span_id is set but the trace has no span with that id. One row per
-- orphan, by start time; the analyzer counts them per phase of the drill (by start time).
SELECT trace_id, span_id, parent_span_id, service, region, start_time
FROM span_links
WHERE orphan
ORDER BY start_time, trace_id, span_id
