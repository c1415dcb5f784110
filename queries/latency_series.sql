-- Latency over time for the report's chart: per region and tumbling window of window_ms
-- (date_bin, one bound on `origin`), the number of SLI requests (every service together) and
-- their p50 and p99 (hdr_latency, as in latency_phases.sql).
WITH windows AS (
    SELECT region,
           date_bin(INTERVAL '{{window_ms}} milliseconds', start_time, TIMESTAMP '{{origin}}') AS window_start,
           COUNT(*) AS requests,
           hdr_latency(duration_ms) AS h
    FROM requests
    GROUP BY region, date_bin(INTERVAL '{{window_ms}} milliseconds', start_time, TIMESTAMP '{{origin}}')
)
SELECT region, window_start, requests, h['p50_ms'] AS p50_ms, h['p99_ms'] AS p99_ms
FROM windows
ORDER BY region, window_start
