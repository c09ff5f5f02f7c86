"""Offline ring visualisation: one self-contained HTML file, drawn by vis-network.

The graph is the resale graph of DESIGN §4 restricted to the chosen rings: nodes
are patients, prescribers, source sites and laundering sites (colour and shape by
role, size by fund at risk), and each finding joins its actors in the order
prescriber → patient → source site → laundering site (edge label = boxes).
Clicking a node lists its events in a side panel.

pyvis builds the node and edge lists; the page itself is rendered here, because
pyvis' template pulls bootstrap and vis-network from a CDN.  vis-network 9.1.2 is
vendored in ``assets/`` (MIT, from pyvis' own copy) and inlined, the page has a
``default-src 'none'`` Content-Security-Policy, and it makes no request at all.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from pyvis.network import Network

from ..errors import RxringError
from .data import CaseData, fmt_money, fund_of, fmt_time, load_case, load_events, ring_findings, select_rings
from .html import esc, page, safe_name, script_json
from .i18n import check_lang, label
from .pii import Masker

__all__ = [
    "ROLE_STYLE",
    "MAX_NODES",
    "MAX_EVENTS_PER_NODE",
    "VIS_INERT_URLS",
    "RingGraph",
    "build_ring_graph",
    "render_viz",
    "write_viz",
    "viz_html",
]

# Above this many nodes, patients are grouped per site (and then prescribers).
MAX_NODES = 150
MAX_EVENTS_PER_NODE = 200

ROLE_STYLE = {
    "patient": {"color": "#4e79a7", "shape": "dot"},
    "patient_group": {"color": "#76b7e5", "shape": "hexagon"},
    "prescriber": {"color": "#59a14f", "shape": "triangle"},
    "prescriber_group": {"color": "#8cd17d", "shape": "triangle"},
    "source_site": {"color": "#f28e2b", "shape": "square"},
    "laundering_site": {"color": "#e15759", "shape": "star"},
}
_ROLE_LABEL = {
    "patient": "role_patient",
    "patient_group": "role_patient",
    "prescriber": "role_prescriber",
    "prescriber_group": "role_prescriber",
    "source_site": "role_source_site",
    "laundering_site": "role_laundering_site",
}
_EVENT_FIELDS = ("event_time", "event_type", "trace_code", "site", "patient", "prescriber", "quantity", "fund_amount", "source")

# Harmless URL text inside the vendored vis-network bundle (licence banners, the SVG
# namespace, an error message); nothing in it is ever fetched.
VIS_INERT_URLS = (
    "https://visjs.github.io/vis-network/",
    "http://almende.com",
    "https://github.com/visjs",
    "http://www.apache.org/licenses/LICENSE-2.0",
    "http://opensource.org/licenses/MIT",
    "http://www.w3.org/2000/svg",
    "https://github.com/uuidjs/uuid#getrandomvalues-not-supported",
    "https://github.com/zloirock/core-js",
    "https://github.com/zloirock/core-js/blob/v3.21.1/LICENSE",
)


def _asset(name: str) -> str:
    return resources.files("rxring.report").joinpath("assets", name).read_text(encoding="utf-8")


def _template(name: str) -> str:
    return resources.files("rxring.report").joinpath("templates", name).read_text(encoding="utf-8")


@dataclass
class _Node:
    node_id: str
    role: str
    member_id: str
    display: str
    findings: set = field(default_factory=set)
    codes: set = field(default_factory=set)
    members: list = field(default_factory=list)  # raw member ids (groups have many)


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


def _regroup(nodes, edges, mapping: dict[str, str], new_nodes: dict[str, _Node]):
    """Merge nodes by ``mapping`` (old id → group id) and re-route their edges."""
    merged_nodes = {k: v for k, v in nodes.items() if k not in mapping}
    merged_nodes.update(new_nodes)
    merged_edges: dict[tuple[str, str], dict] = {}
    for (a, b), edge in edges.items():
        a2, b2 = mapping.get(a, a), mapping.get(b, b)
        if a2 == b2:
            continue
        target = merged_edges.setdefault((a2, b2), {"findings": set(), "codes": set()})
        target["findings"] |= edge["findings"]
        target["codes"] |= edge["codes"]
    return merged_nodes, merged_edges


def _group_by_site(nodes, edges, role: str, group_role: str, case: CaseData, lang: str):
    """Group every ``role`` node with the site (or site group) it shares most boxes with."""
    anchors = ("source_site", "laundering_site", "patient_group")
    best: dict[str, Counter] = defaultdict(Counter)
    for (a, b), edge in edges.items():
        for mine, other in ((a, b), (b, a)):
            if nodes[mine].role == role and nodes[other].role in anchors:
                best[mine][other] += len(edge["codes"])
    mapping, groups = {}, {}
    for node_id, item in nodes.items():
        if item.role != role:
            continue
        anchor = best[node_id].most_common(1)[0][0] if best[node_id] else "none"
        group_id = f"{group_role}:{anchor}"
        mapping[node_id] = group_id
        group = groups.get(group_id)
        if group is None:
            group = groups[group_id] = _Node(group_id, group_role, "", "", members=[])
            group.anchor = anchor
        group.findings |= item.findings
        group.codes |= item.codes
        group.members.extend(item.members)
    for group in groups.values():
        anchor = nodes.get(group.anchor)
        where = anchor.display if anchor is not None else "?"
        if group_role == "patient_group":
            group.display = label("aggregated", lang, n=len(group.members), site=where)
        else:
            group.display = label("aggregated_prescribers", lang, n=len(group.members)) + f" → {where}"
    return _regroup(nodes, edges, mapping, groups)


def build_ring_graph(
    case: CaseData,
    rings: list[dict],
    lang: str = "zh",
    masker: Masker | None = None,
    max_nodes: int = MAX_NODES,
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

    Returns
    -------
    RingGraph
    """
    masker = masker or case.masker(reveal=False)
    nodes, edges, findings = _collect(case, rings, masker)
    notes, aggregated = [], False
    if len(nodes) > max_nodes:
        nodes, edges = _group_by_site(nodes, edges, "patient", "patient_group", case, lang)
        aggregated = True
        notes.append(label("aggregation_note", lang, limit=max_nodes))
    if len(nodes) > max_nodes:
        nodes, edges = _group_by_site(nodes, edges, "prescriber", "prescriber_group", case, lang)

    event_ids = {e for f in findings.values() for e in f["event_ids"]}
    events = load_events(case, event_ids=event_ids) if event_ids else None
    per_member: dict[tuple[str, str], list[dict]] = defaultdict(list)
    if events is not None and len(events):
        events = events[events["event_id"].isin(event_ids)]
        for row in events.to_dict("records"):
            for kind, column in (("site", "site_id"), ("patient", "patient_id"), ("prescriber", "prescriber_id")):
                value = row.get(column)
                if value is not None and value == value:
                    per_member[(kind, str(value))].append(row)

    def event_row(row: dict) -> list[str]:
        site = str(row.get("site_id") or "")
        site_name = case.site_name(site)
        source = f"{row.get('source_file') or ''}:{row.get('source_line') if row.get('source_line') is not None else ''}"
        quantity = row.get("quantity")
        return [
            fmt_time(row.get("event_time")),
            label(row["event_type"], lang) if row.get("event_type") in _EVENT_TYPES else str(row.get("event_type") or ""),
            str(row.get("trace_code") or ""),
            f"{site_name} ({site})" if site_name else site,
            masker.person(row.get("patient_id")),
            masker.person(row.get("prescriber_id")),
            "" if quantity is None or quantity != quantity else f"{quantity:g}",
            fmt_money(row.get("fund_amount")),
            masker.text(source),
        ]

    net = Network(directed=True, cdn_resources="in_line", height="100%", width="100%")
    details: dict[str, dict] = {}
    funds = {}
    for node_id, item in nodes.items():
        funds[node_id] = fund_of(findings[f] for f in item.findings)
    for node_id, item in sorted(nodes.items()):
        style = ROLE_STYLE[item.role]
        role_name = label(_ROLE_LABEL[item.role], lang)
        kind = "site" if item.role.endswith("site") else item.role.split("_")[0]
        rows = []
        for member in item.members:
            rows.extend(per_member.get((kind, member), []))
        rows.sort(key=lambda r: (fmt_time(r.get("event_time")), str(r.get("event_id"))))
        shown = rows[:MAX_EVENTS_PER_NODE]
        facts = [
            [label("role", lang), role_name],
            [label("fund_at_risk", lang), fmt_money(funds[node_id])],
            [label("boxes", lang), str(len(item.codes))],
            [label("findings_count", lang), str(len(item.findings))],
        ]
        if item.role.endswith("group"):
            facts.append([label("members", lang), str(len(item.members))])
        details[node_id] = {
            "label": f"{role_name}: {item.display}",
            "facts": facts,
            "events": [event_row(r) for r in shown],
            "more": len(rows) - len(shown),
            "more_text": label("more_events", lang, n=len(rows) - len(shown)),
        }
        title = f"{role_name}: {item.display}\n{label('fund_at_risk', lang)}: {fmt_money(funds[node_id])}\n{label('boxes', lang)}: {len(item.codes)}"
        net.add_node(
            node_id,
            label=item.display if len(item.display) <= 40 else item.display[:39] + "…",
            title=title,
            color=style["color"],
            shape=style["shape"],
            value=max(funds[node_id], 1.0),
        )
    for (a, b), edge in sorted(edges.items()):
        boxes = len(edge["codes"])
        net.add_edge(a, b, value=boxes, label=label("edge_boxes", lang, n=boxes), title=label("edge_boxes", lang, n=boxes))
    vis_nodes, vis_edges = net.get_nodes(), net.edges
    return RingGraph(
        nodes=[net.get_node(n) for n in vis_nodes],
        edges=list(vis_edges),
        details=details,
        notes=notes,
        ring_ids=[str(r["ring_id"]) for r in rings],
        aggregated=aggregated,
    )


