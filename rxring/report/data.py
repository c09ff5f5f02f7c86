"""Reading what the outputs need from a workspace: rings, findings, events, names.

The analysis writes ``rings.parquet`` (schema.RING_COLUMNS) and ``findings.parquet``
(schema.FINDING_COLUMNS); this module turns them into plain Python structures
(lists instead of numpy arrays, ``None`` instead of NaN) and works out per-member
statistics, so the writers in this package never touch pandas quirks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import RxringError
from ..jsonout import read_json_object
from ..results import events_of
from ..schema import FINDING_COLUMNS, RING_COLUMNS
from ..workspace import Workspace, as_workspace
from .i18n import ROLE_KEYS
from .pii import Masker

__all__ = [
    "CaseData",
    "load_case",
    "select_rings",
    "ring_findings",
    "ring_members",
    "load_events",
    "read_ring_events",
    "fmt_time",
    "fmt_money",
    "period",
    "FINDING_ROLE",
    "fund_of",
    "is_missing",
    "SHOWN_EVENT_COLUMNS",
]

#: The event columns the outputs show (chains of custody, a graph node's events, source lines, the NHSA
#: interfaces the 提取笔录 names) or mask by (every person's id): :func:`load_events` reads only these.
SHOWN_EVENT_COLUMNS = ("event_id", "trace_code", "event_type", "event_time", "site_id", "quantity", "patient_id",
                       "prescriber_id", "pharmacist_id", "settlement_id", "fund_amount", "source_file", "source_line",
                       "channel")

# Which finding column names the members of a ring role.
FINDING_ROLE = {
    "source_patients": "source_patients",
    "prescribers": "source_prescribers",
    "source_sites": "source_sites",
    "laundering_sites": "laundering_sites",
}

_LIST_RING = ("source_patients", "prescribers", "source_sites", "laundering_sites", "rules", "finding_ids")
_LIST_FINDING = (
    "trace_codes", "sites", "source_sites", "laundering_sites", "patients", "prescribers", "event_ids",
    "source_patients", "source_prescribers",
)
# Finding columns added to the contract after the first version: optional when reading,
# defaulting to the older column that holds a superset of their values.
# (An analysis older than explanation_zh shows its English explanation until it is re-run.)
_OPTIONAL_FINDING = {"source_patients": "patients", "source_prescribers": "prescribers", "explanation_zh": "explanation"}


def is_missing(value) -> bool:
    """True for a missing value: None, NaN, NaT or pandas' NA (written as an empty cell, never ``nan``).

    Examples
    --------
    >>> is_missing(float("nan")), is_missing(pd.NaT), is_missing(0.0), is_missing("")
    (True, True, False, False)
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, str):   # the common case: tens of thousands of cells per package
        return False
    if isinstance(value, float):  # numpy float64 too
        return math.isnan(value)
    if isinstance(value, pd.Timestamp):
        return pd.isna(value)
    return False


def _as_list(value) -> list:
    if value is None:
        return []
    if isinstance(value, float) and math.isnan(value):
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in list(value) if v is not None]


def _clean(value):
    """NaN/NaT -> None, numpy scalars -> Python, Timestamps kept."""
    if value is None:
        return None
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item") and not hasattr(value, "__len__"):
        value = value.item()
        if isinstance(value, float) and math.isnan(value):
            return None
    return value


def _records(frame: pd.DataFrame, list_columns: tuple[str, ...]) -> list[dict]:
    rows = []
    for rec in frame.to_dict("records"):
        row = {}
        for key, value in rec.items():
            if key in list_columns:
                row[key] = _as_list(value)
            else:
                row[key] = _clean(value)
        rows.append(row)
    return rows


