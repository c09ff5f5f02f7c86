// Prescriber neighbours: who a prescriber is joined to through the dispenses of its prescriptions
// (`rxring serve --backend neo4j`, expand).  prescribed_to: the patients dispensed to on its
// prescriptions; dispensed_at: the sites that dispensed them.  Per relation, strongest first
// (boxes, then id): rows $offset to $offset + $limit, each with the relation's totals.  The
// embedded twin is rxring.results.actor_neighbours.
// Parameters: $prescriber — a prescriber id (:param prescriber => 'DOC1'); $limit — rows per
// relation (:param limit => 15); $offset — rows skipped (:param offset => 0); $relations —
// the relations wanted, null for all (:param relations => null).
// Returns: kind, id, relation, boxes, fund, first_time, last_time, total, total_boxes,
// total_fund, total_first, total_last.
CALL () {
  MATCH (:Prescriber {id: $prescriber})<-[:BY]-(d:Event {type: 'dispense'})-[:TO]->(other:Patient), (d)-[:OF]->(b:Box)
  WHERE $relations IS NULL OR 'prescribed_to' IN $relations
  RETURN 'patient' AS kind, other.id AS id, 'prescribed_to' AS relation, b, d.fund_amount AS fund, d.time AS time
  UNION ALL
  MATCH (:Prescriber {id: $prescriber})<-[:BY]-(d:Event {type: 'dispense'})-[:AT]->(other:Site), (d)-[:OF]->(b:Box)
  WHERE $relations IS NULL OR 'dispensed_at' IN $relations
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
