"""Findings → resale graph → rings: communities, roles and a documented score (DESIGN §4).

The resale graph
----------------
Nodes are people and sites, typed: ``("patient", id)``, ``("prescriber", id)``,
``("site", id)``.  Each RESURFACE / DUP_DISPENSE finding is one suspicious box
movement and joins its actors: source prescriber — source patient — laundering
site.  Edge weights count boxes (distinct trace codes); money is kept on the
edges too.

Schemes of one site.  Some findings are not a box travelling from sellers to a
buyer pharmacy but something one site did on its own: NO_PROVENANCE (ghost stock
sold from nowhere), CODE_CONFLICT (串换: a product swap billed to the fund on some
patients' cards), the *same-site split finding* (a movement finding without
source patients whose source sites are all among its laundering sites: a
pharmacy sold more tablets of one box, 拆零, than the box holds) and the
*same-patient refill* (空刷: a DUP_DISPENSE whose sales are all at its source
site and to its source patients, on a box without a RESURFACE finding: the
pack never left the patient, the site settled it again).  Their actors are
nodes of their own kind, ``("patient:<SCHEME>", id)``,
``("prescriber:<SCHEME>", id)``, ``("site:<SCHEME>", id)`` (scheme: the rule,
``SPLIT`` or ``REFILL``), so they never create edges that join resale rings: a pharmacy that
launders one broker's packs and swaps codes for other patients is named in two
rings, and a swap patient who also sells packs to a broker does not pull the
swap pharmacy into the broker's ring.  A same-site split finding's site is a
laundering site, never a source site.  On a box that has a resale finding these
findings join that box's ring (adding boxes, events and money, not members: the
box's movement findings name its people); otherwise the findings of one scheme
at one site form a ring of their own.

Hubs.  A big hospital is the legitimate *source site* of many unrelated rings
(patients of different brokers get their prescriptions there), so source sites are
NOT nodes of the graph that decides rings: a ring is held together by who sold
the packs (source patients, their prescribers) and where they resurfaced
(laundering sites).  A source site enters the graph only when a finding names no
source patient and no prescriber (then it is the only link).  After the rings are
cut, every ring lists its members by role from its own findings, so one hub source
site can be listed in several rings.  Buyers at laundering sites (the second
patients) are never members.

Rings
-----
Rings are the connected components, cut in two steps.

1. Shared laundering sites.  A pharmacy can buy from two brokers (two patient
   groups) that have nothing else in common.  Removing one ``site`` node (an
   articulation point) leaves pieces; a piece with at least
   ``_MIN_RING_PATIENTS`` source patients and a laundering site of its own (a
   group that also sells elsewhere) is a ring of its own; the shared site stays
   with the other pieces (its own suppliers: a group whose only outlet is that
   pharmacy, a lone patient).  The cut is made when it yields two rings with
   that many source patients each, and repeated until no such site is left, on
   components of every size.  One ring whose patients feed several pharmacies
   is not cut: its patients share prescribers and pharmacies, so no single site
   separates them; nor is one pharmacy's ring whose patients come from two
   doctors who share nothing else (nothing in the data tells it apart from two
   groups that sell only to that pharmacy: they stay one ring).
2. Large pieces.  A piece with more than ``options.split_above`` nodes is cut
   with seeded Louvain (:func:`networkx.community.louvain_communities`, weight =
   boxes, ``resolution = options.louvain_resolution``); then a community that
   still sends at least ``options.merge_share`` of its resale box weight (edges
   to prescribers left out) to the others is merged into the one it trades most
   with, repeatedly (Louvain cuts one ring whose patients feed several
   pharmacies, e.g. two doctors' patient groups selling to the same four
   pharmacies, into pieces that sell half or more of their boxes to each other's
   pharmacies; rings glued by one shared member trade a few percent); the split
   is kept when the partition's modularity reaches ``options.min_modularity``.

Each ring-forming finding belongs to the ring of its first source patient (else
of its first prescriber, laundering site or source site), so a laundering site
shared by two rings is listed in both (roles are taken from each ring's own
findings); findings of other rules (EXPIRED) are attached to every ring that
already holds their trace code.

Score
-----
``score = 10·log2(1 + boxes) + 5·log10(1 + fund_at_risk) + 5·log2(1 + patients_per_laundering_site)
+ 10 · speed``, where *patients_per_laundering_site* is the number of distinct
source patients divided by the number of laundering sites (at least 1), and
*speed* = 1 / (1 + median days from source dispense to the last resurfacing event
of the ring's RESURFACE/DUP_DISPENSE findings / 30) (0 when there are none): a
ring that turns many patients' packs into resales within days scores highest.
Rings are ranked by score, then fund at risk, boxes and first finding id; ids are
R001, R002… by rank.

Fund at risk of a ring: for each box, the largest fund amount among the ring's
findings on that box (findings of one box share their sale events), summed over
boxes; the total amount likewise.
"""