def fmt_time(value) -> str:
    """A timestamp as ``YYYY-MM-DD HH:MM`` (empty for missing).

    Examples
    --------
    >>> fmt_time(pd.Timestamp("2026-03-01 09:05:59")), fmt_time("2026-03-01T09:05"), fmt_time(pd.NaT)
    ('2026-03-01 09:05', '2026-03-01 09:05', '')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, datetime) and value is not pd.NaT:  # a Timestamp too: no conversion needed
        if value.year >= 1000:   # what strftime writes, three times faster (tens of thousands of cells)
            return f"{value.year}-{value.month:02d}-{value.day:02d} {value.hour:02d}:{value.minute:02d}"
        return value.strftime("%Y-%m-%d %H:%M")
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        return str(value)
    if pd.isna(stamp):
        return ""
    return stamp.strftime("%Y-%m-%d %H:%M")


def fmt_money(value) -> str:
    """Money with two decimals and thousands separators (empty for missing)."""
    if value is None:
        return ""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return ""
    return f"{number:,.2f}"


def period(first, last) -> str:
    """``first – last`` as dates and times."""
    a, b = fmt_time(first), fmt_time(last)
    if a and b and a != b:
        return f"{a} – {b}"
    return a or b


@dataclass
class CaseData:
    """Everything the outputs read from one workspace."""

    workspace: Workspace
    rings: list[dict]
    findings: dict[str, dict]
    sites: dict[str, dict] = field(default_factory=dict)
    patient_names: dict[str, str] = field(default_factory=dict)
    prescriber_names: dict[str, str] = field(default_factory=dict)
    analysis: dict = field(default_factory=dict)
    manifest: dict = field(default_factory=dict)
    #: :meth:`people` of the whole workspace, read by :func:`load_case` (also when it read only some rings' findings).
    known_people: frozenset | None = field(default=None, repr=False)
    #: Events read ahead by :meth:`read_events`: (codes, event ids, the Arrow table of their events).
    event_cache: tuple[frozenset, frozenset, pa.Table] | None = field(default=None, repr=False)
    #: :func:`ring_findings` already sorted, by the ring's finding ids (an output asks for them many times).
    sorted_findings: dict[tuple, list[dict]] = field(default_factory=dict, repr=False, compare=False)

    def read_events(self, trace_codes=(), event_ids=()) -> None:
        """Read the events of these codes and event ids in one scan (:func:`rxring.results.events_of`);
        :func:`load_events` then takes what it is asked for from them, so a report's pages or a
        package's files read the city once, not once each."""
        codes, ids = frozenset(map(str, trace_codes)), frozenset(map(str, event_ids))
        self.event_cache = (codes, ids, events_of(self.workspace, codes, ids, SHOWN_EVENT_COLUMNS))

    def site_name(self, site_id: str) -> str:
        info = self.sites.get(site_id) or {}
        return str(info.get("name") or "")

    def person_name(self, role: str, member_id: str) -> str:
        names = self.patient_names if role == "source_patients" else self.prescriber_names
        return names.get(member_id, "")

    def people(self) -> set[str]:
        """Every patient and prescriber id named by a ring or a finding (of the workspace, also when
        only some rings' findings were read: the people's numbers are the workspace's)."""
        if self.known_people is not None:
            return set(self.known_people)
        people: set[str] = set()
        for ring in self.rings:
            people.update(ring["source_patients"])
            people.update(ring["prescribers"])
        for finding in self.findings.values():
            for column in ("patients", "prescribers", "source_patients", "source_prescribers"):
                people.update(finding[column])
        return {p for p in people if p}

    def personal_values(self) -> set[str]:
        """The ids of :meth:`people` and every name of the workspace's patients and prescribers.

        For free-text masking: a remark or a raw source line may name any person the
        data knows (the patient who lent a card, a family member who collected), not
        only the members of a ring.
        """
        names = {*self.patient_names.values(), *self.prescriber_names.values()}
        return self.people() | {n for n in names if n}

    def masker(self, reveal: bool = False) -> Masker:
        """A :class:`Masker` for this case: knows every personal value, numbers every person."""
        aliases = {person: n for n, person in enumerate(sorted(self.people()), start=1)}
        return Masker(reveal=reveal, known=self.personal_values(), aliases=aliases)


def _read_parquet(path: Path, what: str, columns: tuple[str, ...], filters=None) -> pd.DataFrame:
    if not path.exists():
        raise RxringError(f"{path}: no {what} yet; run `rxring analyze ... --workspace {path.parent}` first")
    try:
        frame = pd.read_parquet(path, filters=filters)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise RxringError(f"{path}: cannot read {what}: {exc}") from exc
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise RxringError(f"{path}: {what} lacks columns {', '.join(missing)}; re-run `rxring analyze`")
    return frame


