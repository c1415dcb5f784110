-- Sample sizes: SLI requests per region in each drill phase (baseline before the fault,
-- outage until recovery, recovered after), bad ones among them.
SELECT region,
       CASE WHEN start_time < TIMESTAMP '{{fault_at}}' THEN 'baseline'
            WHEN start_time < TIMESTAMP '{{recovered_at}}' THEN 'outage'
            ELSE 'recovered' END AS phase,
       COUNT(*) AS requests,
       SUM(CASE WHEN bad THEN 1 ELSE 0 END) AS bad
FROM requests
GROUP BY 1, 2
ORDER BY 1, CASE phase WHEN 'baseline' THEN 0 WHEN 'outage' THEN 1 ELSE 2 END
