-- Notifications Alertmanager truncated (webhook `max_alerts`): one row per notification
-- (group key, receiver and receive time) received at or after the fault whose
-- truncatedAlerts is above 0, with the number of alerts it left out. Every alert row of a
-- notification carries the same count, so it is taken once (MAX).
SELECT group_key,
       receiver,
       time AS received_at,
       MAX(truncated_alerts) AS truncated_alerts
FROM alerts
WHERE truncated_alerts > 0 AND time >= TIMESTAMP '{{fault_at}}'
GROUP BY group_key, receiver, time
ORDER BY time, group_key, receiver
