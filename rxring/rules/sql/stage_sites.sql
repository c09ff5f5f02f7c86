-- Stage sites: one row per site with events, over the whole city.
--   first_sec, first_inventory_sec  the site's first event and first inventory scan
--   max_received     (code, site) pairs with a dispense and a receipt (inbound,
--                    transfer_in, or a transfer_out naming the site): at least
--                    NO_PROVENANCE's n_received
--   single_codes     codes with one dispense/refund scan in all, a dispense here: a
--                    net dispense (stage dr), so these pairs are NO_PROVENANCE's
--                    first_dispense pairs of those codes
--   single_received  of those, the ones with a receipt at the site
-- The codes with two or more dispense/refund scans are all candidates (stage cand);
-- NO_PROVENANCE adds their pairs from stage netd.  Groupings by site only.
WITH firsts AS (
  SELECT site_id, MIN(ev_sec) AS first_sec,
         MIN(CASE WHEN event_type = 'inventory' THEN ev_sec END) AS first_inventory_sec
  FROM scan
  GROUP BY site_id
),
dispensing AS (
  SELECT cs.site_id,
         SUM(cs.received) AS max_received,
         SUM(CASE WHEN c.n_dr = 1 THEN 1 ELSE 0 END) AS single_codes,
         SUM(CASE WHEN c.n_dr = 1 THEN cs.received ELSE 0 END) AS single_received
  FROM code_site cs
  JOIN codes c ON c.trace_code = cs.trace_code
  WHERE cs.disp_sec IS NOT NULL
  GROUP BY cs.site_id
)
SELECT /*+ BROADCAST(d) */ f.site_id, f.first_sec, f.first_inventory_sec,
       COALESCE(d.max_received, 0) AS max_received,
       COALESCE(d.single_codes, 0) AS single_codes,
       COALESCE(d.single_received, 0) AS single_received
FROM firsts f
LEFT JOIN dispensing d ON d.site_id = f.site_id
