-- SLI requests per step bucket for one SLO. Bucket b holds the requests that start in
-- [origin + b × step, origin + (b + 1) × step) (b is negative before the origin). A request is
-- bad for the SLO when it is bad (see view_requests.sql) or, when the SLO has a latency
-- threshold, when its duration is above the threshold. drill_* count only the requests that
-- start inside the drill window [drill_start, drill_end] (both ends included).
WITH r AS (
    SELECT CAST(start_time AS BIGINT) - {{origin_ns}} AS offset_ns,
           start_time,
           (bad OR ({{has_latency}} = 1 AND duration_ms > {{latency_ms}})) AS slo_bad,
           (start_time >= TIMESTAMP '{{drill_start}}' AND start_time <= TIMESTAMP '{{drill_end}}') AS in_drill
    FROM requests
), b AS (
    SELECT CASE WHEN offset_ns >= 0 THEN offset_ns / {{step_ns}}
                ELSE -((-offset_ns + {{step_ns}} - 1) / {{step_ns}}) END AS bucket,
           slo_bad,
           in_drill
    FROM r
)
SELECT bucket,
       COUNT(*) AS requests,
       SUM(CASE WHEN slo_bad THEN 1 ELSE 0 END) AS bad,
       SUM(CASE WHEN in_drill THEN 1 ELSE 0 END) AS drill_requests,
       SUM(CASE WHEN slo_bad AND in_drill THEN 1 ELSE 0 END) AS drill_bad
FROM b
GROUP BY bucket
ORDER BY bucket
