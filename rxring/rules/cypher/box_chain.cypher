// Box chain: one box's chain of custody, event by event (`rxring box CODE --backend neo4j`).
// From the box's first event along (:Event)-[:NEXT]->(:Event), with the site, patient and
// prescriber of each event.  rescan and net are the marks of prepare.cypher (null before
// an analysis): a double scan, and a dispense neither re-scanned nor refunded.
// Parameters: $code — a canonical trace code (:param code => '81234560000000000011').
// Returns: event_id, event_type, event_time, trace_code, site_id, patient_id,
// prescriber_id, settlement_id, product_code, batch, expiry, quantity, split_sale,
// fund_amount, total_amount, counterparty, source_file, source_line, product_name,
// pharmacist_id, rescan, net.
MATCH (b:Box {code: $code})<-[:OF]-(first:Event)
WHERE NOT EXISTS { (:Event)-[:NEXT]->(first) }
MATCH chain = (first)-[:NEXT*0..]->(last:Event)
WHERE NOT EXISTS { (last)-[:NEXT]->(:Event) }
WITH b.code AS code, nodes(chain) AS events
UNWIND range(0, size(events) - 1) AS position
WITH code, events[position] AS e, position
ORDER BY position
OPTIONAL MATCH (e)-[:AT]->(s:Site)
OPTIONAL MATCH (e)-[:TO]->(p:Patient)
OPTIONAL MATCH (e)-[:BY]->(d:Prescriber)
RETURN e.id AS event_id, e.type AS event_type, e.time AS event_time, code AS trace_code, s.id AS site_id,
       p.id AS patient_id, d.id AS prescriber_id, e.settlement_id AS settlement_id,
       e.product_code AS product_code, e.batch AS batch, e.expiry AS expiry, e.quantity AS quantity,
       e.split_sale AS split_sale, e.fund_amount AS fund_amount, e.total_amount AS total_amount,
       e.counterparty AS counterparty, e.source_file AS source_file, e.source_line AS source_line,
       e.product_name AS product_name, e.pharmacist_id AS pharmacist_id, e.rescan AS rescan, e.net AS net;
