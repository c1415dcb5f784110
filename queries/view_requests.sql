-- SLI requests: spans of the spec's services and span kinds.
-- status_code = the span's http.response.status_code as an integer (null when absent or not
-- a number). Bad = status ERROR or status_code >= 500; everything else is good.
WITH selected AS (
    SELECT s.trace_id,
           s.span_id,
           s.service,
           s.region,
           s.name,
           s.start_time,
           s.end_time,
           s.duration_ms,
           s.status,
           TRY_CAST(s.attributes['http.response.status_code'] AS BIGINT) AS status_code
    FROM spans s
    WHERE s.service IN (SELECT service FROM sli_services)
      AND s.kind IN (SELECT kind FROM sli_kinds)
)
SELECT trace_id,
       span_id,
       service,
       region,
       name,
       start_time,
       end_time,
       duration_ms,
       (status = 'error' OR COALESCE(status_code, 0) >= 500) AS bad,
       status_code
FROM selected
