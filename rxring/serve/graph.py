"""The ring explorer's graph as JSON for Cytoscape.js: nodes, edges, and their expansion.

A ring's graph comes from its findings (DESIGN §4): each finding joins its actors in
the order prescriber → patient → source site → laundering site.  Nodes carry their
role, fund at risk and a link to their page; edges carry the boxes they moved, the
money and the time of each movement (epoch seconds: the sale for the steps up to
the source site, the finding's last time — the pack turning up again — for the step
into a laundering site), so the page's time bar can
filter them.  People are keyed by refs and labelled masked unless revealed.

The graph keeps to a node budget (``Workbench.max_nodes``) as ``rxring viz
--max-nodes`` does, by the same rule (:func:`rxring.report.graph_groups.budget_groups`):
patients grouped per site, then prescribers.  Expanding a node adds its neighbours
from the events, each relation with more than a page of them as one group node
(``near:<relation>:<node>``).  A group node of either kind shows its count and is
itself expanded a page at a time: the answer's ``group`` says what is left of it.
Every label is plain text: the page sets it with Cytoscape's text rendering (canvas),
never as HTML.
"""

from __future__ import annotations

from urllib.parse import quote

import pandas as pd

from ..errors import RxringError
from ..report.graph_groups import GROUP_STEPS, budget_groups, group_label, merge_edges
from ..report.i18n import label
from ..report.viz_graph import ROLE_STYLE
from .data import NotFound, Reveal, Workbench, clean

__all__ = ["EXPAND_PAGE", "ROLE_SHAPES", "ring_graph", "expand_node", "node_detail", "node_key"]

#: Neighbours of one relation (or members of a group) an expansion adds at a time.
EXPAND_PAGE = 15

#: Cytoscape shapes per role (colours are the static report's, rxring.report.viz_graph.ROLE_STYLE).
ROLE_SHAPES = {"patient": "ellipse", "patient_group": "hexagon", "prescriber": "triangle",
               "prescriber_group": "vee", "source_site": "round-rectangle", "laundering_site": "star",
               "site": "round-rectangle", "site_group": "barrel"}

_GROUP_ROLES = tuple(group_role for _, group_role in GROUP_STEPS)
#: Relations whose neighbour is upstream of the expanded node (the edge points at it).
_INBOUND = ("source_site", "source_patient", "prescribed_by")


def node_key(kind: str, ident: str) -> str:
    """The graph id of a node: ``site:ID``, ``patient:REF``, ``prescriber:REF`` (groups:
    ``patient_group:<anchor>``, ``prescriber_group:<anchor>``, ``near:<relation>:<node>``)."""
    return f"{kind}:{ident}"


def _epoch(value) -> int | None:
    stamp = pd.Timestamp(value) if value is not None else None
    return None if stamp is None or pd.isna(stamp) else int(stamp.timestamp())


def _style(role: str) -> dict:
    base = ROLE_STYLE.get(role, ROLE_STYLE["source_site"])
    return {"color": base["color"], "shape": ROLE_SHAPES.get(role, "round-rectangle")}


def _node(key: str, role: str, shown: dict, fund: float = 0.0, findings: int = 0, in_ring: bool = True) -> dict:
    return {"id": key, "role": role, "label": shown["label"], "href": shown["href"], "fund": fund,
            "findings": findings, "inRing": in_ring, **_style(role)}


def _edge(a: str, b: str, parts: dict) -> dict:
    return {"id": f"{a}>{b}", "source": a, "target": b, "boxes": len(parts["codes"]), "fund": parts["fund"],
            "times": sorted(parts["times"])}


def _join(joined: dict | None, edge: dict) -> dict:
    """Two parallel edges as one (the boxes counted once)."""
    if joined is None:
        return {"codes": set(edge["codes"]), "fund": edge["fund"], "times": list(edge["times"])}
    joined["codes"] |= edge["codes"]
    joined["fund"] += edge["fund"]
    joined["times"].extend(edge["times"])
    return joined


