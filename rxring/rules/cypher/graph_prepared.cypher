// Graph prepared: whether the rules ran on this graph (prepare.cypher marked its events).
// True when some (:Event) carries e.rescan or e.net, so a listing can say which dispenses
// count.
// Parameters: none.
// Returns: prepared.
RETURN EXISTS { MATCH (e:Event) WHERE e.net IS NOT NULL OR e.rescan IS NOT NULL } AS prepared;
