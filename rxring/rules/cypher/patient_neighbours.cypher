// Patient neighbours: who a patient is joined to through its boxes (`rxring serve --backend neo4j`, expand).
// dispensed_at: the sites that dispensed to $patient; prescribed_by: the prescribers of those
// dispenses; resurface_site: where boxes dispensed to $patient turned up later at another
// site.  Per relation, strongest first (boxes, then id): rows $offset to $offset + $limit,
// each with the relation's totals.  The embedded twin is rxring.results.actor_neighbours.
// Parameters: $patient — a patient id (:param patient => 'PSN1234567890'); $limit — rows
// per relation (:param limit => 15); $offset — rows skipped (:param offset => 0);
// $relations — the relations wanted, null for all (:param relations => null).
// Returns: kind, id, relation, boxes, fund, first_time, last_time, total, total_boxes,
// total_fund, total_first, total_last.
CALL () {
  MATCH (:Patient {id: $patient})<-[:TO]-(d:Event {type: 'dispense'})-[:AT]->(other:Site), (d)-[:OF]->(b:Box)
  WHERE $relations IS NULL OR 'dispensed_at' IN $relations
  RETURN 'site' AS kind, other.id AS id, 'dispensed_at' AS relation, b, d.fund_amount AS fund, d.time AS time
  UNION ALL
  MATCH (:Patient {id: $patient})<-[:TO]-(d:Event {type: 'dispense'})-[:BY]->(other:Prescriber), (d)-[:OF]->(b:Box)
  WHERE $relations IS NULL OR 'prescribed_by' IN $relations
  RETURN 'prescriber' AS kind, other.id AS id, 'prescribed_by' AS relation, b, d.fund_amount AS fund, d.time AS time
  UNION ALL
  MATCH (:Patient {id: $patient})<-[:TO]-(d:Event {type: 'dispense'})-[:OF]->(b:Box)<-[:OF]-(l:Event)-[:AT]->(other:Site),
        (d)-[:AT]->(src:Site)
  WHERE ($relations IS NULL OR 'resurface_site' IN $relations) AND other <> src AND l.time > d.time
  RETURN 'site' AS kind, other.id AS id, 'resurface_site' AS relation, b, d.fund_amount AS fund, l.time AS time
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