def _ring_parts(bench: Workbench, ring: dict, revealed: bool) -> tuple[dict, dict]:
    """(nodes, edges) of a ring before grouping: one node per member, edges ``(a, b) -> {codes, fund, times}``."""
    findings = bench.filter_findings(ring=ring["ring_id"])
    laundering = set(ring["laundering_sites"])
    nodes: dict[str, dict] = {}
    edges: dict[tuple[str, str], dict] = {}

    def add_node(key, role, shown, fund):
        node = nodes.setdefault(key, _node(key, role, shown))
        node["fund"] += fund
        node["findings"] += 1
        return key

    for f in findings.to_dict("records"):
        fund = float(clean(f["fund_amount"]) or 0.0)
        chain = []
        for p in f["source_prescribers"]:
            chain.append(add_node(node_key("prescriber", bench.ref("prescriber", p)), "prescriber",
                                  bench.person("prescriber", p, revealed), fund))
        for p in f["source_patients"]:
            chain.append(add_node(node_key("patient", bench.ref("patient", p)), "patient",
                                  bench.person("patient", p, revealed), fund))
        for s in f["source_sites"]:
            role = "laundering_site" if s in laundering and s not in ring["source_sites"] else "source_site"
            chain.append(add_node(node_key("site", s), role, bench.site(s), fund))
        sources = len(chain)      # the steps into the laundering sites happened at the finding's last time
        for s in f["laundering_sites"]:
            chain.append(add_node(node_key("site", s), "laundering_site", bench.site(s), fund))
        sold, resold = _epoch(f["first_time"]), _epoch(f["last_time"])
        for i, (a, b) in enumerate(zip(chain, chain[1:])):
            if a != b:
                when = resold if i + 1 >= sources and resold is not None else sold
                edges[(a, b)] = _join(edges.get((a, b)), {"codes": set(f["trace_codes"]), "fund": fund,
                                                          "times": [] if when is None else [when]})
    return nodes, edges


def _groups(nodes: dict, mapping: dict, lang: str, shown=frozenset()) -> dict:
    """Group nodes of *mapping* (member -> group id), members in *shown* left out, labelled with their count."""
    groups: dict[str, dict] = {}
    for member, group_id in mapping.items():
        if member in shown:
            continue
        role, anchor = group_id.split(":", 1)
        group = groups.setdefault(group_id, {**_node(group_id, role, {"label": "", "href": ""}), "count": 0,
                                             "anchor": anchor})
        group["count"] += 1
        group["fund"] += nodes[member]["fund"]
        group["findings"] += nodes[member]["findings"]
    known = dict(nodes)
    for group in sorted(groups.values(), key=lambda g: g["role"] != "patient_group"):
        anchor = known.get(group["anchor"])
        group["label"] = group_label(group["role"], group["count"], anchor["label"] if anchor else "?", lang)
        group["href"] = anchor["href"] if anchor else ""
        known[group["id"]] = group
    return groups


def _ring_state(bench: Workbench, ring_id: str, reveal: Reveal | None):
    ring = bench.ring(ring_id)
    revealed = bench.permit(reveal, {"ring_id": ring["ring_id"]})
    nodes, edges = _ring_parts(bench, ring, revealed)
    mapping = budget_groups({k: n["role"] for k, n in nodes.items()}, {k: e["codes"] for k, e in edges.items()},
                            bench.max_nodes)
    return ring, revealed, nodes, edges, mapping


def ring_graph(bench: Workbench, ring_id: str, lang: str, reveal: Reveal | None = None) -> dict:
    """``{ring, nodes, edges, grouped, revealed}`` of one ring (NotFound when absent), within the node budget."""
    ring, revealed, nodes, edges, mapping = _ring_state(bench, ring_id, reveal)
    shown = [n for k, n in nodes.items() if k not in mapping] + list(_groups(nodes, mapping, lang).values())
    return {"ring": {"ring_id": ring["ring_id"], "rank": clean(ring["rank"]), "score": clean(ring["score"])},
            "nodes": shown, "edges": [_edge(a, b, e) for (a, b), e in merge_edges(edges, mapping, _join).items()],
            "grouped": bool(mapping), "revealed": revealed}


