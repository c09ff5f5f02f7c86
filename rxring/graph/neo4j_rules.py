"""The five rules run as Cypher on a Neo4j server (the files in ``rxring/queries``).

``prepare.cypher`` writes the derived event properties (double scans, net
dispenses, pack dispenses); each ``<RULE>.cypher`` then returns flat evidence rows
``(rule, trace_code, disc, event_id, role, money, note)``, the same rows the
embedded engine's SQL returns, and :func:`rxring.queries.embedded.assemble_findings`
turns them into findings — so both engines give identical findings and rings.

Examples
--------
>>> from rxring.graph.neo4j_connect import resolve_config
>>> from rxring.options import AnalysisOptions
>>> findings = run_rules(resolve_config(), AnalysisOptions())     # doctest: +SKIP
>>> rings = find_rings(resolve_config(), AnalysisOptions())[1]    # doctest: +SKIP
"""

from __future__ import annotations

import pandas as pd

from ..options import AnalysisOptions
from ..queries import embedded
from ..schema import RULES
from .neo4j_queries import statements

__all__ = ["query_parameters", "prepare", "rule_evidence", "run_rules", "find_rings", "write_rings", "RING_ROLES"]

_EVENT_DETAILS = """
UNWIND $ids AS id
MATCH (e:Event {id: id})-[:AT]->(s:Site)
OPTIONAL MATCH (e)-[:TO]->(p:Patient)
OPTIONAL MATCH (e)-[:BY]->(d:Prescriber)
RETURN e.id AS event_id, e.type AS event_type, e.time AS event_time, s.id AS site_id,
       p.id AS patient_id, d.id AS prescriber_id, e.product_norm AS product_norm,
       e.fund_money AS fund_money, e.total_money AS total_money
"""


#: Ring roles written back onto member nodes: ring column -> (label, role).
RING_ROLES = {"source_patients": ("Patient", "source_patient"), "prescribers": ("Prescriber", "prescriber"),
              "source_sites": ("Site", "source_site"), "laundering_sites": ("Site", "laundering_site")}

# Earlier write-backs go first, so members of rings that no longer exist lose their marks.
_CLEAR_MEMBERS = """
MATCH (n:{label}) WHERE n.rings IS NOT NULL
CALL (n) {{ REMOVE n.rings, n.ring_ranks, n.ring_scores, n.ring_boxes, n.ring_funds, n.ring_roles }}
IN TRANSACTIONS OF 10000 ROWS
"""
_CLEAR_BOXES = """
MATCH (b:Box) WHERE b.findings IS NOT NULL
CALL (b) { REMOVE b.findings, b.rings } IN TRANSACTIONS OF 10000 ROWS
"""
_SET_MEMBERS = """
UNWIND $rows AS r
MATCH (n:{label} {{{key}: r.id}})
SET n.rings = r.rings, n.ring_ranks = r.ranks, n.ring_scores = r.scores, n.ring_boxes = r.boxes,
    n.ring_funds = r.funds, n.ring_roles = r.roles
"""
_SET_BOXES = """
UNWIND $rows AS r
MATCH (b:Box {code: r.code})
SET b.findings = r.rules, b.rings = r.rings
"""
_KEYS = {"Site": "id", "Patient": "id", "Prescriber": "id"}


def query_parameters(options: AnalysisOptions) -> dict:
    """The ``$name`` parameters of the shipped Cypher for ``options``."""
    return {
        "double_scan_seconds": float(options.double_scan_minutes) * 60.0,
        "provenance_min_coverage": float(options.provenance_min_coverage),
        "provenance_grace_days": float(options.provenance_grace_days),
        "provenance_types": list(options.provenance_types),
        "opening_stocktake_days": float(options.opening_stocktake_days),
        "conflict_min_support": int(options.conflict_min_support),
        "conflict_min_share": float(options.conflict_min_share),
    }


def _driver(driver_or_config):
    """(driver, database, owned) for a driver or a Neo4jConfig."""
    from .neo4j_connect import Neo4jConfig, connect

    if isinstance(driver_or_config, Neo4jConfig):
        return connect(driver_or_config), driver_or_config.database, True
    return driver_or_config, None, False


def prepare(driver, options: AnalysisOptions, database: str | None = None) -> None:
    """Run ``prepare.cypher``: derive e.rescan, e.net, e.pack... for ``options``."""
    params = query_parameters(options)
    with driver.session(database=database) as session:
        for statement in statements("prepare"):
            used = {k: v for k, v in params.items() if f"${k}" in statement}
            session.run(statement, **used).consume()


