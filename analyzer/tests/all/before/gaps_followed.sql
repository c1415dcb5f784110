-- Followed the cutover? Streams as in gaps_streams.sql, keyed by service × signal (× metric
-- name), that have an event in the primary region ({{primary}}) before the fault
-- ({{fault_at}}), with their last such event and their first event in the secondary region
-- ({{secondary}}) at or after the cutover ({{cutover_at}}); null when the stream never
-- appeared there. Events in the secondary before the cutover do not count.
WITH events AS (SELECT * FROM stream_events),
before_fault AS (
    SELECT service, signal, metric, MAX(t) AS primary_last_at
    FROM events
    WHERE region = {{primary}} AND t < TIMESTAMP '{{fault_at}}'
    GROUP BY service, signal, metric
),
after_cutover AS (
    SELECT service, signal, metric, MIN(t) AS secondary_first_at
    FROM events
    WHERE region = {{secondary}} AND t >= TIMESTAMP '{{cutover_at}}'
    GROUP BY service, signal, metric
)
SELECT b.service, b.signal, b.metric, b.primary_last_at, a.secondary_first_at
FROM before_fault b
LEFT JOIN after_cutover a
  ON a.service = b.service AND a.signal = b.signal AND a.metric = b.metric
ORDER BY b.service, b.signal, b.metric
