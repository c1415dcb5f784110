-- Every span with its parent: the span of the same trace whose span_id is the child's
-- parent_span_id (spans are deduplicated by (trace_id, span_id), so there is at most one).
-- One row per span. `orphan`: parent_span_id is set but the trace has no span with that id
-- (the parent was never seen: lost, dropped, or never exported). The parent_* columns are
-- null for roots and orphans. Computed once; every traces query reads it instead of joining
-- spans with themselves again.
SELECT c.trace_id,
       c.span_id,
       c.parent_span_id,
       c.service,
       c.region,
       c.kind,
       c.start_time,
       c.end_time,
       (c.parent_span_id IS NOT NULL AND p.span_id IS NULL) AS orphan,
       p.service AS parent_service,
       p.region AS parent_region,
       p.kind AS parent_kind,
       p.start_time AS parent_start_time,
       p.end_time AS parent_end_time
FROM spans c
LEFT JOIN spans p ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id
