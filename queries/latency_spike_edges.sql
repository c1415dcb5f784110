-- The requests around one spike, for finding its start and end at the resolution of the
-- requests themselves: start time and duration_ms of every SLI request of one region × service
-- starting in [edges_from, edges_to) (the spike's windows widened by one window on each side),
-- in start order. Negative durations are left out, as the hdr_latency aggregate leaves them out
-- of the windows' percentiles.
SELECT start_time,
       duration_ms
FROM requests
WHERE region = {{region}}
  AND service = {{service}}
  AND start_time >= TIMESTAMP '{{edges_from}}'
  AND start_time < TIMESTAMP '{{edges_to}}'
  AND duration_ms >= 0
ORDER BY start_time, duration_ms
