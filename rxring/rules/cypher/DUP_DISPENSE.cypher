// DUP_DISPENSE (同一追溯码重复销售): a code has more than one net dispense (dispenses minus
// refunds); split sales of one code at one site whose summed quantity stays within the
// pack's units are not a finding.
//
// Precisely: one finding per trace code with two or more pack dispenses (e.pack,
// written by prepare.cypher: net dispenses after dropping double scans and refunded
// sales, split sales grouped by pack units).  Evidence: every net dispense of the
// code; the first pack dispense is the 'source' (or 'source_split' when it is a
// split-sale group: the site is the source site, but buyers of a few tablets never
// held the pack and are not source patients), the later ones 'laundering'.
// Money: all of them.
// Parameters: none (run prepare.cypher first).
// Returns evidence rows: rule, trace_code, disc, event_id, role, money, note.
MATCH (b:Box)<-[:OF]-(e:Event {net: true})
WITH b, collect(e) AS sales, count(DISTINCT e.pack) AS n_packs
WHERE n_packs > 1
UNWIND sales AS e
RETURN 'DUP_DISPENSE' AS rule, b.code AS trace_code, '' AS disc, e.id AS event_id,
       CASE WHEN e.pack_order > 1 THEN 'laundering'
            WHEN coalesce(e.split_sale, false) THEN 'source_split'
            ELSE 'source' END AS role,
       true AS money, toString(n_packs) AS note
