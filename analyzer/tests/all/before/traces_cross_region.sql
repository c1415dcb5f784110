-- Traces with spans in more than one region, by first span start (then trace id), at most
-- {{limit}} rows; `total` counts every such trace. `regions` lists the regions, sorted (it is
-- only built for the listed traces).
WITH per_trace AS (
    SELECT trace_id, MIN(region) AS lo, MAX(region) AS hi, COUNT(*) AS spans, MIN(start_time) AS first_start
    FROM spans
    GROUP BY trace_id
),
listed AS (
    SELECT trace_id, spans, first_start, COUNT(*) OVER () AS total
    FROM per_trace
    WHERE lo <> hi
    ORDER BY first_start, trace_id
    LIMIT {{limit}}
)
SELECT l.trace_id,
       array_to_string(array_sort(array_agg(DISTINCT s.region)), ',') AS regions,
       l.spans,
       l.first_start,
       l.total
FROM listed l
JOIN spans s ON s.trace_id = l.trace_id
GROUP BY l.trace_id, l.spans, l.first_start, l.total
ORDER BY l.first_start, l.trace_id
