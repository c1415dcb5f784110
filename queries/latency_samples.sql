-- The raw durations behind the statistical comparison of each phase with the baseline: every
-- SLI request's duration_ms with its region, service and phase (phase bounds as in
-- latency_phases.sql), sorted so that each group arrives in ascending order.
SELECT region,
       service,
       CASE WHEN start_time < TIMESTAMP '{{fault_at}}' THEN 'baseline'
            WHEN start_time < TIMESTAMP '{{recovered_at}}' THEN 'outage'
            ELSE 'recovered' END AS phase,
       duration_ms
FROM requests
WHERE start_time >= TIMESTAMP '{{phases_start}}' AND start_time < TIMESTAMP '{{phases_end}}'
ORDER BY region, service, phase, duration_ms
