-- Lost writes: writes in the primary region with seq > the promoted replica's
-- last_applied_seq, at or before the promotion. Later writes to the new primary may reuse
-- sequence numbers and are not lost.
SELECT w.store, w.seq, w.time, w.region
FROM writes w
JOIN promotions p ON w.store = p.store
WHERE w.region = {{primary}}
  AND w.seq > p.last_applied_seq
  AND w.time <= p.time
ORDER BY w.store, w.seq
