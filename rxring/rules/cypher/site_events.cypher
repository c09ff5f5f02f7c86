// Site events: one site's latest events, in time order (`rxring site ID --backend neo4j`).
// The latest $limit events at the site, with the box, patient and prescriber of each.
// rescan and net are the marks of prepare.cypher (null before an analysis).
// Parameters: $site — a site id (:param site => 'H001'); $limit — how many events
// (:param limit => 50).
// Returns: event_id, event_type, event_time, trace_code, site_id, patient_id,
// prescriber_id, settlement_id, product_code, batch, expiry, quantity, split_sale,
// fund_amount, total_amount, counterparty, source_file, source_line, product_name,
// pharmacist_id, rescan, net.
MATCH (site:Site {id: $site})
CALL (site) {
  MATCH (site)<-[:AT]-(e:Event)
  RETURN e ORDER BY e.time DESC, e.id DESC LIMIT $limit
}
MATCH (e)-[:OF]->(b:Box)
WITH e, b.code AS code
ORDER BY e.time, e.id
OPTIONAL MATCH (e)-[:AT]->(s:Site)
OPTIONAL MATCH (e)-[:TO]->(p:Patient)
OPTIONAL MATCH (e)-[:BY]->(d:Prescriber)
RETURN e.id AS event_id, e.type AS event_type, e.time AS event_time, code AS trace_code, s.id AS site_id,
       p.id AS patient_id, d.id AS prescriber_id, e.settlement_id AS settlement_id,
       e.product_code AS product_code, e.batch AS batch, e.expiry AS expiry, e.quantity AS quantity,
       e.split_sale AS split_sale, e.fund_amount AS fund_amount, e.total_amount AS total_amount,
       e.counterparty AS counterparty, e.source_file AS source_file, e.source_line AS source_line,
       e.product_name AS product_name, e.pharmacist_id AS pharmacist_id, e.rescan AS rescan, e.net AS net;