def _names(frame: pd.DataFrame | None, id_column: str) -> dict[str, str]:
    if frame is None or id_column not in frame.columns or "name" not in frame.columns:
        return {}
    out = {}
    for key, name in zip(frame[id_column], frame["name"]):
        if key is not None and name is not None and not (isinstance(name, float) and math.isnan(name)):
            out[str(key)] = str(name)
    return out


def _findings_people(path: Path) -> frozenset:
    """The patient and prescriber ids of every finding in *path*, read column by column (no row objects)."""
    import pyarrow.parquet as pq

    names = {"patients", "prescribers", "source_patients", "source_prescribers"}
    table = pq.read_table(path, columns=sorted(names & set(pq.read_schema(path).names)))
    people = set()
    for column in table.columns:
        people.update(pc.unique(pc.list_flatten(column)).to_pylist())
    return frozenset(p for p in people if p)


def load_case(workspace: str | Path | Workspace, ring_ids=None) -> CaseData:
    """Read rings, findings, master names, analysis options and the manifest of a workspace.

    Parameters
    ----------
    workspace : path or Workspace
        A workspace analysed by ``rxring analyze``.
    ring_ids : list of str, optional
        Read only the findings of these rings (one ring's outputs at the cost of that
        ring, not of the city); the rings table is read whole, and the people of every
        finding are known (:meth:`CaseData.people`).  Default: every finding.

    Returns
    -------
    CaseData
        Rings sorted by rank, findings keyed by ``finding_id``.

    Raises
    ------
    RxringError
        If the workspace, its rings or its findings are missing or unreadable.
    """
    ws = as_workspace(workspace).pinned()  # rings, findings and analysis.json of one generation
    rings_frame = _read_parquet(ws.rings_path, "rings", RING_COLUMNS)
    filters = None
    if ring_ids:
        wanted = set(map(str, ring_ids))
        ids = sorted({str(f) for ring_id, found in zip(rings_frame["ring_id"], rings_frame["finding_ids"])
                      if str(ring_id) in wanted for f in _as_list(found)})
        # no finding to read: a filter no finding id passes (an empty list has no type to compare with)
        filters = [("finding_id", "in", ids)] if ids else [("finding_id", "<", "")]
    findings_frame = _read_parquet(
        ws.findings_path, "findings", tuple(c for c in FINDING_COLUMNS if c not in _OPTIONAL_FINDING), filters
    )
    known_people = _findings_people(ws.findings_path) | {
        p for column in ("source_patients", "prescribers") for found in rings_frame[column] for p in _as_list(found) if p}
    for column, fallback in _OPTIONAL_FINDING.items():
        if column not in findings_frame.columns:
            findings_frame[column] = findings_frame[fallback]
    rings = _records(rings_frame, _LIST_RING)
    rings.sort(key=lambda r: (r.get("rank") if r.get("rank") is not None else 1e18, str(r.get("ring_id"))))
    findings = {str(f["finding_id"]): f for f in _records(findings_frame, _LIST_FINDING)}
    sites_frame = ws.master("sites")
    sites = {}
    if sites_frame is not None and "site_id" in sites_frame.columns:
        for rec in _records(sites_frame, ()):
            sites[str(rec["site_id"])] = rec
    return CaseData(
        workspace=ws,
        rings=rings,
        findings=findings,
        sites=sites,
        patient_names=_names(ws.master("patients"), "patient_id"),
        prescriber_names=_names(ws.master("prescribers"), "prescriber_id"),
        analysis=read_json_object(ws.analysis_path),
        manifest=read_json_object(ws.manifest_path),
        known_people=known_people,
    )


def select_rings(case: CaseData, ring_ids: list[str] | tuple[str, ...] | None) -> list[dict]:
    """The rings named by ``ring_ids`` (all rings when empty), in rank order.

    Raises
    ------
    RxringError
        If an id is not a ring of this workspace.
    """
    if not ring_ids:
        return list(case.rings)
    by_id = {str(r["ring_id"]): r for r in case.rings}
    unknown = [r for r in ring_ids if r not in by_id]
    if unknown:
        known = ", ".join(list(by_id)[:10]) or "none"
        raise RxringError(f"unknown ring {', '.join(unknown)} in {case.workspace.root}; rings are: {known}")
    wanted = set(ring_ids)
    return [r for r in case.rings if str(r["ring_id"]) in wanted]


