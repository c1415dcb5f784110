-- Evidence for message reconciliation: lost messages (published, never delivered) and
-- duplicated ones (delivered more than once), with the definitions of messages_reconcile.sql.
-- At most {{limit}} of each problem, by publish time (then destination, message id); `side`
-- is the message's side of cutover_at by publish time.
WITH per_message AS (SELECT * FROM messages),
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
