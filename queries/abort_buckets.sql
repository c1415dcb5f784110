-- SLI requests and bad requests per step bucket for one abort criterion. Bucket b holds the
-- requests that start in [origin + b × step, origin + (b + 1) × step) (b is negative before the
-- origin). With a region (any_region = 0) only that region's requests count.
WITH r AS (
    SELECT CAST(start_time AS BIGINT) - {{origin_ns}} AS offset_ns, bad
    FROM requests
    WHERE {{any_region}} = 1 OR region = {{region}}
), b AS (
    SELECT CASE WHEN offset_ns >= 0 THEN offset_ns / {{step_ns}}
                ELSE -((-offset_ns + {{step_ns}} - 1) / {{step_ns}}) END AS bucket,
           bad
    FROM r
)
SELECT bucket,
       COUNT(*) AS requests,
       SUM(CASE WHEN bad THEN 1 ELSE 0 END) AS bad
FROM b
GROUP BY bucket
ORDER BY bucket