def rule_evidence(driver, rule: str, options: AnalysisOptions, database: str | None = None) -> pd.DataFrame:
    """The flat evidence rows of one rule file (run :func:`prepare` first)."""
    params = query_parameters(options)
    (query,) = statements(rule)
    used = {k: v for k, v in params.items() if f"${k}" in query}
    records, _, keys = driver.execute_query(query, used, database_=database)
    return pd.DataFrame([r.values() for r in records], columns=keys)


def _event_details(driver, ids: list[str], database: str | None, batch: int = 20000) -> pd.DataFrame:
    rows, keys = [], None
    for start in range(0, len(ids), batch):
        records, _, keys = driver.execute_query(_EVENT_DETAILS, ids=ids[start:start + batch], database_=database)
        rows.extend(r.values() for r in records)
    frame = pd.DataFrame(rows, columns=keys or ["event_id", "event_type", "event_time", "site_id", "patient_id",
                                                "prescriber_id", "product_norm", "fund_money", "total_money"])
    frame["event_time"] = pd.to_datetime([t.to_native() if hasattr(t, "to_native") else t
                                          for t in frame["event_time"]])
    return frame


def run_rules(driver_or_config, options: AnalysisOptions | None = None, database: str | None = None,
              rules=RULES) -> pd.DataFrame:
    """Run the rules in Neo4j and return findings (schema.FINDING_COLUMNS).

    Parameters
    ----------
    driver_or_config : neo4j.Driver or Neo4jConfig
        A loaded database (see :func:`rxring.graph.neo4j_loader.load_workspace`).
    options : AnalysisOptions, optional
        Rule thresholds; defaults if None.
    database : str, optional
        Database, when a driver is given (a config carries its own).
    rules : sequence of str
        Which rules to run.

    Returns
    -------
    pandas.DataFrame
        Identical to :func:`rxring.analysis.run_rules` on the same events.

    Notes
    -----
    Writes derived properties on (:Event) nodes (``prepare.cypher``); the loaded
    events themselves are not changed.
    """
    options = options or AnalysisOptions()
    driver, db, owned = _driver(driver_or_config)
    db = database or db
    try:
        prepare(driver, options, db)
        parts = [rule_evidence(driver, rule, options, db) for rule in rules]
        parts = [p for p in parts if len(p)]
        if not parts:
            return embedded.assemble_findings(None)
        flat = pd.concat(parts, ignore_index=True)
        details = _event_details(driver, sorted(set(flat["event_id"])), db)
    finally:
        if owned:
            driver.close()
    flat = flat.merge(details, on="event_id", how="inner")
    flat["money"] = flat["money"].astype(bool)
    return embedded.assemble_findings(flat[list(embedded.EVIDENCE_COLUMNS)])


def find_rings(driver_or_config, options: AnalysisOptions | None = None, database: str | None = None):
    """Findings by Cypher, then rings with the same community detection as the embedded engine.

    Returns
    -------
    (findings, rings) : tuple of pandas.DataFrame
    """
    from ..rings import build_rings

    options = options or AnalysisOptions()
    findings = run_rules(driver_or_config, options, database)
    rings = build_rings(findings, options)
    driver, db, owned = _driver(driver_or_config)
    try:
        write_rings(driver, findings, rings, database or db)
    finally:
        if owned:
            driver.close()
    return findings, rings


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
    """Write the rings back into the graph, so that Cypher (``rings.cypher``), Browser and Bloom see them.

    No new labels or relationship types: properties on the nodes of DESIGN §4 —
    ``rings, ring_ranks, ring_scores, ring_boxes, ring_funds`` (aligned lists, by rank)
    and ``ring_roles`` (``"R001:source_patient"``...) on each member (:Site, :Patient,
    :Prescriber); ``findings`` (rule ids) and ``rings`` on each flagged (:Box).  Marks
    of an earlier analysis are removed first.
    """
    with driver.session(database=database) as session:
        for label in _KEYS:
            session.run(_CLEAR_MEMBERS.format(label=label)).consume()
        session.run(_CLEAR_BOXES).consume()
    for label, rows in _member_rows(rings).items():
        query = _SET_MEMBERS.format(label=label, key=_KEYS[label])
        for start in range(0, len(rows), batch):
            driver.execute_query(query, rows=rows[start:start + batch], database_=database)
    box_rows = _box_rows(findings, rings)
    for start in range(0, len(box_rows), batch):
        driver.execute_query(_SET_BOXES, rows=box_rows[start:start + batch], database_=database)
