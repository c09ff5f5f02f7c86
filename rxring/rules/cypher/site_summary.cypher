// Site summary: one site's properties and event counts (`rxring site ID --backend neo4j`).
// The site node's name, kind, chain and region; how many events it has in the graph, of
// which types, the first and the last.  No row when the graph holds no such site.
// Parameters: $site — a site id (:param site => 'H001').
// Returns: name, kind, chain, region, events, types, event_types, first_time, last_time.
MATCH (site:Site {id: $site})
OPTIONAL MATCH (site)<-[:AT]-(e:Event)
RETURN site.name AS name, site.kind AS kind, site.chain AS chain, site.region AS region,
       count(e) AS events, count(DISTINCT e.type) AS types,
       collect(DISTINCT e.type) AS event_types, min(e.time) AS first_time, max(e.time) AS last_time;
