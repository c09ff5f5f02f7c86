// RESURFACE (回流): after a net dispense to a patient, the same code appears in a later
// event at another site (inbound, dispense, inventory), or is dispensed again at the
// same site to someone else.
//
// Precisely: the source is the code's first pack dispense (e.pack_order = 1, written
// by prepare.cypher: a net, unrefunded dispense).  Resurfacing events are the code's
// events strictly later than the source's first scan, without double scans, that are
//   * at another site (any event type: inbound, dispense, refund, transfer,
//     inventory, adjust, purchase return), or
//   * a net dispense at the source site belonging to another pack dispense, to
//     someone else: a patient who is not a source patient (an unknown patient
//     counts as someone else when a source patient is known).
// One finding per trace code.  Evidence: the source dispense(s) ('source', or
// 'source_split' for split sales: their buyers are not source patients) and the
// resurfacing events ('laundering'; their site is the laundering site).  Money: the
// dispenses among them.
// Parameters: none (run prepare.cypher first).
// Returns evidence rows: rule, trace_code, disc, event_id, role, money, note.
MATCH (b:Box)<-[:OF]-(src:Event {pack_order: 1})-[:AT]->(source_site:Site)
OPTIONAL MATCH (src)-[:TO]->(p:Patient)
WITH b, source_site, src.pack AS source_pack, src.pack_time AS source_time,
     collect(DISTINCT [src.id, CASE WHEN coalesce(src.split_sale, false) THEN 'source_split' ELSE 'source' END])
       AS source_rows,
     collect(DISTINCT p.id) AS source_patients
MATCH (b)<-[:OF]-(e:Event)-[:AT]->(site:Site)
WHERE e.time > source_time AND NOT e.rescan
OPTIONAL MATCH (e)-[:TO]->(buyer:Patient)
WITH b, source_rows, source_site, source_pack, source_patients, e, site, buyer
WHERE site <> source_site
   OR (e.net AND e.pack <> source_pack
       AND (buyer IS NULL OR NOT buyer.id IN source_patients)
       AND (buyer IS NOT NULL OR size(source_patients) > 0))
WITH b, source_rows, collect(DISTINCT e.id) AS resurfaced_ids
UNWIND source_rows + [id IN resurfaced_ids | [id, 'laundering']] AS evidence
RETURN 'RESURFACE' AS rule, b.code AS trace_code, '' AS disc, evidence[0] AS event_id, evidence[1] AS role,
       true AS money, '' AS note