from __future__ import annotations

import math
from collections import defaultdict

import networkx as nx
import pandas as pd

from .options import AnalysisOptions
from .schema import RING_COLUMNS

__all__ = ["build_rings", "resale_graph", "ring_score", "empty_rings"]

_MOVEMENT_RULES = ("RESURFACE", "DUP_DISPENSE")

#: Scheme name of same-site split findings (over-limit 拆零 at one pharmacy).
_SPLIT = "SPLIT"

#: Scheme name of same-patient refills (空刷: one site settles a box twice to its patient).
_REFILL = "REFILL"

#: A piece of a component cut off at a shared laundering site is a ring of its own
#: only with at least this many source patients ("pair", the smallest ring, has two).
_MIN_RING_PATIENTS = 2

#: Weight of a prescriber edge per box, relative to patient and pharmacy edges: a
#: doctor also writes for many ordinary patients, so a shared prescriber is weaker
#: evidence that two groups are one ring than a shared patient or pharmacy.
_PRESCRIBER_EDGE = 1.0


def empty_rings() -> pd.DataFrame:
    """A rings table with no rows and the schema.RING_COLUMNS columns."""
    frame = pd.DataFrame({c: pd.Series(dtype="object") for c in RING_COLUMNS})
    return frame.astype({"rank": "int64", "score": "float64", "boxes": "int64", "events": "int64",
                         "fund_at_risk": "float64", "total_amount": "float64",
                         "first_time": "datetime64[us]", "last_time": "datetime64[us]"})


def _col(finding, name: str, fallback: str | None = None) -> list[str]:
    value = finding.get(name)
    if value is None and fallback:
        value = finding.get(fallback)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    return sorted(str(v) for v in value)


def _is_same_site_split(patients: list, source_sites: list, laundering_sites: list) -> bool:
    """A movement finding without source patients whose source sites are all
    laundering sites: split sales (拆零) of one box at one site over its units."""
    return not patients and bool(source_sites) and set(source_sites) <= set(laundering_sites)


def _actors(finding) -> tuple[list, list, list, list]:
    """(source patients, prescribers, source sites, laundering sites) of a finding,
    by ring role: a same-site split finding has no source site (its site launders)."""
    cached = finding.get("_actors")
    if cached is not None:
        return cached
    patients = _col(finding, "source_patients")
    prescribers = _col(finding, "source_prescribers", "prescribers")
    source_sites = _col(finding, "source_sites")
    laundering_sites = _col(finding, "laundering_sites")
    if finding.get("rule") in _MOVEMENT_RULES and _is_same_site_split(patients, source_sites, laundering_sites):
        source_sites = [s for s in source_sites if s not in set(laundering_sites)]
    return patients, prescribers, source_sites, laundering_sites


def _scheme(finding) -> str | None:
    """None for a box movement of the resale graph; else the scheme of one site
    whose actors get nodes of their own kind: the rule (NO_PROVENANCE,
    CODE_CONFLICT, ...) or ``SPLIT`` for a same-site split finding (``REFILL``,
    which needs the other findings of the box, is set by :func:`_records`)."""
    cached = finding.get("_scheme", False)
    if cached is not False:
        return cached
    if finding["rule"] not in _MOVEMENT_RULES:
        return finding["rule"]
    patients = _col(finding, "source_patients")
    if _is_same_site_split(patients, _col(finding, "source_sites"), _col(finding, "laundering_sites")):
        return _SPLIT
    return None


