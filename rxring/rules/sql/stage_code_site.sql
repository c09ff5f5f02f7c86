-- Stage code_site: one row per (trace code, site) over the whole city.
-- Products and product parts are aggregated as integer keys (stage keys).
--
-- A transfer_out naming a site as counterparty counts as a receipt at that site
-- (hospital networks record only the sending side): those rows are aggregated
-- apart, by (code, counterparty), and joined to the per-site aggregates on
-- (trace_code, site_id) (a FULL OUTER JOIN of two aggregates keyed by trace code
-- keeps Spark's partitioning by trace code; a UNION ALL feeding one aggregate
-- would not).
-- Columns (ev_sec seconds; NULL when there is no such event):
--   disp_sec             first dispense at the site
--   n_dr                 dispense and refund scans at the site
--   received             1 when an inbound or transfer_in at the site, or a transfer_out
--                        naming it, exists (NO_PROVENANCE coverage), else 0
--   receipt_sec          first event at the site of a type in ${provenance_types}
--                        other than dispense/refund, or transfer_out naming it
--                        (a subset of NO_PROVENANCE's receipts)
--   pmin, pmax, part_key, last_disp_time, last_sec, min_expiry
--                        per-site parts of the per-code aggregates of stage codes
-- One grouping over every event of the city, keyed by (trace_code, site_id).
-- (Each aggregate costs about as much as the anchor query at 10M events: only what
-- the later stages read is here.)
WITH at_site AS (
  SELECT /*+ BROADCAST(pk, ck) */ s.trace_code, s.site_id,
         MIN(CASE WHEN s.event_type = 'dispense' THEN s.ev_sec END) AS disp_sec,
         SUM(CASE WHEN s.event_type IN ('dispense', 'refund') THEN 1 ELSE 0 END) AS n_dr,
         MAX(CASE WHEN s.event_type IN ('inbound', 'transfer_in') THEN 1 ELSE 0 END) AS received,
         MIN(CASE WHEN s.event_type IN (${provenance_types}) AND s.event_type NOT IN ('dispense', 'refund')
                  THEN s.ev_sec END) AS receipt_sec,
         MIN(pk.norm_key) AS pmin,
         MAX(pk.norm_key) AS pmax,
         MIN(ck.norm_key) AS part_key,
         MAX(CASE WHEN s.event_type = 'dispense' THEN s.event_time END) AS last_disp_time,
         MAX(s.ev_sec) AS last_sec,
         MIN(s.any_expiry) AS min_expiry
  FROM scan s
  LEFT JOIN keys pk ON pk.kind = 'product' AND pk.spelling = s.product_code
  LEFT JOIN keys ck ON ck.kind = 'part' AND ck.spelling = s.code_product
  GROUP BY s.trace_code, s.site_id
),
transferred_to AS (
  SELECT trace_code, counterparty AS site_id, MIN(ev_sec) AS transfer_sec
  FROM scan
  WHERE event_type = 'transfer_out' AND counterparty IS NOT NULL
  GROUP BY trace_code, counterparty
)
SELECT COALESCE(a.trace_code, t.trace_code) AS trace_code,
       COALESCE(a.site_id, t.site_id) AS site_id,
       a.disp_sec,
       COALESCE(a.n_dr, 0) AS n_dr,
       CASE WHEN t.trace_code IS NOT NULL THEN 1 ELSE a.received END AS received,
       CASE WHEN a.receipt_sec IS NULL THEN t.transfer_sec
            WHEN t.transfer_sec IS NULL OR a.receipt_sec <= t.transfer_sec THEN a.receipt_sec
            ELSE t.transfer_sec END AS receipt_sec,
       a.pmin, a.pmax, a.part_key, a.last_disp_time, a.last_sec, a.min_expiry
FROM at_site a
FULL OUTER JOIN transferred_to t ON t.trace_code = a.trace_code AND t.site_id = a.site_id
