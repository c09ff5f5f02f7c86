"""Planted rings against found rings: the one measure the demo and bench/quality.py share.

A planted ring is found when some reported ring's member set (source patients,
prescribers, source sites, laundering sites) has Jaccard similarity of at least
:data:`JACCARD` with the planted one.  Planted members are restricted to the ids the
data actually shows (brokers are supplier names, never actors of a scan, and drop out).
"""

from __future__ import annotations

import pandas as pd

__all__ = ["JACCARD", "RING_ROLES", "observed_actor_ids", "match_planted_rings"]

JACCARD = 0.8
RING_ROLES = ("source_patients", "prescribers", "source_sites", "laundering_sites")


def observed_actor_ids(workspace) -> set[str]:
    """Every site, patient and prescriber id that appears in a workspace's events."""
    from ..workspace import as_workspace

    ws = as_workspace(workspace)
    table = ws.events_dataset().to_table(columns=["site_id", "patient_id", "prescriber_id"])
    ids: set[str] = set()
    for column in table.column_names:
        ids.update(v for v in table.column(column).unique().to_pylist() if v)
    return ids


def _members(ring: dict, keep: set[str] | None = None) -> set[str]:
    roles = ring.get("members", ring)
    out = set()
    for role in RING_ROLES + ("brokers",):
        out.update(str(v) for v in roles.get(role, []) or [])
    return out if keep is None else out & keep


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def match_planted_rings(truth: dict, rings: pd.DataFrame, observed: set[str] | None = None,
                        threshold: float = JACCARD) -> list[dict]:
    """For each planted ring of *truth* (ground_truth.json), its best-matching found ring.

    Returns
    -------
    list of dict
        ``ring_id, style, members, best, jaccard, found`` per planted ring, in the
        ground truth's order; ``found`` is ``jaccard >= threshold``.
    """
    found_rings = [{role: list(r[role]) for role in RING_ROLES} | {"ring_id": r["ring_id"]}
                   for r in rings.to_dict("records")]
    planted = []
    for ring in truth.get("rings", []):
        want = _members(ring, observed)
        best = max(((_jaccard(want, _members(f)), f["ring_id"]) for f in found_rings), default=(0.0, None))
        planted.append({"ring_id": ring["ring_id"], "style": ring.get("style", ""), "members": len(want),
                        "best": best[1], "jaccard": round(best[0], 3), "found": best[0] >= threshold})
    return planted
