-- Split brain: a store whose writes were accepted in two regions over overlapping time.
-- For each store and region the span [first write, last write]; every pair of regions whose
-- spans overlap is reported with the overlapping window and the writes each region took in it.
WITH spans AS (
    SELECT store, region, MIN(time) AS first_write, MAX(time) AS last_write
    FROM writes
    GROUP BY store, region
),
pairs AS (
    SELECT a.store,
           a.region AS region_a,
           b.region AS region_b,
           greatest(a.first_write, b.first_write) AS overlap_start,
           least(a.last_write, b.last_write) AS overlap_end
    FROM spans a
    JOIN spans b ON a.store = b.store AND a.region < b.region
)
SELECT p.store, p.region_a, p.region_b, p.overlap_start, p.overlap_end,
       SUM(CASE WHEN w.region = p.region_a THEN 1 ELSE 0 END) AS writes_a,
       SUM(CASE WHEN w.region = p.region_b THEN 1 ELSE 0 END) AS writes_b
FROM pairs p
JOIN writes w ON w.store = p.store AND w.time BETWEEN p.overlap_start AND p.overlap_end
WHERE p.overlap_start <= p.overlap_end
GROUP BY p.store, p.region_a, p.region_b, p.overlap_start, p.overlap_end
ORDER BY p.store, p.region_a, p.region_b
