-- The inferred fault, used only when the log has no fault_injected marker: the start of the
-- earliest bad request such that fewer than breach_success_ratio of the requests starting in
-- [its start, its start + breach window] (itself included) are good, i.e. the first sustained
-- SLI breach. The window must lie within the observed requests, like recovered_at.
WITH windows AS (
    SELECT start_time,
           bad,
           COUNT(*) OVER w AS total,
           SUM(CASE WHEN bad THEN 0 ELSE 1 END) OVER w AS good
    FROM requests
    WINDOW w AS (ORDER BY start_time RANGE BETWEEN CURRENT ROW AND INTERVAL '{{breach_ms}} milliseconds' FOLLOWING)
)
SELECT MIN(start_time) AS fault_at
FROM windows
WHERE bad
  AND CAST(good AS DOUBLE) < {{breach_success_ratio}} * CAST(total AS DOUBLE)
  AND start_time + INTERVAL '{{breach_ms}} milliseconds' <= (SELECT MAX(start_time) FROM requests)
