-- Latency of the SLI requests per region × service × drill phase. The phases are those of
-- the timeline: baseline [phases_start, fault_at), outage [fault_at, recovered_at),
-- recovered [recovered_at, phases_end); a request belongs to the phase its start falls in.
-- Percentiles come from hdr_latency (HDR histogram, nearest rank, 3 significant digits, the
-- lower bound of the value's bucket); `skipped` counts durations that are not latencies
-- (negative: the span ended before it started).
WITH phased AS (
    SELECT region,
           service,
           duration_ms,
           bad,
           CASE WHEN start_time < TIMESTAMP '{{fault_at}}' THEN 0
                WHEN start_time < TIMESTAMP '{{recovered_at}}' THEN 1
                ELSE 2 END AS phase_order
    FROM requests
    WHERE start_time >= TIMESTAMP '{{phases_start}}' AND start_time < TIMESTAMP '{{phases_end}}'
),
grouped AS (
    SELECT region,
           service,
           phase_order,
           COUNT(*) AS requests,
           SUM(CASE WHEN bad THEN 1 ELSE 0 END) AS bad_requests,
           hdr_latency(duration_ms) AS h
    FROM phased
    GROUP BY region, service, phase_order
)
SELECT region,
       service,
       CASE phase_order WHEN 0 THEN 'baseline' WHEN 1 THEN 'outage' ELSE 'recovered' END AS phase,
       requests,
       bad_requests,
       h['skipped'] AS skipped,
       h['p50_ms'] AS p50_ms,
       h['p90_ms'] AS p90_ms,
       h['p99_ms'] AS p99_ms,
       h['p999_ms'] AS p999_ms,
       h['max_ms'] AS max_ms
FROM grouped
ORDER BY region, service, phase_order
