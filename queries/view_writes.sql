-- Writes acknowledged by a store's primary: spans or log records carrying
-- cutover.write.store and cutover.write.seq. A write reported twice counts once.
SELECT store, seq, region, MIN(time) AS time
FROM (
    SELECT attributes['cutover.write.store'] AS store,
           TRY_CAST(attributes['cutover.write.seq'] AS BIGINT) AS seq,
           region,
           start_time AS time
    FROM spans
    WHERE attributes['cutover.write.store'] IS NOT NULL
    UNION ALL
    SELECT attributes['cutover.write.store'] AS store,
           TRY_CAST(attributes['cutover.write.seq'] AS BIGINT) AS seq,
           region,
           time
    FROM logs
    WHERE attributes['cutover.write.store'] IS NOT NULL
) w
WHERE seq IS NOT NULL
GROUP BY store, seq, region
