// Neighbours: who a site, patient or prescriber is joined to through its boxes (`rxring serve --backend neo4j`).
// A movement is a box dispensed to a patient at one site and seen later at another.  Of a
// site: source_site / source_patient, where and to whom the boxes seen there were dispensed
// before; resurface_site, where boxes dispensed there turned up later.  Of a patient:
// dispensed_at, the sites that dispensed to it; prescribed_by, the prescribers of those
// dispenses; resurface_site, where its boxes turned up later.  Of a prescriber:
// prescribed_to, the patients dispensed to on its prescriptions; dispensed_at, their sites.
// Per relation, strongest first (boxes, then id): rows $offset to $offset + $limit, each
// with the relation's totals.  The embedded twin is rxring.results.actor_neighbours.
// Parameters: $kind — site, patient or prescriber (:param kind => 'site'); $key — its id
// (:param key => 'H001'); $limit — rows per relation (:param limit => 15); $offset — rows
// skipped (:param offset => 0); $relations — the relations wanted, null for all
// (:param relations => null).
// Returns: kind, id, relation, boxes, fund, first_time, last_time, total, total_boxes,
// total_fund, total_first, total_last.
CALL () {
  MATCH (here:Site {id: $key})<-[:AT]-(l:Event)-[:OF]->(b:Box)<-[:OF]-(d:Event {type: 'dispense'})-[:AT]->(other:Site)
  WHERE $kind = 'site' AND ($relations IS NULL OR 'source_site' IN $relations) AND other <> here
    AND l.time > d.time AND EXISTS { (d)-[:TO]->(:Patient) }
  RETURN 'site' AS kind, other.id AS id, 'source_site' AS relation, b, d.fund_amount AS fund, l.time AS time
  UNION ALL
  MATCH (here:Site {id: $key})<-[:AT]-(l:Event)-[:OF]->(b:Box)<-[:OF]-(d:Event {type: 'dispense'})-[:TO]->(other:Patient)
  WHERE $kind = 'site' AND ($relations IS NULL OR 'source_patient' IN $relations) AND l.time > d.time
    AND NOT EXISTS { (d)-[:AT]->(here) }
  RETURN 'patient' AS kind, other.id AS id, 'source_patient' AS relation, b, d.fund_amount AS fund, l.time AS time
  UNION ALL
  MATCH (here:Site {id: $key})<-[:AT]-(d:Event {type: 'dispense'})-[:OF]->(b:Box)<-[:OF]-(l:Event)-[:AT]->(other:Site)
  WHERE $kind = 'site' AND ($relations IS NULL OR 'resurface_site' IN $relations) AND other <> here
    AND l.time > d.time AND EXISTS { (d)-[:TO]->(:Patient) }
  RETURN 'site' AS kind, other.id AS id, 'resurface_site' AS relation, b, d.fund_amount AS fund, l.time AS time
  UNION ALL
  MATCH (:Patient {id: $key})<-[:TO]-(d:Event {type: 'dispense'})-[:AT]->(other:Site), (d)-[:OF]->(b:Box)
  WHERE $kind = 'patient' AND ($relations IS NULL OR 'dispensed_at' IN $relations)
  RETURN 'site' AS kind, other.id AS id, 'dispensed_at' AS relation, b, d.fund_amount AS fund, d.time AS time
  UNION ALL
  MATCH (:Patient {id: $key})<-[:TO]-(d:Event {type: 'dispense'})-[:BY]->(other:Prescriber), (d)-[:OF]->(b:Box)
  WHERE $kind = 'patient' AND ($relations IS NULL OR 'prescribed_by' IN $relations)
  RETURN 'prescriber' AS kind, other.id AS id, 'prescribed_by' AS relation, b, d.fund_amount AS fund, d.time AS time
  UNION ALL
  MATCH (:Patient {id: $key})<-[:TO]-(d:Event {type: 'dispense'})-[:OF]->(b:Box)<-[:OF]-(l:Event)-[:AT]->(other:Site),
        (d)-[:AT]->(src:Site)
  WHERE $kind = 'patient' AND ($relations IS NULL OR 'resurface_site' IN $relations) AND other <> src
    AND l.time > d.time
  RETURN 'site' AS kind, other.id AS id, 'resurface_site' AS relation, b, d.fund_amount AS fund, l.time AS time
  UNION ALL
  MATCH (:Prescriber {id: $key})<-[:BY]-(d:Event {type: 'dispense'})-[:TO]->(other:Patient), (d)-[:OF]->(b:Box)
  WHERE $kind = 'prescriber' AND ($relations IS NULL OR 'prescribed_to' IN $relations)
  RETURN 'patient' AS kind, other.id AS id, 'prescribed_to' AS relation, b, d.fund_amount AS fund, d.time AS time
  UNION ALL
  MATCH (:Prescriber {id: $key})<-[:BY]-(d:Event {type: 'dispense'})-[:AT]->(other:Site), (d)-[:OF]->(b:Box)
  WHERE $kind = 'prescriber' AND ($relations IS NULL OR 'dispensed_at' IN $relations)
  RETURN 'site' AS kind, other.id AS id, 'dispensed_at' AS relation, b, d.fund_amount AS fund, d.time AS time
}
WITH kind, id, relation, count(DISTINCT b) AS boxes, CASE WHEN count(fund) > 0 THEN sum(fund) END AS fund,
     min(time) AS first_time, max(time) AS last_time
ORDER BY relation, boxes DESC, id
WITH kind, relation, collect({id: id, boxes: boxes, fund: fund, first_time: first_time, last_time: last_time}) AS rows
UNWIND rows[$offset..$offset + $limit] AS row
RETURN kind, row.id AS id, relation, row.boxes AS boxes, row.fund AS fund, row.first_time AS first_time,
       row.last_time AS last_time, size(rows) AS total, reduce(n = 0, r IN rows | n + r.boxes) AS total_boxes,
       CASE WHEN any(r IN rows WHERE r.fund IS NOT NULL)
            THEN reduce(n = 0.0, r IN rows | n + coalesce(r.fund, 0.0)) END AS total_fund,
       reduce(t = rows[0].first_time, r IN rows | CASE WHEN r.first_time < t THEN r.first_time ELSE t END) AS total_first,
       reduce(t = rows[0].last_time, r IN rows | CASE WHEN r.last_time > t THEN r.last_time ELSE t END) AS total_last;
