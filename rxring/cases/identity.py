"""Stable identity across re-analysis: ring ids carried over, ring lineage, findings marked new.

A finding's id is already stable: ``<RULE>:<trace code>[:<discriminator>]``
(:func:`rxring.rules.findings.assemble_findings`), so the same finding has the same
id in every run.  Ring ids are not: :func:`rxring.rings.build_rings` numbers rings
R001, R002… by rank.  On a re-analysis :func:`carry_ring_ids` renames the new
rings after the rings of the previous run (the published generation the analysis
starts from, :func:`previous_run`):

- **Members.**  What identifies a ring is who sold the packs and where they
  resurfaced: its source patients and laundering sites, typed (``patient:…``,
  ``site:…``): :func:`ring_members`.  Prescribers and source sites (hospitals) are
  hubs that unrelated rings share (:mod:`rxring.rings`), so they count only for a
  ring that has neither; the members of a ring without source patients (a scheme
  of one site) are typed with its rules too.
- **Links.**  A previous ring *P* and a new ring *N* are linked when they share
  members making up at least :data:`LINK_SHARE` of the smaller of the two (the
  overlap coefficient): a ring that gained a month of patients stays linked to
  what it was.
- **Same ring.**  Linked pairs are taken one to one, best Jaccard index first
  (ties: previous id, then new rank); *N* keeps *P*'s id.  A new ring left over
  is matched the same way against the rings whose ids an earlier run stopped
  using (vanished, merged or split away: ``retired`` in the lineage file) and
  takes that id back (a ring found again, a merge undone); the rest get fresh
  ids, numbered after the highest id ever given in this workspace (never one
  used before).
- **Lineage.**  Every previous ring gets one record: ``kept`` (one link each
  way), ``split`` (linked to two or more new rings), ``merged`` (its one new
  ring is linked to two or more previous rings) or ``vanished`` (no link); a new
  ring that took back a retired id gets a ``returned`` record, and every other new
  ring without a previous link a ``new`` one.  Cases on a ring that split, merged
  or vanished are flagged from these records (:func:`load_lineage`,
  :func:`ring_fate`), never silently detached.

On a first analysis (no previous run) nothing is renamed: the rings are exactly
those :func:`~rxring.rings.build_rings` gives.

Each generation keeps two files beside the three result files:
``ring_lineage.json`` (:data:`LINEAGE_FILE`) and ``finding_status.parquet``
(:data:`STATUS_FILE`: per finding, ``status`` ``open`` or ``explained`` with the
exception that explains it, and ``new``: not in the previous run).

Examples
--------
>>> import pandas as pd
>>> before = pd.DataFrame({"ring_id": ["R001", "R002"], "source_patients": [["a", "b"], ["c", "d"]],
...                        "prescribers": [[], []], "source_sites": [[], []], "laundering_sites": [["S1"], ["S2"]]})
>>> after = pd.DataFrame({"ring_id": ["R001", "R002"], "source_patients": [["c", "d", "e"], ["a", "b"]],
...                       "prescribers": [[], []], "source_sites": [[], []], "laundering_sites": [["S2"], ["S1"]]})
>>> rings, lineage = carry_ring_ids(after, PreviousRun(rings=before))
>>> list(rings["ring_id"])
['R002', 'R001']
>>> [(r["previous_id"], r["kind"], r["ring_ids"]) for r in lineage["rings"]]
[('R001', 'kept', ['R001']), ('R002', 'kept', ['R002'])]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import RxringError
from ..jsonout import read_json_object, write_json
from ..workspace import as_workspace

__all__ = ["LINEAGE_FILE", "STATUS_FILE", "LINK_SHARE", "MEMBER_ROLES", "HUB_ROLES", "LINEAGE_KINDS", "PreviousRun",
           "previous_run", "ring_members", "carry_ring_ids", "first_lineage", "finding_status",
           "carry_over", "write_identity", "load_lineage", "ring_fate", "load_finding_status", "findings_with_status"]

#: The lineage file of a results generation.
LINEAGE_FILE = "ring_lineage.json"

#: The per-finding status file of a results generation.
STATUS_FILE = "finding_status.parquet"

#: Two rings are linked when their shared members make up at least this share of the smaller one.
LINK_SHARE = 0.5

#: Ring columns whose values identify a ring, and the kind each member is typed with.
MEMBER_ROLES = {"source_patients": "patient", "laundering_sites": "site"}

#: The ring columns that stand in when a ring has no :data:`MEMBER_ROLES` member.
HUB_ROLES = {"prescribers": "prescriber", "source_sites": "site"}

#: What became of a ring, ``(zh, en)`` (the lineage's ``kind``).
LINEAGE_KINDS = {
    "kept": ("同一团伙", "the same ring"),
    "split": ("已拆分", "split into several rings"),
    "merged": ("已合并", "merged with another ring"),
    "vanished": ("已消失", "no longer found"),
    "new": ("新团伙", "a new ring"),
    "returned": ("重新出现", "found again after it vanished"),
    "gone": ("此前已消失", "vanished in an earlier run"),
}

_RING_ID = re.compile(r"R(\d+)")

_STATUS_SCHEMA = pa.schema([
    ("finding_id", pa.string()), ("status", pa.string()), ("new", pa.bool_()),
    ("exception_id", pa.int64()), ("reason_kind", pa.string()), ("reason", pa.string()),
    ("recorded_by", pa.string()), ("approved_by", pa.string()), ("until", pa.string()),
])


@dataclass
class PreviousRun:
    """What the previous analysis of a workspace left (:func:`previous_run`).

    Attributes
    ----------
    rings
        Its rings (``ring_id``, ``rules`` and the :data:`MEMBER_ROLES` and :data:`HUB_ROLES` columns).
    finding_ids
        Its findings' ids.
    retired
        Rings whose ids earlier runs stopped using, ``{"ring_id", "members"}``, whose
        ids a ring found again takes back.
    last_number
        The highest ring number given in the workspace so far.
    generation
        The folder name of the previous generation ('' when not known).
    """

    rings: pd.DataFrame
    finding_ids: frozenset = frozenset()
    retired: list = field(default_factory=list)
    last_number: int = 0
    generation: str = ""


def _number(ring_id) -> int:
    match = _RING_ID.fullmatch(str(ring_id))
    return int(match.group(1)) if match else 0


def previous_run(workspace) -> PreviousRun | None:
    """The published results of *workspace* as the next analysis starts from them; None when never analysed.

    Read it holding the workspace lock (as :func:`rxring.analysis.analyze` does), so that
    no other analysis publishes meanwhile.
    """
    ws = as_workspace(workspace)
    folder = ws.current_generation()
    if folder is None:
        folder = ws.root    # analysed before generations existed, or never
    rings_path, findings_path = folder / "rings.parquet", folder / "findings.parquet"
    if not rings_path.is_file() or not findings_path.is_file():
        return None
    try:
        rings = pd.read_parquet(rings_path)
        rings = rings[[c for c in ("ring_id", "rules", *MEMBER_ROLES, *HUB_ROLES) if c in rings.columns]]
        finding_ids = frozenset(pd.read_parquet(findings_path, columns=["finding_id"])["finding_id"].astype(str))
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise RxringError(f"{folder}: cannot read the previous results to carry ring ids over ({exc}); move "
                          f"{ws.generations_dir} aside to number the rings afresh") from None
    lineage = read_json_object(folder / LINEAGE_FILE)
    retired = [r for r in lineage.get("retired", []) if isinstance(r, dict) and r.get("ring_id")]
    last = max([int(lineage.get("last_ring_number") or 0), *(_number(r) for r in rings["ring_id"]),
                *(_number(r["ring_id"]) for r in retired)], default=0)
    return PreviousRun(rings=rings, finding_ids=finding_ids, retired=retired, last_number=last,
                       generation=folder.name if folder != ws.root else "")


def ring_members(ring) -> frozenset:
    """The typed members that identify one ring (a mapping with the schema.RING_COLUMNS role columns).

    A ring without source patients is a scheme of one site (ghost stock, product
    swaps, split sales: :mod:`rxring.rings`) whose site may also launder for a
    resale ring: its members are typed with its rules, so the two never match.

    >>> sorted(ring_members({"source_patients": ["p1"], "prescribers": ["D1"], "source_sites": ["H1"],
    ...                      "laundering_sites": ["S1"], "rules": ["RESURFACE"]}))
    ['patient:p1', 'site:S1']
    >>> sorted(ring_members({"source_patients": [], "prescribers": [], "source_sites": [],
    ...                      "laundering_sites": ["S1"], "rules": ["EXPIRED", "NO_PROVENANCE"]}))
    ['site@NO_PROVENANCE:S1']
    """
    scheme = ""
    if not _values(ring, "source_patients"):
        rules = sorted(set(_values(ring, "rules")) - {"EXPIRED"}) or ["EXPIRED"]
        scheme = "@" + "+".join(rules)
    for roles in (MEMBER_ROLES, HUB_ROLES):
        members = {f"{kind}{scheme}:{value}" for column, kind in roles.items() for value in _values(ring, column)}
        if members:
            return frozenset(members)
    return frozenset()


def _values(ring, column: str) -> list:
    values = ring.get(column)
    return [] if values is None or isinstance(values, float) else list(values)


def _links(before: list[tuple[str, frozenset]], after: list[frozenset]) -> list[tuple[float, str, int]]:
    """Linked pairs ``(jaccard, previous id, new position)`` (see the module docstring), best first."""
    holders: dict[str, list[int]] = {}
    for position, members in enumerate(after):
        for member in members:
            holders.setdefault(member, []).append(position)
    pairs = []
    for ring_id, old in before:
        shared: dict[int, int] = {}
        for member in old:
            for position in holders.get(member, ()):
                shared[position] = shared.get(position, 0) + 1
        for position, n in shared.items():
            new = after[position]
            if n >= LINK_SHARE * min(len(old), len(new)):
                pairs.append((n / (len(old) + len(new) - n), ring_id, position))
    pairs.sort(key=lambda p: (-p[0], _number(p[1]), p[1], p[2]))
    return pairs


def _one_to_one(pairs: list[tuple[float, str, int]], taken: dict[int, str]) -> None:
    """Greedy one-to-one matching of linked pairs into *taken* (new position -> previous id)."""
    used = set(taken.values())
    for _, ring_id, position in pairs:
        if position not in taken and ring_id not in used:
            taken[position] = ring_id
            used.add(ring_id)


def first_lineage(rings: pd.DataFrame) -> dict:
    """The lineage of a first analysis: every ring new, nothing retired."""
    ids = [str(r) for r in rings["ring_id"]] if len(rings) else []
    return {"previous_generation": None, "last_ring_number": max((_number(r) for r in ids), default=0),
            "rings": [{"previous_id": None, "kind": "new", "ring_ids": [r], "jaccard": None} for r in ids],
            "retired": [], "findings_gone": []}


def carry_ring_ids(rings: pd.DataFrame, previous: PreviousRun | None) -> tuple[pd.DataFrame, dict]:
    """*rings* (schema.RING_COLUMNS, by rank) renamed after the *previous* run's rings, and the lineage.

    Parameters
    ----------
    rings
        The new rings as :func:`rxring.rings.build_rings` numbers them.
    previous
        The previous run (:func:`previous_run`); None for a first analysis, which
        returns *rings* unchanged.

    Returns
    -------
    (pandas.DataFrame, dict)
        The rings (same rows and order, ``ring_id`` carried over or fresh) and the
        lineage (``rings``: one record per previous ring and per new ring without a
        previous one, ``{"previous_id", "kind", "ring_ids", "jaccard"}``;
        ``retired``; ``last_ring_number``; ``previous_generation``).
    """
    if previous is None:
        return rings, first_lineage(rings)
    before = [(str(r["ring_id"]), ring_members(r)) for r in previous.rings.to_dict("records")]
    after = [ring_members(r) for r in rings.to_dict("records")]
    links = _links(before, after)
    taken: dict[int, str] = {}
    _one_to_one(links, taken)
    retired = [(str(r["ring_id"]), frozenset(r.get("members") or ())) for r in previous.retired]
    returned: dict[int, str] = {}
    left = [(p, m) for p, m in enumerate(after) if p not in taken]
    if left and retired:
        back = _links(retired, [m for _, m in left])
        matched: dict[int, str] = {}
        _one_to_one(back, matched)
        returned = {left[i][0]: ring_id for i, ring_id in matched.items()}
    last = previous.last_number
    ids = []
    for position in range(len(after)):
        if position in taken:
            ids.append(taken[position])
        elif position in returned:
            ids.append(returned[position])
        else:
            last += 1
            ids.append(f"R{last:03d}")
    out = rings.copy()
    out["ring_id"] = pd.Series(ids, index=out.index, dtype=rings["ring_id"].dtype if len(rings) else object)
    jaccard = {(r, p): round(j, 4) for j, r, p in links}
    records = []
    sources: dict[int, list[str]] = {}
    targets_of: dict[str, set[int]] = {}
    for _, ring_id, position in links:
        sources.setdefault(position, []).append(ring_id)
        targets_of.setdefault(ring_id, set()).add(position)
    for ring_id, _ in before:
        targets = sorted(targets_of.get(ring_id, ()))
        if not targets:
            kind = "vanished"
        elif len(targets) > 1:
            kind = "split"
        elif len(sources[targets[0]]) > 1:
            kind = "merged"
        else:
            kind = "kept"
        best = max((jaccard[(ring_id, p)] for p in targets), default=None)
        records.append({"previous_id": ring_id, "kind": kind, "ring_ids": [ids[p] for p in targets], "jaccard": best})
    for position in range(len(after)):
        if position in returned:
            records.append({"previous_id": returned[position], "ring_ids": [ids[position]], "kind": "returned",
                            "jaccard": None})
        elif position not in sources:
            records.append({"previous_id": None, "ring_ids": [ids[position]], "kind": "new", "jaccard": None})
    # every id that is not carried on (vanished, merged away, split away) can be taken back later
    carried = set(ids)
    still_retired = [{"ring_id": r, "members": sorted(m)} for r, m in retired + before if r not in carried]
    lineage = {"previous_generation": previous.generation or None, "last_ring_number": last, "rings": records,
               "retired": sorted(still_retired, key=lambda r: (_number(r["ring_id"]), r["ring_id"])),
               "findings_gone": []}
    return out, lineage


def finding_status(findings: pd.DataFrame, previous: PreviousRun | None, explained: dict | None = None) -> pd.DataFrame:
    """One row per finding: ``status`` (``open``, or ``explained`` by an active exception) and ``new``.

    *explained* maps a finding id to its exception (an object with ``id``,
    ``reason_kind``, ``reason``, ``recorded_by``, ``approved_by``, ``until``:
    :class:`rxring.cases.exceptions.FindingException`).  ``new``: the finding was
    not in the previous run (every finding of a first analysis is new).
    """
    explained = explained or {}
    ids = findings["finding_id"].astype(str).tolist() if len(findings) else []
    exceptions = [explained.get(f) for f in ids]

    def column(name):
        return [None if e is None else getattr(e, name) for e in exceptions]

    table = pa.table({
        "finding_id": ids,
        "status": ["open" if e is None else "explained" for e in exceptions],
        "new": [True] * len(ids) if previous is None else [f not in previous.finding_ids for f in ids],
        "exception_id": [None if e is None else int(e.id) for e in exceptions],
        **{name: column(name) for name in ("reason_kind", "reason", "recorded_by", "approved_by", "until")},
    }, schema=_STATUS_SCHEMA)
    return table.to_pandas()


def carry_over(findings: pd.DataFrame, rings: pd.DataFrame, previous: PreviousRun | None,
               explained: dict | None = None) -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    """The identity step of an analysis: (rings renamed, lineage, finding status).

    :func:`carry_ring_ids` on *rings*, :func:`finding_status` on *findings*; the
    lineage also lists ``findings_gone``, the previous run's findings not found now.
    """
    rings, lineage = carry_ring_ids(rings, previous)
    current = set(findings["finding_id"].astype(str)) if len(findings) else set()
    if previous is not None:
        lineage["findings_gone"] = sorted(previous.finding_ids - current)
    return rings, lineage, finding_status(findings, previous, explained)


def write_identity(folder: Path, lineage: dict, status: pd.DataFrame) -> None:
    """Write :data:`LINEAGE_FILE` and :data:`STATUS_FILE` into a generation *folder* (before it is published)."""
    write_json(Path(folder) / LINEAGE_FILE, lineage, indent=1, sort_keys=True)
    table = pa.Table.from_pandas(status, schema=_STATUS_SCHEMA, preserve_index=False)
    pq.write_table(table, Path(folder) / STATUS_FILE, compression="zstd")


def load_lineage(workspace) -> dict:
    """The ring lineage of the published results ({} for results analysed before lineage existed)."""
    ws = as_workspace(workspace)
    return read_json_object(ws.results_dir / LINEAGE_FILE)


def ring_fate(lineage: dict, ring_id: str, current_ids=()) -> dict:
    """What became of *ring_id* (the ring a case was opened on) in the run of *lineage*.

    Returns ``{"kind", "ring_ids"}``: ``kept`` or ``returned`` (the ring is there under
    its id), ``split``, ``merged`` or ``vanished`` (flag the case: ``ring_ids`` are the
    rings its members are in now), ``gone`` (it had vanished before this run), or
    ``unknown`` (never an id of this workspace).  *current_ids*: the ring ids of the
    same results, for results analysed before lineage existed.

    >>> lineage = {"rings": [{"previous_id": "R002", "kind": "split", "ring_ids": ["R002", "R009"]},
    ...                      {"previous_id": "R004", "kind": "merged", "ring_ids": ["R003"]}],
    ...            "retired": [{"ring_id": "R004"}, {"ring_id": "R007"}]}
    >>> ring_fate(lineage, "R002"), ring_fate(lineage, "R004")["kind"], ring_fate(lineage, "R007")["kind"]
    ({'kind': 'split', 'ring_ids': ['R002', 'R009']}, 'merged', 'gone')
    """
    for record in lineage.get("rings") or []:
        if record.get("previous_id") == ring_id:
            return {"kind": record["kind"], "ring_ids": list(record.get("ring_ids") or [])}
    if ring_id in set(current_ids):
        return {"kind": "kept", "ring_ids": [ring_id]}
    if any(r.get("ring_id") == ring_id for r in lineage.get("retired") or []):
        return {"kind": "gone", "ring_ids": []}
    return {"kind": "unknown", "ring_ids": []}


def load_finding_status(workspace) -> pd.DataFrame:
    """The per-finding status of the published results (:data:`STATUS_FILE`).

    Results analysed before it existed: every finding ``open``, ``new`` unknown (null).
    """
    ws = as_workspace(workspace)
    path = ws.results_dir / STATUS_FILE
    if path.is_file():
        return pd.read_parquet(path)
    if not ws.findings_path.is_file():
        raise RxringError(f"no findings in {ws.root}; run `rxring analyze --workspace {ws.root}` first")
    ids = pd.read_parquet(ws.findings_path, columns=["finding_id"])["finding_id"].astype(str)
    frame = finding_status(pd.DataFrame({"finding_id": ids}), None)
    frame["new"] = pd.Series([None] * len(frame), dtype="object")
    return frame


def findings_with_status(workspace) -> pd.DataFrame:
    """The published findings (:func:`rxring.results.load_findings`) with the status columns joined.

    One generation is read (the workspace pinned first), so findings and status agree.
    """
    from ..results import load_findings

    ws = as_workspace(workspace).pinned()
    findings = load_findings(ws)
    return findings.merge(load_finding_status(ws), on="finding_id", how="left", validate="one_to_one")