_EVENT_TYPES = {"inbound", "purchase_return", "dispense", "refund", "transfer_out", "transfer_in", "adjust", "inventory"}


def _vis_options(node_count: int) -> dict:
    big = node_count > 60
    return {
        "autoResize": True,
        "nodes": {"scaling": {"min": 8, "max": 36}, "font": {"size": 13, "face": "sans-serif"}},
        "edges": {
            "arrows": {"to": {"enabled": True, "scaleFactor": 0.5}},
            "color": {"color": "#999999", "highlight": "#333333"},
            "font": {"size": 11, "align": "middle", "color": "#555555"},
            "scaling": {"min": 1, "max": 8, "label": {"enabled": False}},
            "smooth": False if big else {"type": "continuous"},
        },
        "layout": {"randomSeed": 7, "improvedLayout": not big},
        "interaction": {"hover": True, "tooltipDelay": 150, "navigationButtons": False, "hideEdgesOnDrag": big},
        "physics": {
            "enabled": True,
            "solver": "forceAtlas2Based",
            "forceAtlas2Based": {"gravitationalConstant": -60, "springLength": 110, "avoidOverlap": 0.4},
            "stabilization": {"enabled": True, "iterations": 600 if big else 300, "updateInterval": 50, "fit": True},
        },
    }


