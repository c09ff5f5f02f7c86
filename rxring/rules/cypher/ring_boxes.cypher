// Ring boxes: the chain of custody of every flagged box of one ring, event by event —
// where each pack was received, dispensed to whom, and where it resurfaced.
// Uses the marks `rxring analyze --backend neo4j` writes back (b.rings, b.findings).
// Parameters: $ring — a ring id such as 'R001' (:param ring => 'R001').
MATCH (b:Box)
WHERE $ring IN b.rings
MATCH (b)<-[:OF]-(first:Event)
WHERE NOT EXISTS { (:Event)-[:NEXT]->(first) }
MATCH chain = (first)-[:NEXT*0..]->(last:Event)
WHERE NOT EXISTS { (last)-[:NEXT]->(:Event) }
UNWIND range(0, size(nodes(chain)) - 1) AS step
WITH b, nodes(chain)[step] AS e, step
MATCH (e)-[:AT]->(s:Site)
OPTIONAL MATCH (e)-[:TO]->(p:Patient)
RETURN b.code AS trace_code, b.findings AS rules, step + 1 AS step, e.time AS time, e.type AS type,
       s.id AS site, p.id AS patient, e.fund_amount AS fund_amount, e.source_file AS source_file,
       e.source_line AS source_line
ORDER BY trace_code, step;
