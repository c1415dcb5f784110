-- RTO phase boundaries after fault_at, each the first such moment (null when absent):
-- detection by an alert (a firing alert of an SLI service: when it started firing) or, failing
-- that, by the SLI (the first bad request); failover declared; cutover (dns_cutover or
-- traffic_shifted); the first good request served by the secondary region.
SELECT
    (SELECT MIN(COALESCE(starts_at, time)) FROM alerts
      WHERE status = 'firing'
        AND service IN (SELECT service FROM sli_services)
        AND COALESCE(starts_at, time) >= TIMESTAMP '{{fault_at}}') AS alert_detected_at,
    (SELECT MIN(start_time) FROM requests
      WHERE bad AND start_time >= TIMESTAMP '{{fault_at}}') AS breach_detected_at,
    (SELECT MIN(time) FROM markers
      WHERE marker = 'failover_declared' AND time >= TIMESTAMP '{{fault_at}}') AS declared_at,
    (SELECT MIN(time) FROM markers
      WHERE marker IN ('dns_cutover', 'traffic_shifted') AND time >= TIMESTAMP '{{fault_at}}') AS cutover_at,
    (SELECT MIN(start_time) FROM requests
      WHERE NOT bad AND region = {{secondary}} AND start_time > TIMESTAMP '{{fault_at}}') AS first_good_secondary_at