def _kind(finding, role: str) -> str:
    """Node kind of a finding's actors of *role* (patient, prescriber, site):
    the role itself for box movements, ``<role>:<SCHEME>`` for schemes of one site."""
    scheme = _scheme(finding)
    return role if scheme is None else f"{role}:{scheme}"


def _finding_nodes(finding) -> tuple[list[tuple], list[tuple[tuple, tuple]]]:
    """Graph nodes and edges contributed by one ring-forming finding."""
    patients, prescribers, source_sites, laundering_sites = _actors(finding)
    p_nodes = [(_kind(finding, "patient"), p) for p in patients]
    d_nodes = [(_kind(finding, "prescriber"), d) for d in prescribers]
    l_nodes = [(_kind(finding, "site"), s) for s in laundering_sites]
    s_nodes = [(_kind(finding, "site"), s) for s in source_sites] if not p_nodes and not d_nodes else []
    edges = []
    upstream = p_nodes or d_nodes or s_nodes
    if p_nodes:
        edges += [(d, p) for d in d_nodes for p in p_nodes]
    for u in upstream:
        edges += [(u, lnode) for lnode in l_nodes if lnode != u]
    if not l_nodes:   # no laundering site: keep the upstream actors together
        edges += [(a, b) for a, b in zip(upstream, upstream[1:])]
    nodes = list(dict.fromkeys(p_nodes + d_nodes + s_nodes + l_nodes))
    return nodes, edges


_RECORD_COLUMNS = ("finding_id", "rule", "trace_codes", "patients", "source_patients", "source_prescribers",
                   "prescribers", "source_sites", "laundering_sites", "fund_amount", "total_amount", "event_ids",
                   "first_time", "last_time")


def _records(findings: pd.DataFrame) -> list[dict]:
    """The columns rings need, as dicts sorted by finding_id (lists as Python lists),
    with each finding's scheme (``_scheme``) and ring roles (``_actors``)."""
    columns = [c for c in _RECORD_COLUMNS if c in findings.columns]
    values = []
    for column in columns:
        series = findings[column]
        if series.dtype == object or column in ("trace_codes", "event_ids"):
            values.append([v if isinstance(v, list) else (list(v) if v is not None and not isinstance(v, float) else v)
                           for v in series.tolist()])
        else:
            values.append(series.tolist())
    records = [dict(zip(columns, row)) for row in zip(*values)]
    resurfaced = {c for r in records if r["rule"] == "RESURFACE" for c in r["trace_codes"]}
    for record in records:
        record["_scheme"] = _scheme(record)
        if record["_scheme"] is None and _is_refill(record, resurfaced):
            record["_scheme"] = _REFILL
        record["_actors"] = _actors(record)
    return sorted(records, key=lambda f: f["finding_id"])


def _is_refill(finding, resurfaced: set) -> bool:
    """A same-patient refill (空刷): a DUP_DISPENSE whose sales are all at its
    source site and to its source patients, on a box that never resurfaced."""
    if finding["rule"] != "DUP_DISPENSE" or resurfaced.intersection(finding["trace_codes"]):
        return False
    source_patients, everyone = set(_col(finding, "source_patients")), set(_col(finding, "patients"))
    source_sites, laundering_sites = set(_col(finding, "source_sites")), set(_col(finding, "laundering_sites"))
    return bool(source_patients) and everyone == source_patients and bool(source_sites) \
        and source_sites == laundering_sites


def _split_findings(findings: pd.DataFrame, options: AnalysisOptions) -> tuple[list[dict], list[dict]]:
    """(ring-forming findings, findings attached by trace code), each sorted by finding_id.

    Box movements (RESURFACE, DUP_DISPENSE) form rings.  Schemes of one site
    (NO_PROVENANCE, CODE_CONFLICT, same-site split findings, same-patient
    refills) form rings of their
    own unless their trace code already has a box-movement finding, in which case
    they describe the same box and join its ring; EXPIRED (and any rule left out
    of ``options.ring_rules``) only joins rings that hold its trace code.
    """
    records = _records(findings)
    movement_codes = {c for f in records if f["_scheme"] is None and f["rule"] in options.ring_rules
                      for c in f["trace_codes"]}
    forming, attached = [], []
    for finding in records:
        if finding["rule"] not in options.ring_rules:
            attached.append(finding)
        elif finding["_scheme"] is None or not movement_codes.intersection(finding["trace_codes"]):
            forming.append(finding)
        else:
            attached.append(finding)
    return forming, attached


