-- Stage pd: pack dispenses (a whole-pack net dispense, or the split net dispenses
-- of one pack at one site), numbered per code in time order (pd_order 1 = first;
-- ties by pd_key).  Codes with a single pack dispense (nearly all) skip the sort.
WITH packs AS (
  SELECT trace_code, pd_key, MIN(site_id) AS site_id, MIN(event_time) AS pd_time, MIN(ev_sec) AS pd_sec
  FROM netd
  GROUP BY trace_code, pd_key
),
counts AS (
  SELECT trace_code, COUNT(*) AS n_packs FROM packs GROUP BY trace_code
)
SELECT p.trace_code, p.pd_key, p.site_id, p.pd_time, p.pd_sec, CAST(1 AS BIGINT) AS pd_order
FROM packs p JOIN counts c ON c.trace_code = p.trace_code
WHERE c.n_packs = 1
UNION ALL
SELECT p.trace_code, p.pd_key, p.site_id, p.pd_time, p.pd_sec,
       ROW_NUMBER() OVER (PARTITION BY p.trace_code ORDER BY p.pd_time, p.pd_key) AS pd_order
FROM packs p JOIN counts c ON c.trace_code = p.trace_code
WHERE c.n_packs > 1
