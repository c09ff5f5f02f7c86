// Patient events: what one patient was dispensed or refunded (`rxring patient ID --backend neo4j`).
// The first $limit events linked (:Event)-[:TO]->(:Patient), in time order, with the box,
// site and prescriber of each.  rescan and net are the marks of prepare.cypher (null
// before an analysis).
// Parameters: $patient — a patient id (:param patient => 'PSN1234567890'); $limit — how
// many events (:param limit => 50).
// Returns: event_id, event_type, event_time, trace_code, site_id, patient_id,
// prescriber_id, settlement_id, product_code, batch, expiry, quantity, split_sale,
// fund_amount, total_amount, counterparty, source_file, source_line, product_name,
// pharmacist_id, rescan, net.
MATCH (:Patient {id: $patient})<-[:TO]-(e:Event)-[:OF]->(b:Box)
WITH e, b.code AS code
ORDER BY e.time, e.id
LIMIT $limit
OPTIONAL MATCH (e)-[:AT]->(s:Site)
OPTIONAL MATCH (e)-[:TO]->(p:Patient)
OPTIONAL MATCH (e)-[:BY]->(d:Prescriber)
RETURN e.id AS event_id, e.type AS event_type, e.time AS event_time, code AS trace_code, s.id AS site_id,
       p.id AS patient_id, d.id AS prescriber_id, e.settlement_id AS settlement_id,
       e.product_code AS product_code, e.batch AS batch, e.expiry AS expiry, e.quantity AS quantity,
       e.split_sale AS split_sale, e.fund_amount AS fund_amount, e.total_amount AS total_amount,
       e.counterparty AS counterparty, e.source_file AS source_file, e.source_line AS source_line,
       e.product_name AS product_name, e.pharmacist_id AS pharmacist_id, e.rescan AS rescan, e.net AS net;
