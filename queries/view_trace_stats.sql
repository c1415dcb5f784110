-- One row per trace: its spans, root spans (no parent), orphan spans (see span_links), the
-- lowest and highest region name (different = the trace crossed regions) and its first and
-- last span start. Computed once from span_links.
SELECT trace_id,
       COUNT(*) AS spans,
       SUM(CASE WHEN parent_span_id IS NULL THEN 1 ELSE 0 END) AS roots,
       SUM(CASE WHEN orphan THEN 1 ELSE 0 END) AS orphans,
       MIN(region) AS lo_region,
       MAX(region) AS hi_region,
       MIN(start_time) AS first_start,
       MAX(start_time) AS last_start
FROM span_links
GROUP BY trace_id
