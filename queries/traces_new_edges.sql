-- Service-to-service edges first seen at or after cutover_at (new call paths). An edge is a
-- parent span's service → its child span's service, the two services different; it is seen
-- at the child's start time. `calls` counts the edge's parent-child pairs over the whole log.
SELECT parent_service, service AS child_service, MIN(start_time) AS first_seen_at, COUNT(*) AS calls
FROM span_links
WHERE parent_service IS NOT NULL AND parent_service <> service
GROUP BY parent_service, service
HAVING MIN(start_time) >= TIMESTAMP '{{cutover_at}}'
ORDER BY first_seen_at, parent_service, child_service
