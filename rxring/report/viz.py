"""Offline ring visualisation: one self-contained HTML file, drawn by vis-network.

The graph is the resale graph of DESIGN §4 restricted to the chosen rings: nodes
are patients, prescribers, source sites and laundering sites (colour and shape by
role, size by fund at risk), and each finding joins its actors in the order
prescriber → patient → source site → laundering site (edge label = boxes).
Clicking a node lists its events in a side panel.

:func:`rxring.report.viz_graph.build_ring_graph` writes vis-network's node and edge
objects (as pyvis wrote them, without importing pyvis and the IPython and NetworkX
it pulls in: over a second of a one-ring output); the page is rendered here, not
with pyvis' template, which pulls bootstrap and vis-network from a CDN.  vis-network 9.1.2 is
vendored in ``assets/`` (MIT, from pyvis' own copy) and inlined, the page has a
``default-src 'none'`` Content-Security-Policy, and it makes no request at all.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..errors import RxringError
from ..reveal import permit_reveal
from .data import CaseData, load_case, select_rings
from .htmlkit import esc, page, safe_name, script_json
from .i18n import check_lang, label
from .viz_graph import EVENT_FIELDS, MAX_NODES, ROLE_LABEL, ROLE_STYLE, RingGraph, build_ring_graph

__all__ = [
    "VIS_INERT_URLS",
    "MAX_NODES",
    "ROLE_STYLE",
    "RingGraph",
    "build_ring_graph",
    "render_viz",
    "write_viz",
    "viz_html",
]

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
#network { flex: 3; border: 1px solid #ccc; background: #fff; }
#panel { flex: 2; overflow: auto; border: 1px solid #ccc; padding: 8px; font-size: 13px; }
#panel table { font-size: 12px; }
.legend span.swatch { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 12px; vertical-align: middle; }
h1 { font-size: 20px; margin: 0 0 6px; }
"""


def render_viz(graph: RingGraph, lang: str = "zh", title: str | None = None, reveal_pii: bool = False) -> str:
    """The self-contained HTML page for ``graph`` (vis-network inlined, no external URL)."""
    check_lang(lang)
    if title is None:
        shown = ", ".join(graph.ring_ids[:6]) + (f", … ({len(graph.ring_ids)})" if len(graph.ring_ids) > 6 else "")
        title = f"{label('viz_title', lang)} {shown}"
    legend = "".join(
        f'<span class="swatch" style="background:{esc(ROLE_STYLE[r]["color"])}"></span>{esc(label(ROLE_LABEL[r], lang))}'
        for r in ("patient", "prescriber", "source_site", "laundering_site")
    )
    for group, key in (("patient_group", "role_patient_group"), ("prescriber_group", "role_prescriber_group")):
        if any(n["id"].startswith(group + ":") for n in graph.nodes):
            legend += (
                f'<span class="swatch" style="background:{esc(ROLE_STYLE[group]["color"])}"></span>{esc(label(key, lang))}'
            )
    notes = "".join(f'<p class="note">{esc(n)}</p>' for n in graph.notes)
    pii = label("pii_revealed" if reveal_pii else "pii_masked", lang)
    data = {
        "nodes": graph.nodes,
        "edges": graph.edges,
        "details": graph.details,
        "options": _vis_options(len(graph.nodes)),
        "labels": {"node_events": label("node_events", lang)},
        "event_columns": [label("source" if f == "source" else f, lang) for f in EVENT_FIELDS],
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


def _rings_to_draw(case: CaseData, ring_ids) -> list[dict]:
    rings = select_rings(case, ring_ids)
    if not rings:
        raise RxringError(f"workspace {case.workspace.root} has no rings to draw")
    return rings


def viz_html(case: CaseData, ring_ids=None, lang: str = "zh", reveal_pii: bool = False, max_nodes: int = MAX_NODES) -> str:
    """HTML of the visualisation of ``ring_ids`` (all rings when empty) from a loaded case."""
    rings = _rings_to_draw(case, ring_ids)
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
    operator: str | None = None,
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
        Show personal data unmasked; recorded in the workspace's reveals.jsonl
        (:func:`rxring.reveal.permit_reveal`).
    max_nodes : int
        Aggregation limit (see :func:`build_ring_graph`).
    operator : str, optional
        Who reveals (default RXRING_OPERATOR, else the OS user).

    Examples
    --------
    >>> write_viz("ws", ["R001"], "ring.html")  # doctest: +SKIP
    """
    check_lang(lang)
    if max_nodes < 2:
        raise RxringError(f"--max-nodes must be at least 2, got {max_nodes}")
    case = load_case(workspace, ring_ids)
    _rings_to_draw(case, ring_ids)  # no ring to draw is an error before anything is revealed
    if output is None:
        name = safe_name(ring_ids[0]) if ring_ids and len(ring_ids) == 1 else "rings"
        output = case.workspace.root / "viz" / f"{name}.html"
    output = Path(output)
    what = {"viz": list(ring_ids) if ring_ids else "all", "output": str(output)}
    reveal = permit_reveal(reveal_pii, case.workspace, what, operator, api="rxring.write_viz")
    document = viz_html(case, ring_ids, lang=lang, reveal_pii=reveal, max_nodes=max_nodes)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(document, encoding="utf-8")
    except OSError as exc:
        raise RxringError(f"{output}: cannot write the visualisation: {exc.strerror or exc}") from exc
    return output
