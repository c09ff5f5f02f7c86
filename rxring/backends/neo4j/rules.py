"""The Neo4j backend: the rules as Cypher files run on a Neo4j server (``rxring/rules/cypher``).

``--backend neo4j`` loads the workspace into the graph of DESIGN §4
(:func:`rxring.backends.neo4j.load.load_workspace`), runs ``prepare.cypher``
(derived event properties: double scans, net dispenses, pack dispenses), then each
``<RULE>.cypher``, which returns flat evidence rows — the same rows the SQL of the
other backends returns — and ``evidence_events.cypher`` joins them with their
events; :mod:`rxring.analysis` makes findings and rings of them as for every
backend, and the rings are written back into the graph (``clear_rings.cypher``,
``write_rings.cypher``) for ``rings.cypher``, Browser and Bloom.

Examples
--------
>>> import rxring
>>> result = rxring.analyze("ws", backend="neo4j", neo4j="bolt://localhost:7687")   # doctest: +SKIP
>>> from rxring.backends.neo4j.connect import connect, resolve_config
>>> findings = graph_findings(connect(resolve_config()))     # doctest: +SKIP
"""

from __future__ import annotations

import pandas as pd

from ...options import AnalysisOptions
from ...rules.findings import EVIDENCE_COLUMNS, RULE_OUTPUT_COLUMNS, assemble_findings, no_evidence
from ...rules.render import cypher_parameters, cypher_statements
from ...schema import RULES
from ..base import Backend, Evidence

__all__ = ["Neo4jBackend", "prepare", "rule_evidence", "graph_evidence", "graph_findings", "write_rings",
           "RING_ROLES"]

#: Ring roles written back onto member nodes: ring column -> (label, role).
RING_ROLES = {"source_patients": ("Patient", "source_patient"), "prescribers": ("Prescriber", "prescriber"),
              "source_sites": ("Site", "source_site"), "laundering_sites": ("Site", "laundering_site")}

#: Parameter of write_rings.cypher per member label.
_MEMBER_PARAMS = {"Site": "sites", "Patient": "patients", "Prescriber": "prescribers"}
_KEYS = {"Site": "id", "Patient": "id", "Prescriber": "id"}


def _used(statement: str, params: dict) -> dict:
    return {k: v for k, v in params.items() if f"${k}" in statement}


#: From this many events on, :func:`prepare` first refreshes the planner's statistics.
REPLAN_EVENTS = 1000


def refresh_plans(driver, database: str | None = None) -> bool:
    """Resample the indexes and drop cached plans when the graph holds :data:`REPLAN_EVENTS` events or more.

    A database emptied and loaded again keeps the index samples of its empty state for
    a while; the planner then seeks the (:Event) type index once per box in
    ``prepare.cypher`` (all dispenses for every box: on a 20k-event city minutes
    instead of seconds).  ``db.prepareForReplanning`` resamples and clears the plan
    cache.  Small graphs skip it (replanning costs about a second; a bad plan there
    costs less).  Returns whether it ran; a user not allowed to call it only loses
    the refresh.
    """
    from neo4j.exceptions import ClientError

    records, _, _ = driver.execute_query("MATCH (e:Event) RETURN count(e) AS n", database_=database)
    if records[0]["n"] < REPLAN_EVENTS:
        return False
    try:
        driver.execute_query("CALL db.prepareForReplanning()", database_=database)
    except ClientError:
        return False
    return True


def prepare(driver, options: AnalysisOptions, database: str | None = None) -> None:
    """Run ``prepare.cypher``: derive e.rescan, e.net, e.pack... for ``options``."""
    refresh_plans(driver, database)
    params = cypher_parameters(options)
    with driver.session(database=database) as session:
        for statement in cypher_statements("prepare"):
            session.run(statement, **_used(statement, params)).consume()


def rule_evidence(driver, rule: str, options: AnalysisOptions, database: str | None = None) -> pd.DataFrame:
    """The flat evidence rows of one rule file (run :func:`prepare` first)."""
    (query,) = cypher_statements(rule)
    records, _, keys = driver.execute_query(query, _used(query, cypher_parameters(options)), database_=database)
    return pd.DataFrame([r.values() for r in records], columns=keys)