_VIZ_CSS = """
#layout { display: flex; gap: 12px; height: calc(100vh - 140px); min-height: 480px; }
#network { flex: 1; border: 1px solid #ccc; background: #fff; }
#panel { flex: 1; overflow: auto; border: 1px solid #ccc; padding: 8px; font-size: 13px; }
#panel table { font-size: 12px; }
.legend span.swatch { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 12px; vertical-align: middle; }
h1 { font-size: 20px; margin: 0 0 6px; }
"""


def render_viz(graph: RingGraph, lang: str = "zh", title: str | None = None, reveal_pii: bool = False) -> str:
    """The self-contained HTML page for ``graph`` (vis-network inlined, no external URL)."""
    check_lang(lang)
    title = title or f"{label('viz_title', lang)} {', '.join(graph.ring_ids)}"
    legend = "".join(
        f'<span class="swatch" style="background:{esc(ROLE_STYLE[r]["color"])}"></span>{esc(label(_ROLE_LABEL[r], lang))}'
        for r in ("patient", "prescriber", "source_site", "laundering_site")
    )
    notes = "".join(f'<p class="note">{esc(n)}</p>' for n in graph.notes)
    pii = label("pii_revealed" if reveal_pii else "pii_masked", lang)
    data = {
        "nodes": graph.nodes,
        "edges": graph.edges,
        "details": graph.details,
        "options": _vis_options(len(graph.nodes)),
        "labels": {"node_events": label("node_events", lang)},
        "event_columns": [label("source" if f == "source" else f, lang) for f in _EVENT_FIELDS],
    }
    body = (
        f"<h1>{esc(title)}</h1>\n"
        f'<p class="legend">{esc(label("legend", lang))}: {legend} · {esc(label("size_by_money", lang))} · '
        f'<span class="{"pii" if reveal_pii else "note"}">{esc(pii)}</span></p>\n{notes}\n'
        '<div id="layout"><div id="network"></div>'
        f'<div id="panel"><div id="panel-body"><p class="note">{esc(label("click_node", lang))}</p></div></div></div>\n'
        f'<script type="application/json" id="ring-data">{script_json(data)}</script>\n'
    )
    scripts = [_asset("vis-network.min.js"), _template("viz.js")]
    return page(title, body, lang, scripts=scripts, css=_asset("vis-network.css") + _VIZ_CSS)


