-- Residual traffic: SLI requests starting at or after cutover_at, in windows of window_ms
-- aligned on the cutover (window k covers [cutover_at + k·w, cutover_at + (k+1)·w)). One row
-- per window that has requests: all requests, those served by the primary region (residual),
-- the residual ones that were bad, and the last residual request's start.
SELECT date_bin(INTERVAL '{{window_ms}} milliseconds', start_time, TIMESTAMP '{{cutover_at}}') AS window_start,
       COUNT(*) AS requests,
       SUM(CASE WHEN region = {{primary}} THEN 1 ELSE 0 END) AS primary_requests,
       SUM(CASE WHEN region = {{primary}} AND bad THEN 1 ELSE 0 END) AS primary_bad,
       MAX(CASE WHEN region = {{primary}} THEN start_time END) AS last_primary_at
FROM requests
WHERE start_time >= TIMESTAMP '{{cutover_at}}'
GROUP BY 1
ORDER BY 1
