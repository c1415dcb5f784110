-- p50 and p99 of the SLI requests per region × service in tumbling windows of window_ms
-- (date_bin; one window bound falls on `origin`, the fault), beside the baseline p99 they are
-- compared with. The baseline p99 is that of the same region × service before the fault
-- (baseline_scope 'region'); when that region × service had no request before the fault, the
-- p99 of the same service over all regions (baseline_scope 'service').
-- A window is a spike when p99 > spike_factor × baseline p99, p99 > spike_floor_ms and it has
-- at least min_samples requests. Percentiles as in latency_phases.sql.
WITH baseline AS (
    SELECT region, service, duration_ms
    FROM requests
    WHERE start_time >= TIMESTAMP '{{phases_start}}' AND start_time < TIMESTAMP '{{fault_at}}'
),
by_region AS (
    SELECT region, service, hdr_latency(duration_ms)['p99_ms'] AS p99_ms
    FROM baseline GROUP BY region, service
),
by_service AS (
    SELECT service, hdr_latency(duration_ms)['p99_ms'] AS p99_ms
    FROM baseline GROUP BY service
),
windows AS (
    SELECT region,
           service,
           date_bin(INTERVAL '{{window_ms}} milliseconds', start_time, TIMESTAMP '{{origin}}') AS window_start,
           COUNT(*) AS requests,
           hdr_latency(duration_ms) AS h
    FROM requests
    GROUP BY region, service, date_bin(INTERVAL '{{window_ms}} milliseconds', start_time, TIMESTAMP '{{origin}}')
),
compared AS (
    SELECT w.region,
           w.service,
           w.window_start,
           w.requests,
           w.h['p50_ms'] AS p50_ms,
           w.h['p99_ms'] AS p99_ms,
           COALESCE(r.p99_ms, s.p99_ms) AS baseline_p99_ms,
           CASE WHEN r.p99_ms IS NOT NULL THEN 'region'
                WHEN s.p99_ms IS NOT NULL THEN 'service' END AS baseline_scope
    FROM windows w
    LEFT JOIN by_region r ON r.region = w.region AND r.service = w.service
    LEFT JOIN by_service s ON s.service = w.service
)
SELECT region,
       service,
       window_start,
       requests,
       p50_ms,
       p99_ms,
       baseline_p99_ms,
       baseline_scope,
       COALESCE(p99_ms > {{spike_factor}} * baseline_p99_ms
                AND p99_ms > {{spike_floor_ms}}
                AND requests >= {{min_samples}}, false) AS spike
FROM compared
ORDER BY region, service, window_start
