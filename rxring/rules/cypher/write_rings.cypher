// Write rings: the rings of an analysis as properties on the nodes of DESIGN §4 (no new
// labels or relationship types), so that rings.cypher, Browser and Bloom see them.  On
// each member (:Site, :Patient, :Prescriber): rings, ring_ranks, ring_scores, ring_boxes,
// ring_funds (aligned lists, by rank) and ring_roles ('R001:source_patient', ...); on each
// flagged (:Box): findings (rule ids) and rings.  One statement per label, run in batches:
// $sites, $patients, $prescribers — rows {id, rings, ranks, scores, boxes, funds, roles};
// $boxes — rows {code, rules, rings}.  Run clear_rings.cypher first.
UNWIND $sites AS r
MATCH (n:Site {id: r.id})
SET n.rings = r.rings, n.ring_ranks = r.ranks, n.ring_scores = r.scores, n.ring_boxes = r.boxes,
    n.ring_funds = r.funds, n.ring_roles = r.roles;
UNWIND $patients AS r
MATCH (n:Patient {id: r.id})
SET n.rings = r.rings, n.ring_ranks = r.ranks, n.ring_scores = r.scores, n.ring_boxes = r.boxes,
    n.ring_funds = r.funds, n.ring_roles = r.roles;
UNWIND $prescribers AS r
MATCH (n:Prescriber {id: r.id})
SET n.rings = r.rings, n.ring_ranks = r.ranks, n.ring_scores = r.scores, n.ring_boxes = r.boxes,
    n.ring_funds = r.funds, n.ring_roles = r.roles;
UNWIND $boxes AS r
MATCH (b:Box {code: r.code})
SET b.findings = r.rules, b.rings = r.rings;
