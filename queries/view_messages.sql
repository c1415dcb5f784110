-- Messages: one row per (destination, messaging.message.id) over spans whose
-- messaging.operation.type is publish or send (the producer) or receive or process (a
-- consumer); destination = messaging.destination.name, '' when the span names none.
-- published_at = the earliest publish/send start; first_delivery_at = the earliest
-- receive/process start; deliveries = the larger of the receive count and the process count
-- (a consumer may record one delivery as either or both). A plain view, not materialized.
WITH ids AS (
    SELECT attributes['messaging.message.id'] AS message_id, attributes, start_time
    FROM spans
),
typed AS (
    SELECT message_id,
           LOWER(attributes['messaging.operation.type']) AS op,
           attributes['messaging.destination.name'] AS destination,
           start_time
    FROM ids
    WHERE message_id IS NOT NULL
),
ops AS (
    SELECT COALESCE(destination, '') AS destination, message_id, op, start_time
    FROM typed
    WHERE op IN ('publish', 'send', 'receive', 'process')
)
SELECT destination,
       message_id,
       MIN(CASE WHEN op IN ('publish', 'send') THEN start_time END) AS published_at,
       MIN(CASE WHEN op IN ('receive', 'process') THEN start_time END) AS first_delivery_at,
       GREATEST(SUM(CASE WHEN op = 'receive' THEN 1 ELSE 0 END),
                SUM(CASE WHEN op = 'process' THEN 1 ELSE 0 END)) AS deliveries
FROM ops
GROUP BY destination, message_id
