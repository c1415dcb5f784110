-- Traces broken across the cutover: the trace has spans starting before cutover_at and spans
-- starting at or after it, and its spans do not form one tree: at least one orphan span
-- (parent never seen) or more than one root span (no parent). By first span start (then trace
-- id), at most {{limit}} rows; `total` counts every broken trace. `regions` lists the
-- regions, sorted (only built for the listed traces).
WITH orphans AS (
    SELECT c.trace_id, c.span_id
    FROM spans c
    LEFT JOIN spans p ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id
    WHERE c.parent_span_id IS NOT NULL AND p.span_id IS NULL
),
per_trace AS (
    SELECT s.trace_id,
           COUNT(*) AS spans,
           SUM(CASE WHEN s.start_time < TIMESTAMP '{{cutover_at}}' THEN 1 ELSE 0 END) AS before_cutover,
           SUM(CASE WHEN s.start_time >= TIMESTAMP '{{cutover_at}}' THEN 1 ELSE 0 END) AS after_cutover,
           SUM(CASE WHEN s.parent_span_id IS NULL THEN 1 ELSE 0 END) AS roots,
           COUNT(o.span_id) AS orphans,
           MIN(s.start_time) AS first_start
    FROM spans s
    LEFT JOIN orphans o ON o.trace_id = s.trace_id AND o.span_id = s.span_id
    GROUP BY s.trace_id
),
listed AS (
    SELECT *, COUNT(*) OVER () AS total
    FROM per_trace
    WHERE before_cutover > 0 AND after_cutover > 0 AND (orphans > 0 OR roots > 1)
    ORDER BY first_start, trace_id
    LIMIT {{limit}}
)
SELECT l.trace_id,
       array_to_string(array_sort(array_agg(DISTINCT s.region)), ',') AS regions,
       l.spans, l.before_cutover, l.after_cutover, l.roots, l.orphans, l.first_start, l.total
FROM listed l
JOIN spans s ON s.trace_id = l.trace_id
GROUP BY l.trace_id, l.spans, l.before_cutover, l.after_cutover, l.roots, l.orphans, l.first_start, l.total
ORDER BY l.first_start, l.trace_id