def _event_details(driver, ids: list[str], database: str | None, batch: int = 20000) -> pd.DataFrame:
    (query,) = cypher_statements("evidence_events")
    rows = []
    for start in range(0, len(ids), batch):
        records, _, _ = driver.execute_query(query, ids=ids[start:start + batch], database_=database)
        rows.extend(r.values() for r in records)
    frame = pd.DataFrame(rows, columns=["event_id", *EVIDENCE_COLUMNS[len(RULE_OUTPUT_COLUMNS):]])
    frame["event_time"] = pd.to_datetime([t.to_native() if hasattr(t, "to_native") else t
                                          for t in frame["event_time"]])
    return frame


def graph_evidence(driver, options: AnalysisOptions | None = None, database: str | None = None,
                   rules=RULES) -> pd.DataFrame:
    """The flat evidence rows (EVIDENCE_COLUMNS) of *rules* over the events loaded in the graph.

    Writes derived properties on (:Event) nodes (``prepare.cypher``); the loaded
    events themselves are not changed.
    """
    options = options or AnalysisOptions()
    prepare(driver, options, database)
    parts = [rule_evidence(driver, rule, options, database) for rule in rules]
    parts = [p for p in parts if len(p)]
    if not parts:
        return no_evidence()
    flat = pd.concat(parts, ignore_index=True)
    details = _event_details(driver, sorted(set(flat["event_id"])), database)
    return flat.merge(details, on="event_id", how="inner")[list(EVIDENCE_COLUMNS)]


def graph_findings(driver, options: AnalysisOptions | None = None, database: str | None = None,
                   rules=RULES) -> pd.DataFrame:
    """Findings (schema.FINDING_COLUMNS) of the events loaded in the graph, as every backend makes them."""
    return assemble_findings(graph_evidence(driver, options, database, rules))


class Neo4jBackend(Backend):
    """The rules as Cypher on a Neo4j server (``--backend neo4j``).

    Parameters
    ----------
    target : Neo4jConfig, str, neo4j.Driver or None
        The server: a config, a Bolt URI (user and password from the
        environment), an open driver (not closed here), or None for the
        environment / the server of ``rxring neo4j start``
        (:func:`rxring.backends.neo4j.connect.resolve_config`).
    database : str, optional
        The database (a config or the environment may name it too).
    """

    name = "neo4j"
    steps = 2

    def __init__(self, target=None, database: str | None = None):
        from .connect import Neo4jConfig, resolve_config

        self._owned = False
        if target is None or isinstance(target, str):
            target = resolve_config(target, database=database)
        if isinstance(target, Neo4jConfig):
            self.config = target
            self.database = database or target.database
            self._driver = None
        else:
            self.config = None
            self.database = database
            self._driver = target

    @property
    def driver(self):
        if self._driver is None:
            from .connect import connect

            self._driver = connect(self.config)
            self._owned = True
        return self._driver

    def _uri(self) -> str:
        return self.config.uri if self.config is not None else ""

    def workspace_evidence(self, ws, options, step) -> Evidence:
        from .load import load_workspace, workspace_events

        if step:
            step("load")
        if self.config is not None:
            loaded = load_workspace(self.config, ws, progress=bool(step and step.enabled))
        else:
            from .load import load_events

            loaded = load_events(self.driver, workspace_events(ws), sites=ws.master("sites"),
                                 products=ws.master("products"), database=self.database, prepared=True)
        if step:
            step("rules")
        flat = graph_evidence(self.driver, options, self.database)
        # rows read: every row of the parts, as the other backends count them (the graph
        # holds only the events that count: deletions and repeated ids are never loaded)
        return Evidence(flat=flat, events_read=int(ws.events_dataset().count_rows()), events_used=int(loaded.events),
                        stats={"neo4j_uri": self._uri()})

    def frame_evidence(self, events, options, products, deletions) -> Evidence:
        """Load *events* into the database (which must hold no other events), then run the rules."""
        from .load import load_events

        loaded = load_events(self.driver, events, products=products, deletions=deletions, database=self.database)
        flat = graph_evidence(self.driver, options, self.database)
        return Evidence(flat=flat, events_read=len(events), events_used=int(loaded.events))

    def after_rings(self, findings, rings) -> None:
        write_rings(self.driver, findings, rings, self.database)

    def close(self) -> None:
        if self._owned and self._driver is not None:
            self._driver.close()
            self._driver = None
            self._owned = False


