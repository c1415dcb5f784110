-- Exemplars measured during one spike: the exemplars of the metric points of the spike's
-- region × service whose measurement time falls in [edges_from, edges_to), the largest value
-- first, at most 5. An exemplar names the trace and span its measurement was made in, so a
-- spike leads to traces that show where the time went.
SELECT name,
       x['time'] AS time,
       x['value'] AS value,
       x['trace_id'] AS trace_id,
       x['span_id'] AS span_id
FROM (
    SELECT name, unnest(exemplars) AS x
    FROM metric_points
    WHERE region = {{region}} AND service = {{service}} AND exemplars IS NOT NULL
)
WHERE x['time'] >= TIMESTAMP '{{edges_from}}' AND x['time'] < TIMESTAMP '{{edges_to}}'
ORDER BY x['value'] DESC, x['time'], x['trace_id'], x['span_id']
LIMIT 5
