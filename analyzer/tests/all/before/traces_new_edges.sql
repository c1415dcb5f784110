-- Service-to-service edges first seen at or after cutover_at (new call paths). An edge is a
-- parent span's service → its child span's service, the two services different; it is seen
-- at the child's start time. `calls` counts the edge's parent-child pairs over the whole log.
WITH edges AS (
    SELECT p.service AS parent_service, c.service AS child_service, c.start_time
    FROM spans c
    JOIN spans p ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id
    WHERE p.service <> c.service
)
SELECT parent_service, child_service, MIN(start_time) AS first_seen_at, COUNT(*) AS calls
FROM edges
GROUP BY parent_service, child_service
HAVING MIN(start_time) >= TIMESTAMP '{{cutover_at}}'
ORDER BY first_seen_at, parent_service, child_service
