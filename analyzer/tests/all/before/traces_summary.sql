-- Trace totals: traces and spans seen, traces with spans in more than one region, and orphan
-- spans. An orphan is a span whose parent_span_id is set but whose trace has no span with
-- that id (the parent was never seen: lost, dropped, or never exported).
WITH per_trace AS (
    SELECT trace_id, MIN(region) AS lo, MAX(region) AS hi
    FROM spans
    GROUP BY trace_id
),
orphans AS (
    SELECT c.span_id
    FROM spans c
    LEFT JOIN spans p ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id
    WHERE c.parent_span_id IS NOT NULL AND p.span_id IS NULL
)
SELECT (SELECT COUNT(*) FROM per_trace) AS traces,
       (SELECT COUNT(*) FROM spans) AS spans,
       (SELECT COUNT(*) FROM per_trace WHERE lo <> hi) AS cross_region_traces,
       (SELECT COUNT(*) FROM orphans) AS orphan_spans
