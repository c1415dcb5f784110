-- Session drops: SLI requests answered 401 or 403 (http.response.status_code of the request
-- span), per region, in the baseline (starting before fault_at) and after the cutover
-- (starting at or after cutover_at). Requests between the fault and the cutover are left out.
SELECT r.region,
       CASE WHEN r.start_time < TIMESTAMP '{{fault_at}}' THEN 'baseline' ELSE 'after_cutover' END AS period,
       COUNT(*) AS requests,
       SUM(CASE WHEN TRY_CAST(s.attributes['http.response.status_code'] AS BIGINT) IN (401, 403)
                THEN 1 ELSE 0 END) AS auth_failures
FROM requests r
JOIN spans s ON s.trace_id = r.trace_id AND s.span_id = r.span_id
WHERE r.start_time < TIMESTAMP '{{fault_at}}' OR r.start_time >= TIMESTAMP '{{cutover_at}}'
GROUP BY 1, 2
ORDER BY 1, 2 DESC
