-- Bounds of a suppression window: from_at = the first {{from_marker}} marker; to_at = the
-- first {{to_marker}} marker at or after from_at (null when the spec names none, passed as '',
-- or the log has none after from_at; the analyzer then ends the window at the end of the data).
WITH f AS (
    SELECT MIN(time) AS from_at FROM markers WHERE marker = {{from_marker}}
)
SELECT f.from_at, MIN(m.time) AS to_at
FROM f
LEFT JOIN markers m ON m.marker = {{to_marker}} AND m.time >= f.from_at
GROUP BY f.from_at
