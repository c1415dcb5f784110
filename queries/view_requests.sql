-- SLI requests: spans of the spec's services and span kinds.
-- status_code = the span's http.response.status_code as an integer (null when absent or not
-- a number). Bad = status ERROR or status_code >= 500; everything else is good.
-- sampling_th = the OpenTelemetry sampling threshold of the span's tracestate (`ot=...th:T`,
-- hex); sampling_probability = its `sampling.probability` attribute as a number. Both null
-- when absent (the analyzer then takes the spec's sli.sampling.probability, else 1).
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
           TRY_CAST(s.attributes['http.response.status_code'] AS BIGINT) AS status_code,
           regexp_match(s.trace_state, '(?:^|,)\s*ot=(?:[^,;]*;)*th:([0-9a-f]{1,14})(?:[;,\s]|$)')[1] AS sampling_th,
           TRY_CAST(s.attributes['sampling.probability'] AS DOUBLE) AS sampling_probability
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
       status_code,
       sampling_th,
       sampling_probability
FROM selected
