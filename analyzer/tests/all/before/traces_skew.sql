-- Child-before-parent clock skew per (parent region, child region), over every parent-child
-- pair of spans. early_ns = parent start − child start (> 0: the child started before its
-- parent); late_ns = child end − parent end (> 0: the child ended after its parent), not
-- checked for asynchronous pairs (parent kind producer or child kind consumer), which may
-- outlive their parent. A pair is skewed when either exceeds {{tolerance_ns}} ns; skew is the
-- larger of the two. Reported as measured, never corrected. The worst pair is the evidence.
WITH pairs AS (
    SELECT p.region AS parent_region,
           c.region AS child_region,
           c.trace_id,
           c.span_id,
           CAST(p.start_time AS BIGINT) - CAST(c.start_time AS BIGINT) AS early_ns,
           CASE WHEN p.kind = 'producer' OR c.kind = 'consumer' THEN NULL
                ELSE CAST(c.end_time AS BIGINT) - CAST(p.end_time AS BIGINT) END AS late_ns
    FROM spans c
    JOIN spans p ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id
),
ranked AS (
    SELECT *,
           GREATEST(early_ns, COALESCE(late_ns, early_ns)) AS skew_ns,
           ROW_NUMBER() OVER (
               PARTITION BY parent_region, child_region
               ORDER BY GREATEST(early_ns, COALESCE(late_ns, early_ns)) DESC, trace_id, span_id
           ) AS r
    FROM pairs
)
SELECT parent_region,
       child_region,
       COUNT(*) AS pairs,
       SUM(CASE WHEN early_ns > {{tolerance_ns}} THEN 1 ELSE 0 END) AS starts_early,
       SUM(CASE WHEN late_ns > {{tolerance_ns}} THEN 1 ELSE 0 END) AS ends_late,
       SUM(CASE WHEN skew_ns > {{tolerance_ns}} THEN 1 ELSE 0 END) AS skewed,
       CAST(MAX(skew_ns) AS DOUBLE) / 1e6 AS max_skew_ms,
       MAX(CASE WHEN r = 1 THEN trace_id END) AS worst_trace_id,
       MAX(CASE WHEN r = 1 THEN span_id END) AS worst_span_id
FROM ranked
GROUP BY parent_region, child_region
ORDER BY parent_region, child_region
