"""The Neo4j backend: the graph of DESIGN §4 on a Neo4j server.

* :mod:`.connect` — where the server is, how to log in, one clear error when not;
* :mod:`.server` — a private local server (``rxring neo4j start``);
* :mod:`.load` — a workspace into the graph (``rxring load``), batched and resumable;
* :mod:`.bulk` — first loads through ``neo4j-admin database import``;
* :mod:`.rules` — the rules as Cypher (:class:`~.rules.Neo4jBackend`, ``--backend neo4j``);
* :mod:`.listing` — a box's chain, a site's or a patient's events, from the graph;
* :mod:`.queries` — run a shipped read query (``rxring neo4j run``).

The Cypher itself lives in ``rxring/rules/cypher`` (:mod:`rxring.rules.render`).
"""
