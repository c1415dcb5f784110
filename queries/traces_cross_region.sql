-- Traces with spans in more than one region, by first span start (then trace id), at most
-- {{limit}} rows; `total` counts every such trace. `regions` lists the regions, sorted.
WITH per_trace AS (
    SELECT trace_id,
           COUNT(DISTINCT region) AS region_count,
           array_to_string(array_sort(array_agg(DISTINCT region)), ',') AS regions,
           COUNT(*) AS spans,
           MIN(start_time) AS first_start
    FROM spans
    GROUP BY trace_id
)
SELECT trace_id, regions, spans, first_start, COUNT(*) OVER () AS total
FROM per_trace
WHERE region_count > 1
ORDER BY first_start, trace_id
LIMIT {{limit}}
