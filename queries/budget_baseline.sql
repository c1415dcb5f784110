-- Baseline traffic of the SLI for the error budget: the requests that start before the fault,
-- with the first and last start time. The analyzer takes the baseline rate as
-- (requests − 1) ÷ (last_start − first_start): the number of gaps between consecutive requests
-- over their total length, which is exact for steady traffic.
SELECT COUNT(*) AS requests,
       MIN(start_time) AS first_start,
       MAX(start_time) AS last_start
FROM requests
WHERE start_time < TIMESTAMP '{{fault_at}}'
