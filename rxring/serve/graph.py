"""The ring explorer's graph as JSON for Cytoscape.js: nodes, edges, and their expansion.

A ring's graph comes from its findings (DESIGN §4): each finding joins its actors in
the order prescriber → patient → source site → laundering site.  Nodes carry their
role, fund at risk and a link to their page; edges carry the boxes they moved, the
money and the time of each movement (epoch seconds), so the page's time bar can
filter them.  People are keyed by refs and labelled masked unless revealed.  Above
``max_nodes`` patients are grouped per source site (as ``rxring viz --max-nodes``).
Every label is plain text: the page sets it with Cytoscape's text rendering (canvas),
never as HTML.
"""

from __future__ import annotations

from collections import defaultdict
from urllib.parse import quote

import pandas as pd

from .. import results
from ..report.i18n import label
from ..report.viz_graph import ROLE_STYLE
from .data import NotFound, Reveal, Workbench, clean

__all__ = ["MAX_NODES", "ROLE_SHAPES", "ring_graph", "expand_node", "node_detail", "node_key"]

MAX_NODES = 150

#: Cytoscape shapes per role (colours are the static report's, rxring.report.viz_graph.ROLE_STYLE).
ROLE_SHAPES = {"patient": "ellipse", "patient_group": "hexagon", "prescriber": "triangle",
               "source_site": "round-rectangle", "laundering_site": "star", "site": "round-rectangle"}


def node_key(kind: str, ident: str) -> str:
    """The graph id of a node: ``site:ID``, ``patient:REF``, ``prescriber:REF``, ``group:SITE``."""
    return f"{kind}:{ident}"


def _epoch(value) -> int | None:
    stamp = pd.Timestamp(value) if value is not None else None
    return None if stamp is None or pd.isna(stamp) else int(stamp.timestamp())


def _style(role: str) -> dict:
    base = ROLE_STYLE.get(role, ROLE_STYLE["source_site"])
    return {"color": base["color"], "shape": ROLE_SHAPES.get(role, "round-rectangle")}


def ring_graph(bench: Workbench, ring_id: str, lang: str, reveal: Reveal | None = None,
               max_nodes: int = MAX_NODES) -> dict:
    """``{ring, nodes, edges, grouped, revealed}`` of one ring (NotFound when absent)."""
    ring = bench.ring(ring_id)
    findings = bench.filter_findings(ring=ring["ring_id"])
    revealed = bench.permit(reveal, {"ring_id": ring["ring_id"]})
    laundering = set(ring["laundering_sites"])
    nodes: dict[str, dict] = {}
    edges: dict[tuple[str, str], dict] = {}

    def add_node(key, role, shown, fund, finding_id):
        node = nodes.get(key)
        if node is None:
            node = nodes[key] = {"id": key, "role": role, "label": shown["label"], "href": shown["href"],
                                 "fund": 0.0, "findings": 0, "inRing": True, **_style(role)}
        node["fund"] += fund
        node["findings"] += 1
        return key

    for f in findings.to_dict("records"):
        fund = float(clean(f["fund_amount"]) or 0.0)
        chain = []
        for p in f["source_prescribers"]:
            chain.append(add_node(node_key("prescriber", bench.ref("prescriber", p)), "prescriber",
                                  bench.person("prescriber", p, revealed), fund, f["finding_id"]))
        for p in f["source_patients"]:
            chain.append(add_node(node_key("patient", bench.ref("patient", p)), "patient",
                                  bench.person("patient", p, revealed), fund, f["finding_id"]))
        for s in f["source_sites"]:
            role = "laundering_site" if s in laundering and s not in ring["source_sites"] else "source_site"
            chain.append(add_node(node_key("site", s), role, bench.site(s), fund, f["finding_id"]))
        for s in f["laundering_sites"]:
            chain.append(add_node(node_key("site", s), "laundering_site", bench.site(s), fund, f["finding_id"]))
        when = _epoch(f["first_time"])
        for a, b in zip(chain, chain[1:]):
            if a == b:
                continue
            edge = edges.setdefault((a, b), {"id": f"e{len(edges)}", "source": a, "target": b, "boxes": 0,
                                             "fund": 0.0, "times": []})
            edge["boxes"] += len(f["trace_codes"])
            edge["fund"] += fund
            if when is not None:
                edge["times"].append(when)

    grouped = False
    if len(nodes) > max_nodes:
        grouped = True
        nodes, edges = _group_patients(nodes, edges, lang)
    return {"ring": {"ring_id": ring["ring_id"], "rank": clean(ring["rank"]), "score": clean(ring["score"])},
            "nodes": list(nodes.values()), "edges": list(edges.values()), "grouped": grouped, "revealed": revealed}


