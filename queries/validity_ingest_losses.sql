-- Data the ingest daemon lost before storing it, as it recorded in the log (service
-- `cutover-ingest`): syslog datagrams over UDP that the kernel dropped from a full receive
-- buffer or that the log refused, per receiver and listener.
SELECT attributes['cutover.ingest.receiver'] AS receiver,
       attributes['cutover.ingest.listener'] AS listener,
       SUM(TRY_CAST(attributes['cutover.ingest.dropped_datagrams'] AS BIGINT)) AS dropped_datagrams,
       MIN(time) AS first_at,
       MAX(time) AS last_at
FROM logs
WHERE service = 'cutover-ingest' AND attributes['cutover.ingest.dropped_datagrams'] IS NOT NULL
GROUP BY 1, 2
ORDER BY 1, 2
