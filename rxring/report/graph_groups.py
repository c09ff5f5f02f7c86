"""Grouping a ring graph's people above a node budget (DESIGN §4, "the resale graph").

One rule for the static report's graph (:mod:`rxring.report.viz_graph`, ``rxring viz
--max-nodes``) and the workbench's ring explorer (:mod:`rxring.serve.graph`): while
the graph has more nodes than the budget, patients are merged into one group per
site they share most boxes with, then prescribers into one group per site or
patient group.  Callers keep their own node and edge records; this module only says
which node joins which group, and merges edges through that.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping

from .i18n import label

__all__ = ["MAX_NODES", "GROUP_STEPS", "GROUP_ANCHORS", "budget_groups", "merge_edges", "group_label"]

#: Node budget of a ring graph (``rxring viz --max-nodes``, ``rxring serve --max-nodes``).
MAX_NODES = 150

#: (role merged, role of its groups), in the order they are merged while a graph is over its budget.
GROUP_STEPS = (("patient", "patient_group"), ("prescriber", "prescriber_group"))

#: Roles a person's group is anchored at.
GROUP_ANCHORS = ("source_site", "laundering_site", "site", "patient_group")


def budget_groups(roles: Mapping[str, str], codes: Mapping[tuple[str, str], set],
                  max_nodes: int = MAX_NODES) -> dict[str, str]:
    """Which nodes to merge into which group so that the graph fits *max_nodes*.

    Parameters
    ----------
    roles : mapping
        Node id -> role (``patient``, ``prescriber``, ``source_site``, ...).
    codes : mapping
        Edge ``(a, b)`` -> the set of trace codes it carries (its weight is their number).
    max_nodes : int
        The budget; nothing is merged when the graph fits.

    Returns
    -------
    dict
        Node id -> group id (``patient_group:<anchor>``, ``prescriber_group:<anchor>``;
        anchor ``none`` for a person joined to no site) for every merged node; a
        prescriber merged after patients maps straight to its final group.

    Examples
    --------
    >>> roles = {"p1": "patient", "p2": "patient", "p3": "patient", "s1": "source_site", "s2": "laundering_site"}
    >>> codes = {("p1", "s1"): {"a"}, ("p1", "s2"): {"b", "c"}, ("p2", "s1"): {"d"}, ("s1", "s2"): {"a", "d"}}
    >>> budget_groups(roles, codes, max_nodes=4)
    {'p1': 'patient_group:s2', 'p2': 'patient_group:s1', 'p3': 'patient_group:none'}
    >>> budget_groups(roles, codes, max_nodes=5)
    {}
    """
    roles, codes = dict(roles), dict(codes)
    mapping: dict[str, str] = {}
    for role, group_role in GROUP_STEPS:
        if len(roles) <= max_nodes:
            break
        best: dict[str, Counter] = defaultdict(Counter)
        for (a, b), carried in codes.items():
            for mine, other in ((a, b), (b, a)):
                if roles.get(mine) == role and roles.get(other) in GROUP_ANCHORS:
                    best[mine][other] += len(carried)
        step = {}
        for node, node_role in roles.items():
            if node_role == role:
                step[node] = f"{group_role}:{best[node].most_common(1)[0][0] if best[node] else 'none'}"
        if not step:
            continue
        mapping = {node: step.get(group, group) for node, group in mapping.items()}
        mapping.update(step)
        roles = {node: r for node, r in roles.items() if node not in step}
        roles.update({group: group_role for group in step.values()})
        codes = merge_edges(codes, step, lambda merged, carried: (merged or set()) | carried)
    return mapping


def merge_edges(edges: Mapping[tuple[str, str], object], mapping: Mapping[str, str],
                merge: Callable[[object, object], object]) -> dict[tuple[str, str], object]:
    """*edges* re-routed through *mapping* (node -> group): parallel edges joined by
    ``merge(joined_so_far_or_None, edge)``, edges inside one group dropped.

    >>> merge_edges({("a", "x"): 1, ("b", "x"): 2, ("a", "b"): 5}, {"a": "g", "b": "g"},
    ...             lambda total, n: (total or 0) + n)
    {('g', 'x'): 3}
    """
    merged: dict[tuple[str, str], object] = {}
    for (a, b), edge in edges.items():
        a, b = mapping.get(a, a), mapping.get(b, b)
        if a != b:
            merged[(a, b)] = merge(merged.get((a, b)), edge)
    return merged


def group_label(group_role: str, members: int, where: str, lang: str) -> str:
    """What a group node says: how many people, and the site (or group) they were merged at.

    >>> group_label("patient_group", 12, "S1 药房", "en")
    '12 patients @ S1 药房'
    """
    if group_role == "patient_group":
        return label("aggregated", lang, n=members, site=where)
    return label("aggregated_prescribers", lang, n=members) + f" → {where}"