def resale_graph(findings: pd.DataFrame, options: AnalysisOptions | None = None) -> nx.Graph:
    """The resale graph of the ring-forming findings (see the module docstring).

    Nodes are ``(kind, id)`` with kind patient, prescriber, site (or
    ``<kind>:<SCHEME>`` for the actors of schemes of one site: ghost stock,
    product swaps, same-site split findings); edges
    carry ``weight`` (boxes), ``fund`` and ``finding_ids``.  Nodes and edges are
    added in sorted order so that community detection is reproducible for a seed.
    """
    options = options or AnalysisOptions()
    forming, _ = _split_findings(findings, options)
    return _graph(forming)


def _graph(forming: list[dict]) -> nx.Graph:
    boxes: dict[tuple, set] = defaultdict(set)
    fund: dict[tuple, float] = defaultdict(float)
    fids: dict[tuple, set] = defaultdict(set)
    nodes: set = set()
    for finding in forming:
        f_nodes, f_edges = _finding_nodes(finding)
        nodes.update(f_nodes)
        for a, b in f_edges:
            key = (a, b) if a <= b else (b, a)
            boxes[key].update(finding["trace_codes"])
            fund[key] += float(finding.get("fund_amount") or 0.0)
            fids[key].add(finding["finding_id"])
    graph = nx.Graph()
    for node in sorted(nodes):
        graph.add_node(node, kind=node[0])
    for key in sorted(boxes):
        factor = _PRESCRIBER_EDGE if key[0][0] == "prescriber" or key[1][0] == "prescriber" else 1.0
        graph.add_edge(*key, weight=factor * len(boxes[key]), boxes=len(boxes[key]), fund=round(fund[key], 2),
                       finding_ids=sorted(fids[key]))
    return graph


