-- SLI requests: spans of the spec's services and span kinds.
-- Bad = status ERROR or http.response.status_code >= 500; everything else is good.
SELECT
    s.trace_id,
    s.span_id,
    s.service,
    s.region,
    s.name,
    s.start_time,
    s.end_time,
    s.duration_ms,
    (s.status = 'error'
        OR COALESCE(TRY_CAST(s.attributes['http.response.status_code'] AS BIGINT), 0) >= 500) AS bad
FROM spans s
WHERE s.service IN (SELECT service FROM sli_services)
  AND s.kind IN (SELECT kind FROM sli_kinds)
