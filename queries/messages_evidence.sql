-- Evidence for message reconciliation: lost messages (published, never delivered) and
-- duplicated ones (delivered more than once), with the definitions of messages_reconcile.sql.
-- At most {{limit}} of each problem, by publish time (then destination, message id); `side`
-- is the message's side of cutover_at by publish time.
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
),
per_message AS (
    SELECT destination,
           message_id,
           MIN(CASE WHEN op IN ('publish', 'send') THEN start_time END) AS published_at,
           MIN(CASE WHEN op IN ('receive', 'process') THEN start_time END) AS first_delivery_at,
           GREATEST(SUM(CASE WHEN op = 'receive' THEN 1 ELSE 0 END),
                    SUM(CASE WHEN op = 'process' THEN 1 ELSE 0 END)) AS deliveries
    FROM ops
    GROUP BY destination, message_id
),
problems AS (
    SELECT CASE WHEN deliveries = 0 THEN 'lost' ELSE 'duplicated' END AS problem,
           destination,
           message_id,
           published_at,
           first_delivery_at,
           deliveries
    FROM per_message
    WHERE (published_at IS NOT NULL AND deliveries = 0) OR deliveries > 1
),
ranked AS (
    SELECT *,
           ROW_NUMBER() OVER (
               PARTITION BY problem
               ORDER BY COALESCE(published_at, first_delivery_at), destination, message_id
           ) AS n
    FROM problems
)
SELECT problem,
       destination,
       message_id,
       CASE WHEN COALESCE(published_at, first_delivery_at) < TIMESTAMP '{{cutover_at}}'
            THEN 'before' ELSE 'after' END AS side,
       published_at,
       first_delivery_at,
       deliveries
FROM ranked
WHERE n <= {{limit}}
ORDER BY problem DESC, n