def _member_rows(rings: pd.DataFrame) -> dict[str, list[dict]]:
    """Per label, one row per member node: its rings by rank (with each ring's numbers) and its roles.

    A member may belong to several rings (a prescriber who wrote for two of them);
    the lists ``rings, ranks, scores, boxes, funds`` are aligned, ``roles`` holds
    ``"<ring>:<role>"`` texts.
    """
    members: dict[tuple[str, str], dict] = {}
    for ring in rings.sort_values("rank").to_dict("records"):
        for column, (label, role) in RING_ROLES.items():
            for member in ring[column] if ring[column] is not None else []:
                row = members.setdefault((label, str(member)), {
                    "id": str(member), "rings": [], "ranks": [], "scores": [], "boxes": [], "funds": [], "roles": []})
                if not row["rings"] or row["rings"][-1] != ring["ring_id"]:
                    row["rings"].append(ring["ring_id"])
                    row["ranks"].append(int(ring["rank"]))
                    row["scores"].append(float(ring["score"]))
                    row["boxes"].append(int(ring["boxes"]))
                    row["funds"].append(float(ring["fund_at_risk"]))
                row["roles"].append(f"{ring['ring_id']}:{role}")
    rows: dict[str, list[dict]] = {label: [] for label in _KEYS}
    for (label, _), row in sorted(members.items()):
        rows[label].append(row)
    return rows


def _box_rows(findings: pd.DataFrame, rings: pd.DataFrame) -> list[dict]:
    """One row per flagged box: the rules that flag it and the rings its findings belong to."""
    ring_of = {fid: ring for ring, fids in zip(rings["ring_id"], rings["finding_ids"]) for fid in fids}
    boxes: dict[str, dict] = {}
    for finding in findings[["finding_id", "rule", "trace_codes"]].itertuples(index=False):
        for code in finding.trace_codes:
            row = boxes.setdefault(str(code), {"code": str(code), "rules": [], "rings": []})
            if finding.rule not in row["rules"]:
                row["rules"].append(finding.rule)
            ring = ring_of.get(finding.finding_id)
            if ring is not None and ring not in row["rings"]:
                row["rings"].append(ring)
    return [boxes[code] for code in sorted(boxes)]


def write_rings(driver, findings: pd.DataFrame, rings: pd.DataFrame, database: str | None = None,
                batch: int = 10000) -> None:
    """Write the rings back into the graph (``clear_rings.cypher``, then ``write_rings.cypher``).

    No new labels or relationship types: properties on the nodes of DESIGN §4 —
    ``rings, ring_ranks, ring_scores, ring_boxes, ring_funds`` (aligned lists, by rank)
    and ``ring_roles`` (``"R001:source_patient"``...) on each member (:Site, :Patient,
    :Prescriber); ``findings`` (rule ids) and ``rings`` on each flagged (:Box).  Marks
    of an earlier analysis are removed first.
    """
    with driver.session(database=database) as session:
        for statement in cypher_statements("clear_rings"):
            session.run(statement).consume()
    rows = {_MEMBER_PARAMS[label]: members for label, members in _member_rows(rings).items()}
    rows["boxes"] = _box_rows(findings, rings)
    for statement in cypher_statements("write_rings"):
        (param,) = [name for name in rows if f"${name}" in statement]
        for start in range(0, len(rows[param]), batch):
            driver.execute_query(statement, {param: rows[param][start:start + batch]}, database_=database)
