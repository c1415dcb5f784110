-- The SLI over time for the report's charts: requests, bad requests and the success ratio per
-- region per window (tumbling windows of window_ms aligned to the epoch).
SELECT region,
       date_bin(INTERVAL '{{window_ms}} milliseconds', start_time, TIMESTAMP '1970-01-01T00:00:00Z') AS window_start,
       COUNT(*) AS requests,
       SUM(CASE WHEN bad THEN 1 ELSE 0 END) AS bad,
       CAST(SUM(CASE WHEN bad THEN 0 ELSE 1 END) AS DOUBLE) / CAST(COUNT(*) AS DOUBLE) AS success_ratio
FROM requests
GROUP BY 1, 2
ORDER BY 1, 2