def ring_findings(case: CaseData, ring: dict) -> list[dict]:
    """The findings of ``ring``, by first time then id (unknown finding ids are skipped)."""
    key = tuple(ring["finding_ids"])
    known = case.sorted_findings.get(key)
    if known is None:
        found = [case.findings[f] for f in key if f in case.findings]
        known = case.sorted_findings[key] = sorted(
            found, key=lambda f: (fmt_time(f.get("first_time")), str(f["finding_id"])))
    return list(known)


def fund_of(findings) -> float:
    """Fund at risk of a set of findings without counting one pack twice.

    Several rules can fire on the same box (DUP_DISPENSE and RESURFACE on one
    resold pack); each finding carries the money of that box, so findings over the
    same trace codes count once, with the largest amount among them.
    """
    best: dict[tuple, float] = {}
    for finding in findings:
        key = tuple(sorted(finding["trace_codes"])) or (finding["finding_id"],)
        best[key] = max(best.get(key, 0.0), float(finding.get("fund_amount") or 0.0))
    return round(sum(best.values()), 2)


def ring_members(case: CaseData, ring: dict) -> list[dict]:
    """One row per member of ``ring``: role, id, name, boxes, events, fund and findings count.

    A member's numbers sum the ring's findings that name it in the matching role
    (patients, prescribers, source sites, laundering sites).
    """
    findings = ring_findings(case, ring)
    rows = []
    for role in ROLE_KEYS:
        column = FINDING_ROLE[role]
        by_member: dict[str, list[dict]] = {}
        for finding in findings:
            for member in finding[column]:
                by_member.setdefault(member, []).append(finding)
        for member in ring[role]:
            mine = by_member.get(member, [])
            codes = {c for f in mine for c in f["trace_codes"]}
            events = {e for f in mine for e in f["event_ids"]}
            fund = fund_of(mine)
            if role in ("source_sites", "laundering_sites"):
                name = case.site_name(member)
            else:
                name = case.person_name(role, member)
            rows.append(
                {
                    "ring_id": ring["ring_id"],
                    "role": role,
                    "member_id": member,
                    "name": name,
                    "boxes": len(codes),
                    "events": len(events),
                    "fund_amount": fund,
                    "findings_count": len(mine),
                }
            )
    return rows


def read_ring_events(case: CaseData, rings: list[dict]) -> None:
    """Read the events of the findings of *rings* (their packs' and their proving events) in one scan
    (:meth:`CaseData.read_events`), for the outputs about those rings that follow."""
    findings = [f for ring in rings for f in ring_findings(case, ring)]
    case.read_events({c for f in findings for c in f["trace_codes"]}, {e for f in findings for e in f["event_ids"]})


def load_events(case: CaseData, trace_codes=None, event_ids=None, within_codes=None) -> pd.DataFrame:
    """Events of the given trace codes and/or event ids, sorted by code and time.

    Read with the filter in the Parquet scan (:func:`rxring.results.events_of`), so a
    city-sized workspace is not loaded whole, or taken from what :meth:`CaseData.read_events`
    read ahead when that holds them.  *within_codes*: codes the events of *event_ids* lie in,
    if known (the findings' codes): the scan then reads only the row groups of the look-up
    copy sorted by code that hold them; the answer is the same.  Empty when the workspace
    holds no events.  Only the columns of :data:`SHOWN_EVENT_COLUMNS`.
    """
    codes, ids = frozenset(map(str, trace_codes or ())), frozenset(map(str, event_ids or ()))
    if case.event_cache is not None and codes <= case.event_cache[0] and ids <= case.event_cache[1]:
        table = case.event_cache[2]
    else:
        table = events_of(case.workspace, codes | frozenset(map(str, within_codes or ())), ids, SHOWN_EVENT_COLUMNS)
    wanted = pc.or_(pc.is_in(table["trace_code"], value_set=pa.array(sorted(codes), pa.string())),
                    pc.is_in(table["event_id"], value_set=pa.array(sorted(ids), pa.string())))
    frame = table.filter(wanted).to_pandas()
    return frame.sort_values(["trace_code", "event_time", "event_id"], kind="stable").reset_index(drop=True)
