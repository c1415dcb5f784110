-- The replication-lag estimate of the RPO: the last value of the spec's lag gauge at or before
-- fault_at (the largest, when several series report at that same instant).
SELECT value AS lag, time
FROM metric_points
WHERE name = {{lag_metric}} AND time <= TIMESTAMP '{{fault_at}}' AND NOT is_stale
ORDER BY time DESC, value DESC
LIMIT 1
