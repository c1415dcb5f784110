-- Notifications Alertmanager truncated (webhook `max_alerts`), per alert group (group key and
-- receiver), received at or after the fault: how many of the group's notifications had
-- truncatedAlerts above 0 (every alert row of a notification shares its receive time) and the
-- most alerts any one of them left out. A group's repeat notifications leave out the same
-- alerts again, so the counts are not added up across them.
SELECT group_key,
       receiver,
       COUNT(DISTINCT time) AS notifications,
       MAX(truncated_alerts) AS truncated_alerts,
       MIN(time) AS first_received_at
FROM alerts
WHERE truncated_alerts > 0 AND time >= TIMESTAMP '{{fault_at}}'
GROUP BY group_key, receiver
ORDER BY first_received_at, group_key, receiver
