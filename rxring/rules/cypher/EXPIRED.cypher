// EXPIRED (过期销售): the pack was dispensed after its expiry date.
//
// Precisely: a net dispense (e.net, written by prepare.cypher) whose calendar day
// (local time) is later than the pack's expiry date; a dispense ON the expiry day is
// not expired.  The expiry is the event's own expiry (expy_end), else the expiry in
// the code itself (GS1 AI 17, code_expiry), else the latest expiry any other event of
// the code carries.  One finding per code; evidence: the expired dispenses (role
// 'other': a site selling an expired pack is not by that a ring member).  Money:
// those dispenses.
// Parameters: none (run prepare.cypher first).
// Returns evidence rows: rule, trace_code, disc, event_id, role, money, note.
MATCH (b:Box)<-[:OF]-(e:Event)
WITH b, max(coalesce(e.expiry, e.code_expiry)) AS known_expiry
MATCH (b)<-[:OF]-(sale:Event {net: true})
WITH b, sale, coalesce(sale.expiry, sale.code_expiry, known_expiry) AS expiry
WHERE expiry IS NOT NULL AND date(sale.time) > expiry
RETURN 'EXPIRED' AS rule, b.code AS trace_code, '' AS disc, sale.id AS event_id, 'other' AS role,
       true AS money, toString(expiry) AS note
