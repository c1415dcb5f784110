-- Trace totals: traces and spans seen, traces with spans in more than one region, and orphan
-- spans. An orphan is a span whose parent_span_id is set but whose trace has no span with
-- that id (the parent was never seen: lost, dropped, or never exported). From trace_stats.
SELECT COUNT(*) AS traces,
       COALESCE(SUM(spans), 0) AS spans,
       COALESCE(SUM(CASE WHEN lo_region <> hi_region THEN 1 ELSE 0 END), 0) AS cross_region_traces,
       COALESCE(SUM(orphans), 0) AS orphan_spans
FROM trace_stats