def _actor_of(bench: Workbench, key: str) -> tuple[str, str]:
    """(kind, raw id) of an actor's node key (NotFound for groups and unknown refs)."""
    kind, _, ident = key.partition(":")
    if kind == "site":
        return kind, ident
    if kind in ("patient", "prescriber"):
        return kind, bench.resolve(kind, ident)
    raise NotFound(f"node {key}")


def _money(value) -> float:
    """A sum of money to the fen (sums read from SQL and from Cypher differ in the last float digits)."""
    return round(float(clean(value) or 0.0), 2)


def _page(page: int) -> int:
    return max(0, int(page))


def expand_node(bench: Workbench, ring_id: str, key: str, lang: str, reveal: Reveal | None = None,
                page: int = 0, limit: int = EXPAND_PAGE) -> dict:
    """What expanding a node adds: ``{node, nodes, edges, revealed, group}``.

    An actor's neighbours come from the events (``Workbench.lookups``, :mod:`rxring.serve.lookups`);
    a relation with more than *limit* of them comes as one group node.  A group node
    (of the ring's budget, or of neighbours) gives its members, *limit* at a time from
    *page*; ``group`` is then ``{id, remaining, label, next}`` (None for an actor).
    Nodes carry ``inRing`` false unless they are members of the ring; the page adds those it lacks.
    """
    if key.startswith(tuple(f"{role}:" for role in _GROUP_ROLES)):
        return _expand_ring_group(bench, ring_id, key, lang, reveal, _page(page), limit)
    ring = bench.ring(ring_id)
    if key.startswith("near:"):
        relation, _, actor = key[len("near:"):].partition(":")
        kind, raw = _actor_of(bench, actor)
        revealed = bench.permit(reveal, {"ring_id": ring["ring_id"], f"{kind}_id": raw})
        try:
            rows = bench.lookups.neighbours(kind, raw, limit=limit, offset=_page(page) * limit, relations=[relation])
        except RxringError as exc:
            raise NotFound(f"node {key}") from exc
        nodes, edges, _ = _neighbours(bench, ring, actor, rows, revealed, lang, limit=None)
        total = int(rows["total"].iloc[0]) if len(rows) else 0
        remaining = max(0, total - (_page(page) + 1) * limit)
        group = {"id": key, "remaining": remaining, "next": _page(page) + 1,
                 "label": label("near_group", lang, n=remaining, relation=label("rel_" + relation, lang))}
        return {"node": key, "nodes": nodes, "edges": edges, "revealed": revealed, "group": group}
    kind, raw = _actor_of(bench, key)
    revealed = bench.permit(reveal, {"ring_id": ring["ring_id"], f"{kind}_id": raw})
    rows = bench.lookups.neighbours(kind, raw, limit=limit)
    nodes, edges, _ = _neighbours(bench, ring, key, rows, revealed, lang, limit=limit)
    return {"node": key, "nodes": nodes, "edges": edges, "revealed": revealed, "group": None}


