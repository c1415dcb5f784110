-- The log's time bounds (first and last event time over every table) and the drill_started /
-- drill_ended markers (first of each).
WITH times AS (
    SELECT start_time AS t FROM spans
    UNION ALL SELECT time FROM metric_points
    UNION ALL SELECT time FROM logs
    UNION ALL SELECT time FROM markers
    UNION ALL SELECT time FROM alerts
    UNION ALL SELECT time FROM siem
)
SELECT (SELECT MIN(t) FROM times) AS data_start,
       (SELECT MAX(t) FROM times) AS data_end,
       (SELECT MIN(time) FROM markers WHERE marker = 'drill_started') AS drill_started_at,
       (SELECT MIN(time) FROM markers WHERE marker = 'drill_ended') AS drill_ended_at
