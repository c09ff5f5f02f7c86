-- Stage pd: pack dispenses (a whole-pack net dispense, or the split net dispenses
-- of one pack at one site), numbered per code in time order (pd_order 1 = first).
WITH packs AS (
  SELECT trace_code, pd_key, MIN(site_id) AS site_id, MIN(event_time) AS pd_time, MIN(ev_sec) AS pd_sec
  FROM netd
  GROUP BY trace_code, pd_key
)
SELECT packs.*,
       ROW_NUMBER() OVER (PARTITION BY trace_code ORDER BY pd_time, pd_key) AS pd_order
FROM packs