def _merge_close(sub: nx.Graph, parts: list[set], share: float) -> list[set]:
    """Merge back communities that keep at least *share* of their weight outside.

    Weight here is resale boxes: edges to a prescriber are left out (a doctor
    writes for the patients of his group whichever ring they sell to, so they
    would only dilute the share).  Repeatedly takes the community with the
    largest external share (weight to other communities / its volume; ties: the
    earliest) and, while that share is
    >= *share*, merges it into the community it trades most with (ties: the
    earliest).  Works on the community graph, updated in place at each merge.
    """
    index = {node: i for i, part in enumerate(parts) for node in part}
    members = {i: set(part) for i, part in enumerate(parts)}
    volume = defaultdict(float)
    between: dict[int, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for a, b, w in sub.edges(data="weight"):
        if a[0] == "prescriber" or b[0] == "prescriber":
            continue   # resale boxes only: a doctor writes for one ring's patients either way
        i, j = index[a], index[b]
        volume[i] += w
        volume[j] += w
        if i != j:
            between[i][j] += w
            between[j][i] += w
    while len(members) > 1:
        def ratio(k: int) -> float:
            return sum(between[k].values()) / volume[k] if volume[k] else 0.0

        worst = max(sorted(members), key=lambda k: (ratio(k), -k))
        if ratio(worst) < share or not between[worst]:
            break
        partner = max(sorted(between[worst]), key=lambda j: (between[worst][j], -j))
        members[partner] |= members.pop(worst)
        volume[partner] += volume.pop(worst)
        for other, w in between.pop(worst).items():
            between[other].pop(worst, None)
            if other != partner:
                between[partner][other] += w
                between[other][partner] += w
    return [members[k] for k in sorted(members)]


def _cut_sites(sub: nx.Graph) -> tuple[dict[tuple, set[int]], dict[tuple, int]]:
    """Where a connected group is cut at shared laundering sites (step 1).

    One pass over the block-cut tree: for every articulation point of kind
    ``site``, the pieces left by its removal are the subtrees hanging from it
    (one per biconnected block holding the site), so their source patients and
    other sites are counted without removing it.

    Returns
    -------
    (hub_blocks, block_of_edge)
        For each site to cut, the blocks whose pieces stay with it (its own
        suppliers); and the block of every edge, keyed by ``(min, max)`` of its
        nodes.
    """
    blocks, block_of_edge = [], {}
    for i, edges in enumerate(nx.biconnected_component_edges(sub)):
        nodes = set()
        for a, b in edges:
            block_of_edge[(a, b) if a <= b else (b, a)] = i
            nodes.update((a, b))
        blocks.append(nodes)
    seen: dict = defaultdict(int)
    for block in blocks:
        for node in block:
            seen[node] += 1
    cut_set = {n for n, k in seen.items() if k > 1}
    if not any(n[0] == "site" for n in cut_set):
        return {}, block_of_edge
    # block-cut tree: ("B", i) for blocks, ("A", node) for articulation points;
    # each graph node is counted once: at its articulation point, else in its block
    tree: dict[tuple, list[tuple]] = defaultdict(list)
    weight: dict[tuple, tuple[int, int]] = {}
    for i, block in enumerate(blocks):
        inner = [n for n in block if n not in cut_set]
        weight[("B", i)] = (sum(n[0] == "patient" for n in inner), sum(n[0] == "site" for n in inner))
        for node in sorted(block & cut_set):
            tree[("B", i)].append(("A", node))
            tree[("A", node)].append(("B", i))
    for node in cut_set:
        weight[("A", node)] = (int(node[0] == "patient"), int(node[0] == "site"))
    root = ("B", 0)
    order, parent, stack = [], {root: None}, [root]
    while stack:   # iterative DFS: deep trees must not hit the recursion limit
        t = stack.pop()
        order.append(t)
        for u in tree[t]:
            if u not in parent:
                parent[u] = t
                stack.append(u)
    total: dict[tuple, list[int]] = {t: list(weight[t]) for t in order}
    for t in reversed(order):
        if parent[t] is not None:
            total[parent[t]][0] += total[t][0]
            total[parent[t]][1] += total[t][1]
    all_patients, all_sites = total[root]
    hub_blocks = {}
    for node in sorted(n for n in cut_set if n[0] == "site"):
        a_node = ("A", node)
        pieces = {}   # block id -> (patients, sites) of the piece beyond it
        for u in tree[a_node]:
            if u == parent[a_node]:
                pieces[u[1]] = (all_patients - total[a_node][0], all_sites - total[a_node][1])
            else:
                pieces[u[1]] = tuple(total[u])
        own = {i for i, (patients, sites) in pieces.items() if patients >= _MIN_RING_PATIENTS and sites > 0}
        hub_patients = all_patients - sum(pieces[i][0] for i in own)
        if len(own) >= 2 or (own and hub_patients >= _MIN_RING_PATIENTS):
            hub_blocks[node] = set(pieces) - own
    return hub_blocks, block_of_edge


def _cut(sub: nx.Graph) -> list[set] | None:
    """One round of step 1 on a connected group, or None when nothing is cut.

    Every site of :func:`_cut_sites` is cut at once: a piece with at least
    ``_MIN_RING_PATIENTS`` source patients and a laundering site of its own goes
    its own way, the site keeps the other pieces.  A piece left with fewer
    source patients and no cut site (a patient between two cut sites) joins the
    cut site it sends the most boxes to (ties: the smallest site).
    """
    hub_blocks, block_of_edge = _cut_sites(sub)
    if not hub_blocks:
        return None
    keep = nx.Graph()
    keep.add_nodes_from(sub)
    for a, b in sub.edges():
        key = (a, b) if a <= b else (b, a)
        if all(n not in hub_blocks or block_of_edge[key] in hub_blocks[n] for n in (a, b)):
            keep.add_edge(a, b)
    groups = sorted((set(g) for g in nx.connected_components(keep)), key=min)
    group_of = {n: i for i, g in enumerate(groups) for n in g}
    for i, group in enumerate(groups):
        if any(n in hub_blocks for n in group) or sum(n[0] == "patient" for n in group) >= _MIN_RING_PATIENTS:
            continue
        links = defaultdict(float)
        for n in group:
            for m, data in sub[n].items():
                if m in hub_blocks:
                    links[m] += data["weight"]
        if links:
            site = min(links, key=lambda m: (-links[m], m))
            target = group_of[site]
            groups[target] |= group
            for n in group:
                group_of[n] = target
            groups[i] = set()
    return [g for g in groups if g]


def _cut_shared_sites(graph: nx.Graph, component: set) -> list[set]:
    """A component cut at shared laundering sites until none is left, sorted by smallest node."""
    todo, done = [set(component)], []
    while todo:
        group = todo.pop()
        parts = _cut(graph.subgraph(group)) if len(group) > 2 else None
        if parts is None:
            done.append(group)
        else:
            todo.extend(parts)
    return sorted(done, key=min)


def _louvain(graph: nx.Graph, group: set, options: AnalysisOptions) -> list[set]:
    """A large group cut by seeded Louvain, close communities merged back (step 2)."""
    sub = nx.Graph()
    sub.add_nodes_from(sorted(group))
    sub.add_edges_from(sorted((min(a, b), max(a, b), d) for a, b, d in graph.subgraph(group).edges(data=True)))
    parts = nx.community.louvain_communities(sub, weight="weight", resolution=options.louvain_resolution,
                                             seed=options.seed)
    parts = _merge_close(sub, [set(p) for p in sorted(parts, key=min)], options.merge_share)
    if len(parts) > 1 and nx.community.modularity(sub, parts, weight="weight") >= options.min_modularity:
        return parts
    return [group]


def _communities(graph: nx.Graph, options: AnalysisOptions) -> list[frozenset]:
    """Rings as node sets, sorted by smallest node (module docstring, "Rings").

    Each connected component is cut at laundering sites shared by otherwise
    separate rings; a resulting group with more than ``options.split_above``
    nodes is cut by Louvain; communities trading at least
    ``options.merge_share`` of their weight are merged back, and the Louvain
    split is kept only when the partition's modularity reaches
    ``options.min_modularity``.
    """
    groups = []
    for component in nx.connected_components(graph):
        for group in _cut_shared_sites(graph, component):
            if len(group) > options.split_above:
                groups.extend(frozenset(p) for p in _louvain(graph, group, options))
            else:
                groups.append(frozenset(group))
    return sorted(groups, key=min)


def ring_score(boxes: int, fund_at_risk: float, source_patients: int, laundering_sites: int,
               median_days: float | None) -> float:
    """The documented ring score (module docstring), rounded to 2 decimals.

    Examples
    --------
    >>> ring_score(boxes=1, fund_at_risk=0.0, source_patients=1, laundering_sites=1, median_days=None)
    15.0
    """
    per_site = source_patients / max(1, laundering_sites)
    speed = 0.0 if median_days is None else 1.0 / (1.0 + max(0.0, median_days) / 30.0)
    score = (10 * math.log2(1 + boxes) + 5 * math.log10(1 + max(0.0, fund_at_risk))
             + 5 * math.log2(1 + per_site) + 10 * speed)
    return round(score, 2)


def _anchor(finding) -> tuple | None:
    """The graph node whose ring a finding belongs to.

    The first source patient (a laundering pharmacy may work for several rings,
    its patients do not), else prescriber, laundering site, source site.
    """
    patients, prescribers, source_sites, laundering_sites = _actors(finding)
    for role, values in (("patient", patients), ("prescriber", prescribers), ("site", laundering_sites),
                         ("site", source_sites)):
        if values:
            return (_kind(finding, role), values[0])
    return None


def build_rings(findings: pd.DataFrame, options: AnalysisOptions | None = None) -> pd.DataFrame:
    """Scored rings from findings (any engine's), deterministic for the same input and seed.

    Parameters
    ----------
    findings
        Findings with schema.FINDING_COLUMNS (``source_patients`` and
        ``source_prescribers`` are used when present; without them ``patients`` are
        not split by role and ``prescribers`` stand for source prescribers).
    options
        Uses ``ring_rules``, ``split_above``, ``louvain_resolution`` and ``seed``.

    Returns
    -------
    pandas.DataFrame
        schema.RING_COLUMNS, one row per ring, ordered by rank (ring ids R001…).
    """
    options = options or AnalysisOptions()
    if findings is None or len(findings) == 0:
        return empty_rings()
    forming, attachable = _split_findings(findings, options)
    graph = _graph(forming)
    communities = _communities(graph, options)
    ring_of_node = {node: i for i, group in enumerate(communities) for node in group}
    members: dict[int, list[dict]] = defaultdict(list)
    for finding in forming:
        anchor = _anchor(finding)
        if anchor is not None and anchor in ring_of_node:
            members[ring_of_node[anchor]].append(finding)
    codes_of_ring = {i: {c for f in fs for c in f["trace_codes"]} for i, fs in members.items()}
    rings_of_code = defaultdict(list)
    for i, codes in codes_of_ring.items():
        for code in codes:
            rings_of_code[code].append(i)
    attached: dict[int, list[dict]] = defaultdict(list)
    for finding in attachable:
        for i in sorted({i for c in finding["trace_codes"] for i in rings_of_code.get(c, [])}):
            attached[i].append(finding)
    rows = [_ring_row(fs, attached[i]) for i, fs in sorted(members.items()) if fs]
    if not rows:
        return empty_rings()
    rows.sort(key=lambda r: (-r["score"], -r["fund_at_risk"], -r["boxes"], r["finding_ids"][0]))
    width = max(3, len(str(len(rows))))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
        row["ring_id"] = f"R{rank:0{width}d}"
    frame = pd.DataFrame(rows)[list(RING_COLUMNS)]
    for column in ("first_time", "last_time"):
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[us]")
    return frame.astype({"rank": "int64", "boxes": "int64", "events": "int64"})


def _ring_row(forming: list[dict], attached: list[dict]) -> dict:
    """One ring's row: members by role from its ring-forming findings only (findings
    attached by trace code, e.g. EXPIRED, or NO_PROVENANCE at the source site of a
    resold box, add boxes, events, money and rules, not members)."""
    roles = {"source_patients": set(), "prescribers": set(), "source_sites": set(), "laundering_sites": set()}
    fund_by_box: dict[str, float] = defaultdict(float)
    total_by_box: dict[str, float] = defaultdict(float)
    events, rules, spans = set(), set(), []
    findings = forming + attached
    for f in forming:
        patients, prescribers, source_sites, laundering_sites = _actors(f)
        roles["source_patients"].update(patients)
        roles["prescribers"].update(prescribers)
        roles["source_sites"].update(source_sites)
        roles["laundering_sites"].update(laundering_sites)
    for f in findings:
        for code in f["trace_codes"]:
            fund_by_box[code] = max(fund_by_box[code], float(f.get("fund_amount") or 0.0))
            total_by_box[code] = max(total_by_box[code], float(f.get("total_amount") or 0.0))
        events.update(f["event_ids"])
        rules.add(f["rule"])
        if f["rule"] in _MOVEMENT_RULES and pd.notna(f["first_time"]) and pd.notna(f["last_time"]):
            spans.append((pd.Timestamp(f["last_time"]) - pd.Timestamp(f["first_time"])).total_seconds() / 86400)
    fund = round(sum(fund_by_box.values()), 2)
    median_days = float(pd.Series(spans).median()) if spans else None
    firsts = [pd.Timestamp(f["first_time"]) for f in findings if pd.notna(f["first_time"])]
    lasts = [pd.Timestamp(f["last_time"]) for f in findings if pd.notna(f["last_time"])]
    return {
        "score": ring_score(len(fund_by_box), fund, len(roles["source_patients"]), len(roles["laundering_sites"]),
                            median_days),
        **{role: sorted(values) for role, values in roles.items()},
        "boxes": len(fund_by_box),
        "events": len(events),
        "fund_at_risk": fund,
        "total_amount": round(sum(total_by_box.values()), 2),
        "first_time": min(firsts) if firsts else pd.NaT,
        "last_time": max(lasts) if lasts else pd.NaT,
        "rules": sorted(rules),
        "finding_ids": sorted(f["finding_id"] for f in findings),
    }
