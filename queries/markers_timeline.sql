-- Every drill marker in time order (log order breaks ties), for the report's timeline.
SELECT marker, time, region
FROM markers
ORDER BY time, seq
