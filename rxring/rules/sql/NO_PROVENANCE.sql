-- NO_PROVENANCE (无入库来源): a site dispenses a code it never received (no receipt at or
-- before the sale), judged only at sites that record receipts for a share of the codes
-- they sell. What counts as a receipt and how a site's coverage is measured are
-- defined once, in rxring.rules.registry.NO_PROVENANCE_TERMS; this query computes
-- exactly those.
--
-- Precisely: for each (code, site), the site's first net dispense of the code is
-- judged when
--   * the site reports inbound: of the distinct codes it net-dispenses, at least
--     ${provenance_min_coverage} (and at least one) have an inbound or transfer_in
--     record at the site, or a transfer_out elsewhere naming the site as counterparty;
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
inbound_at AS (  -- an inbound or transfer_in of the code at the site
  SELECT trace_code, site_id FROM ev WHERE event_type IN ('inbound', 'transfer_in') GROUP BY trace_code, site_id
),
transfers_to AS (  -- a transfer_out naming this site as counterparty: it received the pack
  SELECT trace_code, counterparty AS site_id, MIN(ev_sec) AS prov_sec
  FROM ev WHERE event_type = 'transfer_out' AND counterparty IS NOT NULL
  GROUP BY trace_code, counterparty
),
multi_scan_codes AS (  -- codes with two or more dispense/refund scans
  SELECT trace_code FROM dr GROUP BY trace_code HAVING COUNT(*) >= 2
),
multi_coverage AS (
  SELECT f.site_id, COUNT(*) AS n_codes,
         SUM(CASE WHEN r.trace_code IS NOT NULL OR t.trace_code IS NOT NULL THEN 1 ELSE 0 END) AS n_received
  FROM first_dispense f
  JOIN multi_scan_codes m ON m.trace_code = f.trace_code
  LEFT JOIN inbound_at r ON r.trace_code = f.trace_code AND r.site_id = f.site_id
  LEFT JOIN transfers_to t ON t.trace_code = f.trace_code AND t.site_id = f.site_id
  GROUP BY f.site_id
),
coverage AS (
  SELECT /*+ BROADCAST(m) */ s.site_id,
         s.single_codes + COALESCE(m.n_codes, 0) AS n_codes,
         s.single_received + COALESCE(m.n_received, 0) AS n_received
  FROM sites s LEFT JOIN multi_coverage m ON m.site_id = s.site_id
),
own_receipts AS (  -- receipts at the site itself: provenance types (double scans aside) and the opening stock-take
  SELECT /*+ BROADCAST(sf) */ e.trace_code, e.site_id, MIN(e.ev_sec) AS prov_sec
  FROM ev e
  LEFT JOIN site_first sf ON sf.site_id = e.site_id
  LEFT JOIN dr d ON d.trace_code = e.trace_code AND d.event_id = e.event_id
  WHERE (e.event_type IN (${provenance_types}) AND (d.event_id IS NULL OR NOT d.is_rescan))
     OR (e.event_type = 'inventory' AND e.ev_sec < sf.first_sec + ${opening_stocktake_seconds})
  GROUP BY e.trace_code, e.site_id
),
-- The first receipt of a (code, site): the earlier of own_receipts and transfers_to.  Two
-- LEFT JOINs, not a UNION: each side stays partitioned by trace code (one shuffle on Spark).
flagged AS (
  SELECT trace_code, site_id, prov_sec, n_codes, n_received
  FROM (SELECT /*+ BROADCAST(c, sf) */ f.trace_code, f.site_id, f.ev_sec, c.n_codes, c.n_received,
               CASE WHEN t.prov_sec IS NULL OR o.prov_sec <= t.prov_sec THEN o.prov_sec
                    ELSE t.prov_sec END AS prov_sec
        FROM first_dispense f
        JOIN coverage c ON c.site_id = f.site_id
        JOIN site_first sf ON sf.site_id = f.site_id
        LEFT JOIN own_receipts o ON o.trace_code = f.trace_code AND o.site_id = f.site_id
        LEFT JOIN transfers_to t ON t.trace_code = f.trace_code AND t.site_id = f.site_id
        WHERE c.n_received > 0
          AND c.n_received >= ${provenance_min_coverage} * c.n_codes
          AND f.ev_sec >= sf.first_sec + sf.grace_sec) judged
  WHERE prov_sec IS NULL OR prov_sec > ev_sec
)
SELECT 'NO_PROVENANCE' AS rule, n.trace_code, n.site_id AS disc, n.event_id, 'laundering' AS role,
       TRUE AS money,
       CAST(f.n_received AS STRING) || '/' || CAST(f.n_codes AS STRING) AS note
FROM netd n
JOIN flagged f ON f.trace_code = n.trace_code AND f.site_id = n.site_id
WHERE f.prov_sec IS NULL OR n.ev_sec < f.prov_sec