def _group_patients(nodes: dict, edges: dict, lang: str):
    """Patients merged into one node per site they lead to (their first site edge)."""
    target_site = {}
    for (a, b) in edges:
        if a.startswith("patient:") and b.startswith("site:"):
            target_site.setdefault(a, b)
    mapping = {}
    new_nodes = {k: v for k, v in nodes.items() if not k.startswith("patient:")}
    counts = defaultdict(int)
    for key in nodes:
        if key.startswith("patient:"):
            site = target_site.get(key, "site:?")
            group = node_key("group", site.split(":", 1)[1])
            mapping[key] = group
            counts[group] += 1
            node = new_nodes.setdefault(group, {"id": group, "role": "patient_group", "label": "", "href": "",
                                                "fund": 0.0, "findings": 0, "inRing": True, **_style("patient_group")})
            node["fund"] += nodes[key]["fund"]
            node["findings"] += nodes[key]["findings"]
    for group, n in counts.items():
        new_nodes[group]["label"] = label("aggregated", lang, n=n, site=group.split(":", 1)[1])
    new_edges: dict = {}
    for (a, b), edge in edges.items():
        a, b = mapping.get(a, a), mapping.get(b, b)
        if a == b:
            continue
        merged = new_edges.setdefault((a, b), {"id": f"e{len(new_edges)}", "source": a, "target": b, "boxes": 0,
                                               "fund": 0.0, "times": []})
        merged["boxes"] += edge["boxes"]
        merged["fund"] += edge["fund"]
        merged["times"].extend(edge["times"])
    return new_nodes, new_edges


def _actor_of(bench: Workbench, key: str) -> tuple[str, str]:
    """(kind, raw id) of a node key (NotFound for groups and unknown refs)."""
    kind, _, ident = key.partition(":")
    if kind == "site":
        return kind, ident
    if kind in ("patient", "prescriber"):
        return kind, bench.resolve(kind, ident)
    raise NotFound(f"node {key}")


def expand_node(bench: Workbench, ring_id: str, key: str, lang: str, reveal: Reveal | None = None,
                limit: int = 15) -> dict:
    """Neighbours of a node from the events (:func:`rxring.results.actor_neighbours`), as nodes and edges.

    Nodes carry ``inRing`` false unless they are members of the ring; the page adds those it lacks.
    """
    ring = bench.ring(ring_id)
    kind, raw = _actor_of(bench, key)
    revealed = bench.permit(reveal, {"ring_id": ring["ring_id"], f"{kind}_id": raw})
    members = ({node_key("site", s) for s in ring["source_sites"] + ring["laundering_sites"]}
               | {node_key("patient", bench.ref("patient", p)) for p in ring["source_patients"]}
               | {node_key("prescriber", bench.ref("prescriber", p)) for p in ring["prescribers"]})
    nodes, edges = [], []
    for row in results.actor_neighbours(bench.ws, kind, raw, limit=limit).to_dict("records"):
        if row["kind"] == "site":
            shown, nkey = bench.site(row["id"]), node_key("site", row["id"])
            role = "site"
        else:
            shown = bench.person(row["kind"], row["id"], revealed)
            nkey, role = node_key(row["kind"], shown["ref"]), row["kind"]
        fund = float(clean(row["fund"]) or 0.0)
        nodes.append({"id": nkey, "role": role, "label": shown["label"], "href": shown["href"], "fund": fund,
                      "findings": 0, "inRing": nkey in members, **_style(role)})
        source, target = (nkey, key) if row["relation"] in ("source_site", "source_patient", "prescribed_by") else (key, nkey)
        times = [t for t in (_epoch(row["first_time"]), _epoch(row["last_time"])) if t is not None]
        edges.append({"id": f"x:{key}>{nkey}:{row['relation']}", "source": source, "target": target,
                      "boxes": int(row["boxes"]), "fund": fund, "times": times, "relation": row["relation"],
                      "relationLabel": label("rel_" + row["relation"], lang)})
    return {"node": key, "nodes": nodes, "edges": edges, "revealed": revealed}


def node_detail(bench: Workbench, ring_id: str, key: str, lang: str, reveal: Reveal | None = None) -> dict:
    """The side panel of a node: its title, page link, findings in this ring, its rings, latest events."""
    ring = bench.ring(ring_id)
    if key.startswith("group:"):
        site = key.split(":", 1)[1]
        return {"title": label("role_patient_group", lang), "href": bench.site(site)["href"], "findings": [], "rings": [],
                "events": []}
    kind, raw = _actor_of(bench, key)
    revealed = bench.permit(reveal, {"ring_id": ring["ring_id"], f"{kind}_id": raw})
    found = bench.filter_findings(ring=ring["ring_id"], **{kind: raw})
    rings = bench.rings_of(**{kind: raw})
    events = results.actor_events(bench.ws, kind, raw, limit=20)
    title = bench.site(raw) if kind == "site" else bench.person(kind, raw, revealed)
    rows = bench.finding_rows(found.head(20), revealed)
    return {
        "title": title["label"], "href": title["href"], "kind": label("kind_" + kind, lang),
        "findings": [{"id": r["finding_id"], "rule": r["rule"], "code": (r["trace_codes"] or [""])[0],
                      "fund": r["fund_amount"], "time": r["first_time"]} for r in rows],
        "findingsTotal": len(found),
        "rings": [{"id": r, "href": "/ring/" + quote(r, safe="")} for r in rings["ring_id"]],
        "events": [{"time": e["event_time"], "type": label(e["event_type"], lang) if e["event_type"] else "",
                    "code": e["trace_code"], "site": e["site"]["label"]}
                   for e in bench.event_rows(events, revealed)],
    }
