-- The newest surviving write per promoted store: seq = last_applied_seq in the primary region.
SELECT p.store, p.last_applied_seq, p.time AS promoted_at, MIN(w.time) AS time
FROM promotions p
LEFT JOIN writes w
  ON w.store = p.store AND w.seq = p.last_applied_seq AND w.region = {{primary}} AND w.time <= p.time
GROUP BY p.store, p.last_applied_seq, p.time
ORDER BY p.store