def _neighbours(bench: Workbench, ring: dict, key: str, rows: pd.DataFrame, revealed: bool, lang: str,
                limit: int | None):
    """Nodes and edges of *rows* (actor_neighbours) around node *key*; with *limit*, a relation with more
    neighbours than that becomes one ``near:`` group node."""
    members = ({node_key("site", s) for s in ring["source_sites"] + ring["laundering_sites"]}
               | {node_key("patient", bench.ref("patient", p)) for p in ring["source_patients"]}
               | {node_key("prescriber", bench.ref("prescriber", p)) for p in ring["prescribers"]})
    nodes, edges, grouped = [], [], []
    for row in rows.to_dict("records"):
        relation = row["relation"]
        if limit is not None and int(row["total"]) > limit:
            if relation in grouped:
                continue
            grouped.append(relation)
            nkey, role = f"near:{relation}:{key}", f"{row['kind']}_group"
            shown = {"label": label("near_group", lang, n=int(row["total"]), relation=label("rel_" + relation, lang)),
                     "href": ""}
            fund, boxes = _money(row["total_fund"]), int(row["total_boxes"])
            times = [t for t in (_epoch(row["total_first"]), _epoch(row["total_last"])) if t is not None]
            node = {**_node(nkey, role, shown, fund, in_ring=False), "count": int(row["total"])}
        else:
            if row["kind"] == "site":
                shown, nkey, role = bench.site(row["id"]), node_key("site", row["id"]), "site"
            else:
                shown = bench.person(row["kind"], row["id"], revealed)
                nkey, role = node_key(row["kind"], shown["ref"]), row["kind"]
            fund, boxes = _money(row["fund"]), int(row["boxes"])
            times = [t for t in (_epoch(row["first_time"]), _epoch(row["last_time"])) if t is not None]
            node = _node(nkey, role, shown, fund, in_ring=nkey in members)
        nodes.append(node)
        anchor = key.split(":", 2)[2] if key.startswith("near:") else key
        source, target = (nkey, anchor) if relation in _INBOUND else (anchor, nkey)
        edges.append({"id": f"x:{anchor}>{nkey}:{relation}", "source": source, "target": target, "boxes": boxes,
                      "fund": fund, "times": times, "relation": relation,
                      "relationLabel": label("rel_" + relation, lang)})
    return nodes, edges, grouped


def _expand_ring_group(bench: Workbench, ring_id: str, key: str, lang: str, reveal: Reveal | None, page: int,
                       limit: int) -> dict:
    """A page of the members of one of the ring's group nodes, with their edges to what is drawn."""
    ring, revealed, nodes, edges, mapping = _ring_state(bench, ring_id, reveal)
    members = sorted((m for m, g in mapping.items() if g == key), key=lambda m: (-nodes[m]["fund"], m))
    if not members:
        raise NotFound(f"node {key}")
    shown = set(members[:(page + 1) * limit])
    this_page = members[page * limit:(page + 1) * limit]
    drawn = {m: g for m, g in mapping.items() if m not in shown}    # the rest stay in their groups
    touching = {pair: e for pair, e in edges.items() if pair[0] in this_page or pair[1] in this_page}
    group = _groups(nodes, mapping, lang, shown).get(key)
    return {"node": key, "nodes": [nodes[m] for m in this_page],
            "edges": [_edge(a, b, e) for (a, b), e in merge_edges(touching, drawn, _join).items()],
            "revealed": revealed,
            "group": {"id": key, "remaining": group["count"] if group else 0, "next": page + 1,
                      "label": group["label"] if group else ""}}


def node_detail(bench: Workbench, ring_id: str, key: str, lang: str, reveal: Reveal | None = None) -> dict:
    """The side panel of a node: its title, page link, findings in this ring, its rings, latest events."""
    ring = bench.ring(ring_id)
    if key.startswith(tuple(f"{role}:" for role in _GROUP_ROLES) + ("near:",)):
        role = key.split(":", 1)[0]
        return {"title": label("role_" + role, lang) if role in _GROUP_ROLES else label("expand", lang),
                "href": "", "kind": "", "findings": [], "findingsTotal": 0, "rings": [], "events": []}
    kind, raw = _actor_of(bench, key)
    revealed = bench.permit(reveal, {"ring_id": ring["ring_id"], f"{kind}_id": raw})
    found = bench.filter_findings(ring=ring["ring_id"], **{kind: raw})
    rings = bench.rings_of(**{kind: raw})
    events = bench.lookups.actor_events(kind, raw, 20)
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
