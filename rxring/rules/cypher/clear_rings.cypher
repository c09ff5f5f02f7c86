// Clear rings: remove the ring marks an earlier `rxring analyze --backend neo4j` wrote
// (see rings.cypher), so that members of rings that no longer exist lose them.  Run
// before write_rings.cypher; it writes, so `rxring neo4j run` refuses it.
MATCH (n:Site) WHERE n.rings IS NOT NULL
CALL (n) { REMOVE n.rings, n.ring_ranks, n.ring_scores, n.ring_boxes, n.ring_funds, n.ring_roles }
IN TRANSACTIONS OF 10000 ROWS;
MATCH (n:Patient) WHERE n.rings IS NOT NULL
CALL (n) { REMOVE n.rings, n.ring_ranks, n.ring_scores, n.ring_boxes, n.ring_funds, n.ring_roles }
IN TRANSACTIONS OF 10000 ROWS;
MATCH (n:Prescriber) WHERE n.rings IS NOT NULL
CALL (n) { REMOVE n.rings, n.ring_ranks, n.ring_scores, n.ring_boxes, n.ring_funds, n.ring_roles }
IN TRANSACTIONS OF 10000 ROWS;
MATCH (b:Box) WHERE b.findings IS NOT NULL
CALL (b) { REMOVE b.findings, b.rings } IN TRANSACTIONS OF 10000 ROWS;
