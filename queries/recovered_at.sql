-- recovered_at: start of the earliest good request starting after fault_at such that at
-- least success_ratio of the requests starting in [its start, its start + stable window]
-- (itself and every request starting at the same instant included) are good. The window must
-- lie within the observed requests (end at or before the last request's start), so that a
-- quiet end of data cannot pass for stability. The aggregate recovery_start
-- (analyzer/src/udf/recovery.rs) sorts the requests once and slides the window over them.
SELECT recovery_start(start_time, bad, {{stable_ms}}, {{success_ratio}}) AS recovered_at
FROM requests
WHERE start_time > TIMESTAMP '{{fault_at}}'
