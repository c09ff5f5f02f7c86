// Rings: the resale rings of the last `rxring analyze --backend neo4j`, best first, with
// their members by role.  The rules (the other files) find suspicious box movements;
// rxring joins their actors into a resale graph, splits it into rings with the same
// community detection as the embedded backend, and writes the rings back onto their
// members — on (:Site), (:Patient) and (:Prescriber): rings, ring_ranks, ring_scores,
// ring_boxes, ring_funds (aligned lists, one entry per ring the member belongs to) and
// ring_roles ('R001:source_patient', ...); on each flagged (:Box): findings (rule ids) and rings.
// Parameters: $limit — how many rings to return (:param limit => 20).
MATCH (n)
WHERE (n:Site OR n:Patient OR n:Prescriber) AND n.rings IS NOT NULL
UNWIND range(0, size(n.rings) - 1) AS k
WITH n, n.rings[k] AS ring, n.ring_ranks[k] AS rank, n.ring_scores[k] AS score, n.ring_boxes[k] AS boxes,
     n.ring_funds[k] AS fund
WITH ring, rank, score, boxes, fund, n.id AS id,
     [r IN n.ring_roles WHERE r STARTS WITH ring + ':' | substring(r, size(ring) + 1)] AS roles
WITH ring, min(rank) AS rank, max(score) AS score, max(boxes) AS boxes, max(fund) AS fund_at_risk,
     collect({id: id, roles: roles}) AS members
RETURN rank, ring, score, boxes, fund_at_risk,
       [m IN members WHERE 'source_patient' IN m.roles | m.id] AS source_patients,
       [m IN members WHERE 'prescriber' IN m.roles | m.id] AS prescribers,
       [m IN members WHERE 'source_site' IN m.roles | m.id] AS source_sites,
       [m IN members WHERE 'laundering_site' IN m.roles | m.id] AS laundering_sites
ORDER BY rank
LIMIT $limit;
