-- Followed the cutover? Streams as in gaps_streams.sql, keyed by service × signal (× metric
-- name), that have an event in the primary region ({{primary}}) before the fault
-- ({{fault_at}}), with their last such event and their first event in the secondary region
-- ({{secondary}}) at or after the cutover ({{cutover_at}}); null when the stream never
-- appeared there. Events in the secondary before the cutover do not count. From the
-- stream_times view (last_before and first_from search each stream's sorted times).
WITH before_fault AS (
    SELECT service, signal, metric, last_before(times, TIMESTAMP '{{fault_at}}') AS primary_last_at
    FROM stream_times
    WHERE region = {{primary}}
),
after_cutover AS (
    SELECT service, signal, metric, first_from(times, TIMESTAMP '{{cutover_at}}') AS secondary_first_at
    FROM stream_times
    WHERE region = {{secondary}}
)
SELECT b.service, b.signal, b.metric, b.primary_last_at, a.secondary_first_at
FROM before_fault b
LEFT JOIN after_cutover a
  ON a.service = b.service AND a.signal = b.signal AND a.metric = b.metric
WHERE b.primary_last_at IS NOT NULL
ORDER BY b.service, b.signal, b.metric
