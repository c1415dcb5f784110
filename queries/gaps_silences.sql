-- Telemetry gaps. Streams as in gaps_streams.sql. A stream with at least {{min_events}}
-- distinct event times is checked against its threshold = the larger of {{gap_factor}} ×
-- cadence and the floor {{min_gap_ns}} ns, where the cadence is the spec's for the signal
-- (the *_cadence_ns placeholders; 0 = none) or else the inferred one (median step between
-- distinct event times). A gap is a step between two consecutive distinct event times longer
-- than the threshold (start = the event before, end = the event after), or, after the
-- stream's last event, a silence to the end of the data ({{data_end}}) longer than the
-- threshold (an open gap: end null). stream_gaps (analyzer/src/udf/streams.rs) applies this
-- rule to each stream's sorted times (the stream_times view); one row per gap.
WITH scanned AS (
    SELECT region, service, signal, metric,
           stream_gaps(
               times,
               CASE signal
                   WHEN 'spans' THEN {{spans_cadence_ns}}
                   WHEN 'metrics' THEN {{metrics_cadence_ns}}
                   WHEN 'logs' THEN {{logs_cadence_ns}}
                   ELSE {{siem_cadence_ns}}
               END,
               {{gap_factor}},
               {{min_gap_ns}},
               {{min_events}},
               TIMESTAMP '{{data_end}}') AS found
    FROM stream_times
),
each_gap AS (
    SELECT region, service, signal, metric, unnest(found) AS g
    FROM scanned
)
SELECT region, service, signal, metric,
       g['start_at'] AS start_at,
       g['end_at'] AS end_at,
       g['silence_ns'] AS silence_ns
FROM each_gap
ORDER BY region, service, signal, metric, start_at
