-- NO_PROVENANCE (无入库来源): a site dispenses a code it never received (no inbound
-- or transfer_in before), judged only for sites that report inbound scans at all.
--
-- Precisely: for each (code, site), the site's first net dispense of the code is
-- judged when
--   * the site reports inbound: of the distinct codes it net-dispenses, at least
--     ${provenance_min_coverage} (and at least one) have an inbound or transfer_in
--     record at the site;
--   * the site uploaded an opening stock-take (an inventory scan within
--     ${opening_stocktake_seconds} s of its first event: its old stock is known), or
--     the dispense is at least ${provenance_grace_seconds} s after the site's first
--     event (without an opening stock-take, stock received before the data window
--     has no record at all and is sold in the window's first weeks);
-- and it is a finding when no event of type ${provenance_types} of that code at
-- that site (double scans aside), and no transfer_out of it from another site
-- naming this site as counterparty, and no inventory scan of it at that site
-- within ${opening_stocktake_seconds} s of the site's first event (the opening
-- stock-take: the 3501 盘存 a site uploads when it starts reporting lists the stock
-- it already held), is at or before it.  (The
-- transfer_out rule covers hospital networks that record only the sending side of
-- a transfer.  Later stock-takes do not count: laundered packs sit on the shelf
-- and are counted like any other.)  One finding per (code, site);
-- evidence: the site's net dispenses of the code before any such receipt
-- ('laundering'; the buyers are not ring members).  Money: those dispenses.
-- How: the per-site figures (first event, opening stock-take, coverage) need every
-- code of the city.  Stage sites holds them for the codes with one dispense/refund
-- scan (a lone dispense is net); the codes with two or more such scans are all
-- candidates (stage cand), whose net dispenses are in netd and whose receipts are
-- in ev.  Only candidate codes can be reported, so the rest reads ev, dr and netd,
-- which hold every event of those codes.
WITH site_first AS (  -- grace 0 for sites whose first days include an inventory (3501 盘存) upload
  SELECT site_id, first_sec,
         CASE WHEN first_inventory_sec < first_sec + ${opening_stocktake_seconds} THEN 0.0
              ELSE ${provenance_grace_seconds} END AS grace_sec
  FROM sites
),
first_dispense AS (
  SELECT trace_code, site_id, MIN(ev_sec) AS ev_sec FROM netd GROUP BY trace_code, site_id
),
transfers_to AS (  -- a transfer_out naming this site as counterparty: it received the pack
  SELECT trace_code, counterparty AS site_id, ev_sec
  FROM ev WHERE event_type = 'transfer_out' AND counterparty IS NOT NULL
),
received AS (
  SELECT DISTINCT trace_code, site_id FROM ev WHERE event_type IN ('inbound', 'transfer_in')
  UNION
  SELECT DISTINCT trace_code, site_id FROM transfers_to
),
multi_scan_codes AS (  -- codes with two or more dispense/refund scans
  SELECT trace_code FROM dr GROUP BY trace_code HAVING COUNT(*) >= 2
),
multi_coverage AS (
  SELECT f.site_id, COUNT(*) AS n_codes,
         SUM(CASE WHEN r.trace_code IS NOT NULL THEN 1 ELSE 0 END) AS n_received
  FROM first_dispense f
  JOIN multi_scan_codes m ON m.trace_code = f.trace_code
  LEFT JOIN received r ON r.trace_code = f.trace_code AND r.site_id = f.site_id
  GROUP BY f.site_id
),
coverage AS (
  SELECT /*+ BROADCAST(m) */ s.site_id,
         s.single_codes + COALESCE(m.n_codes, 0) AS n_codes,
         s.single_received + COALESCE(m.n_received, 0) AS n_received
  FROM sites s LEFT JOIN multi_coverage m ON m.site_id = s.site_id
),
provenance AS (
  SELECT trace_code, site_id, MIN(prov_sec) AS prov_sec
  FROM (SELECT trace_code, site_id, ev_sec AS prov_sec
        FROM ev
        WHERE event_type IN (${provenance_types}) AND event_type NOT IN ('dispense', 'refund')
        UNION ALL
        SELECT trace_code, site_id, ev_sec AS prov_sec
        FROM dr
        WHERE event_type IN (${provenance_types}) AND NOT is_rescan
        UNION ALL
        SELECT trace_code, site_id, ev_sec AS prov_sec FROM transfers_to
        UNION ALL
        SELECT /*+ BROADCAST(sf) */ e.trace_code, e.site_id, e.ev_sec AS prov_sec     -- the opening stock-take
        FROM ev e JOIN site_first sf ON sf.site_id = e.site_id
        WHERE e.event_type = 'inventory' AND e.ev_sec < sf.first_sec + ${opening_stocktake_seconds}) receipts
  GROUP BY trace_code, site_id
),
flagged AS (
  SELECT /*+ BROADCAST(c, sf) */ f.trace_code, f.site_id, p.prov_sec, c.n_codes, c.n_received
  FROM first_dispense f
  JOIN coverage c ON c.site_id = f.site_id
  JOIN site_first sf ON sf.site_id = f.site_id
  LEFT JOIN provenance p ON p.trace_code = f.trace_code AND p.site_id = f.site_id
  WHERE c.n_received > 0
    AND c.n_received >= ${provenance_min_coverage} * c.n_codes
    AND f.ev_sec >= sf.first_sec + sf.grace_sec
    AND (p.prov_sec IS NULL OR p.prov_sec > f.ev_sec)
)
SELECT 'NO_PROVENANCE' AS rule, n.trace_code, n.site_id AS disc, n.event_id, 'laundering' AS role,
       TRUE AS money,
       CAST(f.n_received AS STRING) || '/' || CAST(f.n_codes AS STRING) AS note
FROM netd n
JOIN flagged f ON f.trace_code = n.trace_code AND f.site_id = n.site_id
WHERE f.prov_sec IS NULL OR n.ev_sec < f.prov_sec
