// NO_PROVENANCE (无入库来源): a site dispenses a code it never received (no receipt at or
// before the sale), judged only at sites that record receipts for a share of the codes
// they sell. What counts as a receipt and how a site's coverage is measured are
// defined once, in rxring.rules.registry.NO_PROVENANCE_TERMS; this query computes
// exactly those.
//
// Precisely: for each (code, site), the site's first net dispense of the code is
// judged when
//   * the site reports inbound: of the distinct codes it net-dispenses, at least
//     $provenance_min_coverage (and at least one) have an inbound or transfer_in
//     record at the site, or a transfer_out elsewhere naming the site as counterparty;
//   * the site uploaded an opening stock-take (an inventory scan within
//     $opening_stocktake_days days of its first event: its old stock is known), or
//     the dispense is at least $provenance_grace_days days after the site's first
//     event (without an opening stock-take, stock received before the data window
//     has no record at all and is sold in the window's first weeks);
// and it is a finding when no event of a type in $provenance_types of that code at
// that site (double scans aside), and no transfer_out of it naming this site as
// counterparty, and no inventory scan of it at that site within
// $opening_stocktake_days days of the site's first event (the opening stock-take: the
// 3501 盘存 a site uploads when it starts reporting lists the stock it already held),
// is at or before it.  One finding per (code, site);
// evidence: the site's net dispenses of the code before any such receipt
// ('laundering'; the buyers are not ring members).  Money: those dispenses.
// Parameters: $provenance_min_coverage, $provenance_grace_days, $provenance_types,
// $opening_stocktake_days (AnalysisOptions); run prepare.cypher first.
// Returns evidence rows: rule, trace_code, disc, event_id, role, money, note.
MATCH (s:Site)<-[:AT]-(any:Event)
WITH s, min(any.time) AS site_first
MATCH (s)<-[:AT]-(sale:Event {net: true})-[:OF]->(b:Box)
WITH s, site_first, b, min(sale.time) AS first_sale
WITH s, site_first, b, first_sale,
     EXISTS { MATCH (b)<-[:OF]-(r:Event)-[:AT]->(s) WHERE r.type IN ['inbound', 'transfer_in'] }
     OR EXISTS { MATCH (b)<-[:OF]-(t:Event {type: 'transfer_out'}) WHERE t.counterparty = s.id } AS received
WITH s, site_first, collect({box: b, first_sale: first_sale, received: received}) AS judged
WITH s, site_first, judged, size(judged) AS n_codes, size([j IN judged WHERE j.received]) AS n_received
WHERE n_received > 0 AND n_received >= $provenance_min_coverage * n_codes
WITH s, site_first + duration({seconds: $opening_stocktake_days * 86400.0}) AS stocktake_end,
     site_first, judged, n_codes, n_received
WITH s, stocktake_end, judged, n_codes, n_received,
     CASE WHEN EXISTS { MATCH (s)<-[:AT]-(i:Event {type: 'inventory'}) WHERE i.time < stocktake_end }
          THEN site_first
          ELSE site_first + duration({seconds: $provenance_grace_days * 86400.0}) END AS judged_from
UNWIND judged AS j
WITH s, stocktake_end, j.box AS b, j.first_sale AS first_sale, n_codes, n_received, judged_from
WHERE first_sale >= judged_from
CALL (s, b, stocktake_end) {
  // the earliest sign that the site held the pack
  OPTIONAL MATCH (b)<-[:OF]-(r:Event)-[:AT]->(s)
  WHERE (r.type IN $provenance_types AND NOT r.rescan) OR (r.type = 'inventory' AND r.time < stocktake_end)
  WITH b, s, min(r.time) AS here
  OPTIONAL MATCH (b)<-[:OF]-(t:Event {type: 'transfer_out'})
  WHERE t.counterparty = s.id
  WITH here, min(t.time) AS sent
  RETURN CASE WHEN here IS NULL THEN sent WHEN sent IS NULL OR here <= sent THEN here ELSE sent END AS received_at
}
WITH s, b, first_sale, n_codes, n_received, received_at
WHERE received_at IS NULL OR received_at > first_sale
MATCH (b)<-[:OF]-(sale:Event {net: true})-[:AT]->(s)
WHERE received_at IS NULL OR sale.time < received_at
RETURN 'NO_PROVENANCE' AS rule, b.code AS trace_code, s.id AS disc, sale.id AS event_id, 'laundering' AS role,
       true AS money, toString(n_received) + '/' + toString(n_codes) AS note
