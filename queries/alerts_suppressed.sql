-- Alerts firing inside a suppression window: firing notifications received in
-- [{{from_at}}, {{to_at}}] (both ends included), of alert {{alertname}} only unless it is '',
-- one row per alert instance (fingerprint) and startsAt, with the first receipt in the window
-- and the number of firing notifications received in it.
SELECT alertname, service, region, fingerprint,
       COALESCE(starts_at, time) AS starts_at,
       MIN(time) AS first_received_at,
       COUNT(*) AS notifications
FROM alerts
WHERE status = 'firing'
  AND time >= TIMESTAMP '{{from_at}}'
  AND time <= TIMESTAMP '{{to_at}}'
  AND ({{alertname}} = '' OR alertname = {{alertname}})
GROUP BY alertname, service, region, fingerprint, COALESCE(starts_at, time)
ORDER BY first_received_at, alertname, service, region, fingerprint, starts_at
