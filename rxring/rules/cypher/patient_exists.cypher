// Patient exists: how many events of one patient the graph holds (no row: no such patient).
// Counts the events dispensed or refunded to the patient ((:Event)-[:TO]->(:Patient)).
// Parameters: $patient — a patient id (:param patient => 'PSN1234567890').
// Returns: events.
MATCH (p:Patient {id: $patient})
RETURN count { (p)<-[:TO]-(:Event) } AS events;
