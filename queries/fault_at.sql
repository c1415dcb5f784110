-- fault_at: the first fault_injected marker.
SELECT MIN(time) AS fault_at, COUNT(*) AS markers
FROM markers
WHERE marker = 'fault_injected'
