-- Child-before-parent clock skew per (parent region, child region), over every parent-child
-- pair of spans (span_links rows with a parent). early_ns = parent start − child start (> 0:
-- the child started before its parent); late_ns = child end − parent end (> 0: the child
-- ended after its parent), not checked for asynchronous pairs (parent kind producer or child
-- kind consumer), which may outlive their parent. A pair is skewed when either exceeds
-- {{tolerance_ns}} ns; skew is the larger of the two. Reported as measured, never corrected.
-- The worst pair (largest skew, then lowest trace id and span id) is the evidence.
WITH pairs AS (
    SELECT parent_region,
           region AS child_region,
           trace_id,
           span_id,
           CAST(parent_start_time AS BIGINT) - CAST(start_time AS BIGINT) AS early_ns,
           CASE WHEN parent_kind = 'producer' OR kind = 'consumer' THEN NULL
                ELSE CAST(end_time AS BIGINT) - CAST(parent_end_time AS BIGINT) END AS late_ns
    FROM span_links
    WHERE parent_region IS NOT NULL
),
skews AS (
    SELECT *, GREATEST(early_ns, COALESCE(late_ns, early_ns)) AS skew_ns
    FROM pairs
)
SELECT parent_region,
       child_region,
       COUNT(*) AS pairs,
       SUM(CASE WHEN early_ns > {{tolerance_ns}} THEN 1 ELSE 0 END) AS starts_early,
       SUM(CASE WHEN late_ns > {{tolerance_ns}} THEN 1 ELSE 0 END) AS ends_late,
       SUM(CASE WHEN skew_ns > {{tolerance_ns}} THEN 1 ELSE 0 END) AS skewed,
       CAST(MAX(skew_ns) AS DOUBLE) / 1e6 AS max_skew_ms,
       FIRST_VALUE(trace_id ORDER BY skew_ns DESC, trace_id, span_id) AS worst_trace_id,
       FIRST_VALUE(span_id ORDER BY skew_ns DESC, trace_id, span_id) AS worst_span_id
FROM skews
GROUP BY parent_region, child_region
ORDER BY parent_region, child_region
