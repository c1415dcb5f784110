-- Message reconciliation per destination and side of the cutover.
-- A message is (destination, messaging.message.id) over spans whose messaging.operation.type
-- is publish or send (the producer) or receive or process (a consumer); destination is
-- messaging.destination.name, empty when the span names none.
-- Published: it has a publish/send span; published_at = the earliest one's start (producer
-- retries of one message count once). Deliveries: a consumer may record one delivery as a
-- receive span, a process span or both, so deliveries = the larger of the message's receive
-- count and its process count. Received: at least one delivery. Lost: published, never
-- delivered. Duplicated: delivered more than once; extra_deliveries = deliveries − 1 summed.
-- Unpublished: delivered but never published (the producer's telemetry is missing).
-- Side: 'before' when published (else first delivered) before cutover_at, else 'after'.
WITH per_message AS (SELECT * FROM messages)
SELECT destination,
       CASE WHEN COALESCE(published_at, first_delivery_at) < TIMESTAMP '{{cutover_at}}'
            THEN 'before' ELSE 'after' END AS side,
       SUM(CASE WHEN published_at IS NOT NULL THEN 1 ELSE 0 END) AS published,
       SUM(CASE WHEN deliveries > 0 THEN 1 ELSE 0 END) AS received,
       SUM(CASE WHEN published_at IS NOT NULL AND deliveries = 0 THEN 1 ELSE 0 END) AS lost,
       SUM(CASE WHEN deliveries > 1 THEN 1 ELSE 0 END) AS duplicated_messages,
       SUM(CASE WHEN deliveries > 1 THEN deliveries - 1 ELSE 0 END) AS extra_deliveries,
       SUM(CASE WHEN published_at IS NULL THEN 1 ELSE 0 END) AS unpublished,
       SUM(deliveries) AS deliveries
FROM per_message
GROUP BY 1, 2
ORDER BY destination, side DESC
