-- Session drops: SLI requests answered 401 or 403 (status_code of the request), per region,
-- in the baseline (starting before fault_at) and after the cutover (starting at or after
-- cutover_at). Requests between the fault and the cutover are left out.
SELECT region,
       CASE WHEN start_time < TIMESTAMP '{{fault_at}}' THEN 'baseline' ELSE 'after_cutover' END AS period,
       COUNT(*) AS requests,
       SUM(CASE WHEN status_code IN (401, 403) THEN 1 ELSE 0 END) AS auth_failures
FROM requests
WHERE start_time < TIMESTAMP '{{fault_at}}' OR start_time >= TIMESTAMP '{{cutover_at}}'
GROUP BY 1, 2
ORDER BY 1, 2 DESC
