-- Alert firings at or after the fault ({{fault_at}}): one row per alert instance (fingerprint)
-- and startsAt (the receipt time when startsAt is missing), counting firing notifications
-- whose startsAt is at or after the fault. received_at = the first receipt of a firing
-- notification for it; resolved_at = the earliest endsAt (else receipt time) of a resolved
-- notification of the same fingerprint at or after its startsAt (null: still firing).
WITH firing AS (
    SELECT alertname, service, region, fingerprint,
           COALESCE(starts_at, time) AS starts_at,
           MIN(time) AS received_at,
           COUNT(*) AS notifications
    FROM alerts
    WHERE status = 'firing' AND COALESCE(starts_at, time) >= TIMESTAMP '{{fault_at}}'
    GROUP BY alertname, service, region, fingerprint, COALESCE(starts_at, time)
),
resolved AS (
    SELECT fingerprint, COALESCE(ends_at, time) AS ended_at
    FROM alerts
    WHERE status = 'resolved'
)
SELECT f.alertname, f.service, f.region, f.fingerprint, f.starts_at, f.received_at, f.notifications,
       MIN(r.ended_at) AS resolved_at
FROM firing f
LEFT JOIN resolved r ON r.fingerprint = f.fingerprint AND r.ended_at >= f.starts_at
GROUP BY f.alertname, f.service, f.region, f.fingerprint, f.starts_at, f.received_at, f.notifications
ORDER BY f.starts_at, f.received_at, f.alertname, f.service, f.region, f.fingerprint
