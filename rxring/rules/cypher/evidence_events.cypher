// Evidence events: the events the rules' evidence rows name, with their site, patient,
// prescriber and money (the join every backend makes before findings are assembled).
// Parameters: $ids — event ids (:param ids => ['a.jsonl:12']).
UNWIND $ids AS id
MATCH (e:Event {id: id})-[:AT]->(s:Site)
OPTIONAL MATCH (e)-[:TO]->(p:Patient)
OPTIONAL MATCH (e)-[:BY]->(d:Prescriber)
RETURN e.id AS event_id, e.type AS event_type, e.time AS event_time, s.id AS site_id,
       p.id AS patient_id, d.id AS prescriber_id, e.product_norm AS product_norm,
       e.fund_money AS fund_money, e.total_money AS total_money;
