-- Database promotions: the first db_promoted marker per store.
SELECT store, time, region, last_applied_seq
FROM (
    SELECT attributes['cutover.write.store'] AS store,
           time,
           region,
           TRY_CAST(attributes['cutover.write.last_applied_seq'] AS BIGINT) AS last_applied_seq,
           ROW_NUMBER() OVER (PARTITION BY attributes['cutover.write.store'] ORDER BY time, seq) AS n
    FROM markers
    WHERE marker = 'db_promoted'
) p
WHERE n = 1
