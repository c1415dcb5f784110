-- Traces broken across the cutover: the trace has spans starting before cutover_at and spans
-- starting at or after it, and its spans do not form one tree: at least one orphan span
-- (parent never seen) or more than one root span (no parent). By first span start (then trace
-- id), at most {{limit}} rows; `total` counts every broken trace. `regions` lists the
-- regions, sorted, and the spans before and after the cutover are counted (both only for the
-- listed traces).
WITH listed AS (
    SELECT trace_id, spans, roots, orphans, first_start, COUNT(*) OVER () AS total
    FROM trace_stats
    WHERE first_start < TIMESTAMP '{{cutover_at}}'
      AND last_start >= TIMESTAMP '{{cutover_at}}'
      AND (orphans > 0 OR roots > 1)
    ORDER BY first_start, trace_id
    LIMIT {{limit}}
)
SELECT l.trace_id,
       array_to_string(array_sort(array_agg(DISTINCT s.region)), ',') AS regions,
       l.spans,
       SUM(CASE WHEN s.start_time < TIMESTAMP '{{cutover_at}}' THEN 1 ELSE 0 END) AS before_cutover,
       SUM(CASE WHEN s.start_time >= TIMESTAMP '{{cutover_at}}' THEN 1 ELSE 0 END) AS after_cutover,
       l.roots, l.orphans, l.first_start, l.total
FROM listed l
JOIN spans s ON s.trace_id = l.trace_id
GROUP BY l.trace_id, l.spans, l.roots, l.orphans, l.first_start, l.total
ORDER BY l.first_start, l.trace_id