def viz_html(case: CaseData, ring_ids=None, lang: str = "zh", reveal_pii: bool = False, max_nodes: int = MAX_NODES) -> str:
    """HTML of the visualisation of ``ring_ids`` (all rings when empty) from a loaded case."""
    rings = select_rings(case, ring_ids)
    if not rings:
        raise RxringError(f"workspace {case.workspace.root} has no rings to draw")
    masker = case.masker(reveal=reveal_pii)
    graph = build_ring_graph(case, rings, lang=lang, masker=masker, max_nodes=max_nodes)
    return render_viz(graph, lang=lang, reveal_pii=reveal_pii)


def write_viz(
    workspace,
    ring_ids=None,
    output: str | Path | None = None,
    lang: str = "zh",
    reveal_pii: bool = False,
    max_nodes: int = MAX_NODES,
) -> Path:
    """Write the ring visualisation of a workspace to ``output`` and return its path.

    Parameters
    ----------
    workspace : path or Workspace
        An analysed workspace.
    ring_ids : list of str, optional
        Rings to draw; all rings when empty.
    output : path, optional
        Defaults to ``<workspace>/viz/<ring>.html`` (or ``rings.html`` for several).
    lang : {"zh", "en"}
    reveal_pii : bool
        Show personal data unmasked.
    max_nodes : int
        Aggregation limit (see :func:`build_ring_graph`).

    Examples
    --------
    >>> write_viz("ws", ["R001"], "ring.html")  # doctest: +SKIP
    """
    check_lang(lang)
    if max_nodes < 2:
        raise RxringError(f"--max-nodes must be at least 2, got {max_nodes}")
    case = load_case(workspace)
    document = viz_html(case, ring_ids, lang=lang, reveal_pii=reveal_pii, max_nodes=max_nodes)
    if output is None:
        name = safe_name(ring_ids[0]) if ring_ids and len(ring_ids) == 1 else "rings"
        output = case.workspace.root / "viz" / f"{name}.html"
    output = Path(output)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(document, encoding="utf-8")
    except OSError as exc:
        raise RxringError(f"{output}: cannot write the visualisation: {exc.strerror or exc}") from exc
    return output
