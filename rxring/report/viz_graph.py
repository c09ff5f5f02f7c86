"""The resale graph of a set of rings, ready to draw (DESIGN §4, "the resale graph").

Nodes are ring members by role (patients, prescribers, source sites, laundering
sites), sized by fund at risk; each finding joins its actors in the order
prescriber → patient → source site → laundering site, and an edge counts the boxes
it carries.  Above a size limit, patients are grouped per site (then prescribers),
so that a 200-member ring stays readable.  People are keyed by alias numbers and
labelled masked unless revealing: raw ids never reach the page.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from ..schema import EVENT_TYPES
from .data import CaseData, fmt_money, fmt_time, fund_of, load_events, ring_findings
from .graph_groups import MAX_NODES, budget_groups, group_label, merge_edges
from .i18n import label
from .pii import Masker
from .sources import input_name_map

__all__ = ["ROLE_STYLE", "ROLE_LABEL", "EVENT_FIELDS", "MAX_NODES", "MAX_EVENTS_PER_NODE", "RingGraph", "RingParts",
           "build_ring_graph", "ring_parts"]

MAX_EVENTS_PER_NODE = 200

ROLE_STYLE = {
    "patient": {"color": "#4e79a7", "shape": "dot"},
    "patient_group": {"color": "#76b7e5", "shape": "hexagon"},
    "prescriber": {"color": "#59a14f", "shape": "triangle"},
    "prescriber_group": {"color": "#8cd17d", "shape": "triangle"},
    "source_site": {"color": "#f28e2b", "shape": "square"},
    "laundering_site": {"color": "#e15759", "shape": "star"},
}
ROLE_LABEL = {
    "patient": "role_patient",
    "patient_group": "role_patient",
    "prescriber": "role_prescriber",
    "prescriber_group": "role_prescriber",
    "source_site": "role_source_site",
    "laundering_site": "role_laundering_site",
}
EVENT_FIELDS = ("event_time", "event_type", "trace_code", "site", "patient", "prescriber", "quantity", "fund_amount", "source")


@dataclass
class _Node:
    node_id: str
    role: str
    member_id: str
    display: str
    findings: set = field(default_factory=set)
    codes: set = field(default_factory=set)
    members: list = field(default_factory=list)  # raw member ids (groups have many)
    anchor: str = ""  # groups: the node they were grouped at


@dataclass
class RingGraph:
    """Nodes, edges and per-node details, ready to render (personal data already masked)."""

    nodes: list[dict]
    edges: list[dict]
    details: dict[str, dict]
    notes: list[str]
    ring_ids: list[str]
    aggregated: bool = False


def _site_role(case_rings: list[dict], site: str) -> str:
    for ring in case_rings:
        if site in ring["laundering_sites"]:
            return "laundering_site"
    return "source_site"


@dataclass(frozen=True)
class RingParts:
    """The members of some rings as nodes (one per member) and the member pairs of their findings as
    edges, before grouping and in no language: :func:`ring_parts`, for :func:`build_ring_graph`."""

    nodes: dict
    edges: dict
    findings: dict
    ring_ids: tuple[str, ...]


def ring_parts(case: CaseData, rings: list[dict], masker: Masker) -> RingParts:
    """The nodes and edges of ``rings`` (people keyed by ``masker``'s alias numbers), once for every
    drawing of them: a package draws its ring for the HTML page and in each PDF language."""
    return RingParts(*_collect(case, rings, masker), tuple(str(r["ring_id"]) for r in rings))


def _collect(case: CaseData, rings: list[dict], masker: Masker):
    """Raw nodes (one per member) and edges (member pairs) with the findings behind them."""
    nodes: dict[str, _Node] = {}
    edges: dict[tuple[str, str], dict] = {}
    findings = {f["finding_id"]: f for ring in rings for f in ring_findings(case, ring)}
    aliases_extra: dict[str, str] = {}

    def node(kind: str, member: str) -> str:
        if kind == "site":
            node_id, role = f"site:{member}", _site_role(rings, member)
            name = case.site_name(member)
            display = f"{name} ({member})" if name else member
        else:
            # People's node ids are their alias numbers: raw ids never reach the page's data.
            number = masker.alias(member)
            if number is None:
                number = aliases_extra.setdefault(member, f"x{len(aliases_extra) + 1}")
            node_id, role = f"{kind}:{number}", kind
            name = case.patient_names.get(member) if kind == "patient" else case.prescriber_names.get(member)
            display = masker.person(member) + (f" {masker.person(name)}" if name else "")
        if node_id not in nodes:
            nodes[node_id] = _Node(node_id, role, member, display, members=[member])
        return node_id

    for ring in rings:
        for member in ring["source_patients"]:
            node("patient", member)
        for member in ring["prescribers"]:
            node("prescriber", member)
        for member in ring["source_sites"] + ring["laundering_sites"]:
            node("site", member)
    for fid, finding in findings.items():
        layers = [
            [node("prescriber", m) for m in finding["source_prescribers"]],
            [node("patient", m) for m in finding["source_patients"]],
            [node("site", m) for m in finding["source_sites"]],
            [node("site", m) for m in finding["laundering_sites"] if m not in finding["source_sites"]],
        ]
        layers = [layer for layer in layers if layer]
        for layer in layers:
            for node_id in layer:
                nodes[node_id].findings.add(fid)
                nodes[node_id].codes.update(finding["trace_codes"])
        for upper, lower in zip(layers, layers[1:]):
            for a in upper:
                for b in lower:
                    if a == b:
                        continue
                    edge = edges.setdefault((a, b), {"findings": set(), "codes": set()})
                    edge["findings"].add(fid)
                    edge["codes"].update(finding["trace_codes"])
    return nodes, edges, findings


def _apply_groups(nodes, edges, mapping: dict[str, str], lang: str):
    """Merge nodes into the groups of :func:`rxring.report.graph_groups.budget_groups` and re-route their edges."""
    groups: dict[str, _Node] = {}
    for node_id, group_id in mapping.items():
        group_role, anchor = group_id.split(":", 1)
        group = groups.setdefault(group_id, _Node(group_id, group_role, "", "", members=[], anchor=anchor))
        item = nodes[node_id]
        group.findings |= item.findings
        group.codes |= item.codes
        group.members.extend(item.members)
    known = dict(nodes)
    for group in sorted(groups.values(), key=lambda g: g.role != "patient_group"):   # prescribers may sit at patients
        anchor = known.get(group.anchor)
        group.display = group_label(group.role, len(group.members), anchor.display if anchor is not None else "?", lang)
        known[group.node_id] = group
    merged_nodes = {k: v for k, v in nodes.items() if k not in mapping}
    merged_nodes.update(groups)
    merged_edges = merge_edges(edges, mapping, lambda joined, edge: {
        "findings": (joined["findings"] if joined else set()) | edge["findings"],
        "codes": (joined["codes"] if joined else set()) | edge["codes"]})
    return merged_nodes, merged_edges


def _details(item: _Node, role_name: str, fund: float, per_member: dict, event_row, lang: str) -> dict:
    """A node's side panel: its facts and its first :data:`MAX_EVENTS_PER_NODE` events in time order."""
    kind = "site" if item.role.endswith("site") else item.role.split("_")[0]
    rows = []
    for member in item.members:
        rows.extend(per_member.get((kind, member), []))
    rows.sort(key=lambda r: (fmt_time(r.get("event_time")), str(r.get("event_id"))))
    shown = rows[:MAX_EVENTS_PER_NODE]
    facts = [
        [label("role", lang), role_name],
        [label("fund_at_risk", lang), fmt_money(fund)],
        [label("boxes", lang), str(len(item.codes))],
        [label("findings_count", lang), str(len(item.findings))],
    ]
    if item.role.endswith("group"):
        facts.append([label("members", lang), str(len(item.members))])
    return {
        "label": f"{role_name}: {item.display}",
        "facts": facts,
        "events": [event_row(r) for r in shown],
        "more": len(rows) - len(shown),
        "more_text": label("more_events", lang, n=len(rows) - len(shown)),
    }


def build_ring_graph(
    case: CaseData,
    rings: list[dict],
    lang: str = "zh",
    masker: Masker | None = None,
    max_nodes: int = MAX_NODES,
    *,
    parts: RingParts | None = None,
    events: bool = True,
) -> RingGraph:
    """The resale graph of ``rings`` with display attributes and each node's events.

    Parameters
    ----------
    case : CaseData
        From :func:`rxring.report.data.load_case`.
    rings : list of dict
        Rings to draw (from :func:`rxring.report.data.select_rings`).
    lang : {"zh", "en"}
        Language of labels.
    masker : Masker, optional
        Personal-data masking; masks by default.
    max_nodes : int
        Above this many nodes patients are grouped per site, then prescribers.
    parts : RingParts, optional
        :func:`ring_parts` of the same rings and masker, when the rings are drawn more than once.
    events : bool
        Read each node's events for its side panel (``details``); a drawing without one (the PDF
        dossier's diagram) reads none and has empty ``details``.

    Returns
    -------
    RingGraph
    """
    masker = masker or case.masker(reveal=False)
    if parts is None or parts.ring_ids != tuple(str(r["ring_id"]) for r in rings):
        parts = ring_parts(case, rings, masker)
    nodes, edges, findings = parts.nodes, parts.edges, parts.findings
    notes, aggregated = [], False
    mapping = budget_groups({k: n.role for k, n in nodes.items()}, {k: e["codes"] for k, e in edges.items()}, max_nodes)
    if mapping:
        nodes, edges = _apply_groups(nodes, edges, mapping, lang)
        aggregated = True
        notes.append(label("aggregation_note", lang, limit=max_nodes))

    event_ids = {e for f in findings.values() for e in f["event_ids"]}
    codes = {c for f in findings.values() for c in f["trace_codes"]}
    frame = load_events(case, event_ids=event_ids, within_codes=codes) if event_ids and events else None
    per_member: dict[tuple[str, str], list[dict]] = defaultdict(list)
    if frame is not None and len(frame):
        frame = frame[frame["event_id"].isin(event_ids)]
        for row in frame.to_dict("records"):
            for kind, column in (("site", "site_id"), ("patient", "patient_id"), ("prescriber", "prescriber_id")):
                value = row.get(column)
                if value is not None and value == value:
                    per_member[(kind, str(value))].append(row)

    files = input_name_map(case.manifest)  # the inputs by machine-independent names, as in inputs.sha256

    def event_row(row: dict) -> list[str]:
        site = str(row.get("site_id") or "")
        site_name = case.site_name(site)
        source = f"{files.get(row.get('source_file'), row.get('source_file') or '')}:{row.get('source_line') if row.get('source_line') is not None else ''}"
        quantity = row.get("quantity")
        return [
            fmt_time(row.get("event_time")),
            label(row["event_type"], lang) if row.get("event_type") in EVENT_TYPES else str(row.get("event_type") or ""),
            str(row.get("trace_code") or ""),
            f"{site_name} ({site})" if site_name else site,
            masker.person(row.get("patient_id")),
            masker.person(row.get("prescriber_id")),
            "" if quantity is None or quantity != quantity else f"{quantity:g}",
            fmt_money(row.get("fund_amount")),
            masker.text(source),
        ]

    node_list: list[dict] = []
    details: dict[str, dict] = {}
    funds = {}
    for node_id, item in nodes.items():
        funds[node_id] = fund_of(findings[f] for f in item.findings)
    for node_id, item in sorted(nodes.items()):
        style = ROLE_STYLE[item.role]
        role_name = label(ROLE_LABEL[item.role], lang)
        if events:
            details[node_id] = _details(item, role_name, funds[node_id], per_member, event_row, lang)
        title = f"{role_name}: {item.display}\n{label('fund_at_risk', lang)}: {fmt_money(funds[node_id])}\n{label('boxes', lang)}: {len(item.codes)}"
        shown = item.display if len(item.display) <= 40 else item.display[:39] + "…"
        # vis-network's node and edge objects, keys in the order pyvis wrote them (the pages stay the same)
        node_list.append({"color": style["color"], "title": title, "value": max(funds[node_id], 1.0),
                          "id": node_id, "label": shown or node_id, "shape": style["shape"]})
    edge_list = []
    for (a, b), edge in sorted(edges.items()):
        boxes = len(edge["codes"])
        text = label("edge_boxes", lang, n=boxes)
        edge_list.append({"value": boxes, "label": text, "title": text, "from": a, "to": b, "arrows": "to"})
    return RingGraph(
        nodes=node_list,
        edges=edge_list,
        details=details,
        notes=notes,
        ring_ids=[str(r["ring_id"]) for r in rings],
        aggregated=aggregated,
    )
