-- Orphan spans: parent_span_id is set but the trace has no span with that id. One row per
-- orphan, by start time; the analyzer counts them per phase of the drill (by start time).
SELECT c.trace_id, c.span_id, c.parent_span_id, c.service, c.region, c.start_time
FROM spans c
LEFT JOIN spans p ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id
WHERE c.parent_span_id IS NOT NULL AND p.span_id IS NULL
ORDER BY c.start_time, c.trace_id, c.span_id
