// Box exists: how many events of one box the graph holds (no row: no such box).
// Parameters: $code — a canonical trace code (:param code => '81234560000000000011').
// Returns: events.
MATCH (b:Box {code: $code})
RETURN count { (b)<-[:OF]-(:Event) } AS events;
