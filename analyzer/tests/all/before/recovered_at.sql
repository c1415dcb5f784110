-- recovered_at: start of the earliest good request starting after fault_at such that at
-- least success_ratio of the requests starting in [its start, its start + stable window]
-- (itself included) are good. The window must lie within the observed requests, so that a
-- quiet end of data cannot pass for stability.
WITH after_fault AS (
    SELECT start_time, bad
    FROM requests
    WHERE start_time > TIMESTAMP '{{fault_at}}'
),
windows AS (
    SELECT start_time,
           bad,
           COUNT(*) OVER w AS total,
           SUM(CASE WHEN bad THEN 0 ELSE 1 END) OVER w AS good
    FROM after_fault
    WINDOW w AS (ORDER BY start_time RANGE BETWEEN CURRENT ROW AND INTERVAL '{{stable_ms}} milliseconds' FOLLOWING)
)
SELECT MIN(start_time) AS recovered_at
FROM windows
WHERE NOT bad
  AND CAST(good AS DOUBLE) >= {{success_ratio}} * CAST(total AS DOUBLE)
  AND start_time + INTERVAL '{{stable_ms}} milliseconds' <= (SELECT MAX(start_time) FROM requests)
