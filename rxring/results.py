"""Reading an analysed workspace: findings, rings, the analysis record, a box's chain of custody.

Every backend writes the same three files (:func:`rxring.analysis.write_results`):
``findings.parquet`` (schema.FINDING_COLUMNS), ``rings.parquet``
(schema.RING_COLUMNS) and ``analysis.json``, published together as one generation
of the workspace.  The listing commands, the reports and the workbench read them
through this module, whichever backend wrote them; a command that reads several of
them pins one generation first (:func:`open_results`), and warns when the data was
ingested after the analysis (:func:`stale_warning`).

What is shown to people comes from :func:`list_rings`, :func:`ring_report`,
:func:`list_findings`, :func:`box_timeline`, :func:`box_report` and
:func:`entity_report`: personal ids masked unless ``reveal_pii``, and a reveal is
recorded in the workspace's ``reveals.jsonl`` by the call itself
(:func:`rxring.reveal.permit_reveal`), from the CLI and from Python alike.
:func:`load_findings` and :func:`load_rings` return the stored tables as they are
(for analysis code, which needs the real ids to join on); do not show them.

Examples
--------
>>> import rxring
>>> rings = rxring.load_rings("ws")                     # doctest: +SKIP
>>> findings_for(rxring.load_findings("ws"), site="H01")  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import json
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .errors import RxringError
from .options import AnalysisOptions
from .pii import mask_frame, mask_id
from .reveal import permit_reveal, reveal_frame
from .schema import RULES
from .workspace import Workspace, as_workspace

__all__ = [
    "load_findings",
    "load_rings",
    "load_analysis",
    "list_rings",
    "RingReport",
    "ring_report",
    "list_findings",
    "open_results",
    "stale_warning",
    "require_engine",
    "findings_for",
    "rings_for",
    "time_window",
    "in_window",
    "canonical_code",
    "box_timeline",
    "BoxReport",
    "EntityReport",
    "lookup_backend",
    "box_report",
    "entity_report",
    "event_counts",
    "events_of",
    "match_ids",
    "box_events",
    "BOX_EVENT_EXTRA",
    "actor_events",
    "actor_weeks",
    "actor_neighbours",
    "NEIGHBOUR_RELATIONS",
    "check_relations",
    "ACTOR_COLUMNS",
    "build_lookup",
    "lookup_dir",
]


def _require(path: Path, what: str) -> None:
    if not path.exists():
        raise RxringError(f"no {what} in {path.parent}; run `rxring analyze --workspace {path.parent}` first")


_LIST_COLUMNS = {
    "trace_codes", "sites", "source_sites", "laundering_sites", "patients", "prescribers", "event_ids",
    "source_patients", "source_prescribers", "rules", "finding_ids",
}


def _lists(frame: pd.DataFrame) -> pd.DataFrame:
    """Parquet list columns come back as numpy arrays; make them Python lists."""
    for column in frame.columns:
        if column in _LIST_COLUMNS:
            frame[column] = frame[column].map(lambda v: [] if v is None else [str(x) for x in v])
    return frame


def load_findings(workspace) -> pd.DataFrame:
    """findings.parquet of a workspace (list columns as Python lists), personal ids as stored."""
    ws = as_workspace(workspace)
    _require(ws.findings_path, "findings")
    return _lists(pd.read_parquet(ws.findings_path))


def load_rings(workspace) -> pd.DataFrame:
    """rings.parquet of a workspace (list columns as Python lists), by rank, personal ids as stored."""
    ws = as_workspace(workspace)
    _require(ws.rings_path, "rings")
    return _lists(pd.read_parquet(ws.rings_path)).sort_values("rank").reset_index(drop=True)


def load_analysis(workspace) -> dict:
    """analysis.json of a workspace ({} when not analysed yet)."""
    ws = as_workspace(workspace)
    if not ws.analysis_path.exists():
        return {}
    return json.loads(ws.analysis_path.read_text(encoding="utf-8"))


def list_rings(workspace, *, reveal_pii: bool = False, operator: str | None = None) -> pd.DataFrame:
    """The rings of a workspace by rank, for showing: personal ids masked unless *reveal_pii*
    (then recorded as revealed by *operator*, :func:`rxring.reveal.permit_reveal`)."""
    return reveal_frame(load_rings(workspace), reveal_pii, workspace, {"rings": "all"}, operator,
                        api="rxring.results.list_rings")


@dataclass
class RingReport:
    """One ring (a dict of the rings.parquet columns) and the findings that prove it (:func:`ring_report`)."""

    ring: dict
    findings: pd.DataFrame


def ring_report(workspace, ring_id: str, *, reveal_pii: bool = False, operator: str | None = None) -> RingReport:
    """One ring and its findings (*ring_id* in any case), personal ids masked unless *reveal_pii* (recorded).

    Raises
    ------
    RxringError
        The workspace has no such ring.
    """
    rings = load_rings(workspace)
    match = rings[rings["ring_id"].str.upper() == str(ring_id).upper()]
    if match.empty:
        raise RxringError(f"no ring {ring_id} in {workspace}; `rxring rings -w {workspace}` lists them")
    findings = load_findings(workspace)
    findings = findings[findings["finding_id"].isin(match.iloc[0]["finding_ids"])]
    reveal = permit_reveal(reveal_pii, workspace, {"ring_id": str(match.iloc[0]["ring_id"])}, operator,
                           api="rxring.results.ring_report")
    return RingReport(ring=mask_frame(match, reveal).iloc[0].to_dict(), findings=mask_frame(findings, reveal))


def list_findings(workspace, *, rule: str | None = None, site: str | None = None, patient: str | None = None,
                  code: str | None = None, reveal_pii: bool = False, operator: str | None = None) -> pd.DataFrame:
    """The findings of a workspace (filtered as :func:`findings_for`; *code* in any spelling), for showing:
    personal ids masked unless *reveal_pii* (recorded)."""
    found = findings_for(load_findings(workspace), rule=rule, site=site, patient=patient,
                         code=canonical_code(code) if code else None)
    what = {k: v for k, v in {"rule": rule, "site": site, "patient": patient, "code": code}.items() if v}
    return reveal_frame(found, reveal_pii, workspace, what or {"findings": "all"}, operator,
                        api="rxring.results.list_findings")


def stale_warning(workspace, echo: bool = True) -> str | None:
    """The warning that the workspace's data changed after its results were computed, or None.

    The results' ``analysis.json`` records the workspace's ingest state
    (:meth:`rxring.workspace.Workspace.ingest_state`) the analysis read; when the
    workspace's state differs now (an ingest since, or one killed before its
    analysis), the results are older than the data.  Results that record no state
    (older rxring, hand-made) give no warning.  With *echo* the warning is printed
    as one line on stderr.
    """
    if workspace is None:
        return None
    try:
        ws = as_workspace(workspace)
        meta = load_analysis(ws)
    except (RxringError, OSError, ValueError):
        return None
    recorded = meta.get("ingest_state") if isinstance(meta, dict) else None
    if not recorded or recorded == ws.ingest_state():
        return None
    finished = meta.get("finished")
    when = f" (analysed {finished})" if finished else ""
    message = (f"rxring: warning: the data in workspace {ws.root} changed after these results were computed{when}; "
               f"run `rxring analyze -w {ws.root}` to bring them up to date")
    if echo:
        print(message, file=sys.stderr, flush=True)
    return message


def open_results(workspace, warn: bool = True):
    """The workspace with its results pinned to the generation published now, for a listing that
    reads findings, rings and analysis.json (one analysis, even if another is published meanwhile);
    with *warn*, :func:`stale_warning` is printed first.  None stays None (no workspace given), and
    a folder that is no workspace is returned as it is (the caller's reader says what is wrong)."""
    if workspace is None:
        return None
    try:
        ws = as_workspace(workspace).pinned()
    except RxringError:
        return workspace
    if warn:
        stale_warning(ws)
    return ws


def require_engine(workspace, backend: str | None) -> None:
    """With a *backend* named, the workspace's results must come from that backend (else RxringError)."""
    if backend is None:
        return
    engine = load_analysis(workspace).get("engine")
    if engine is None:
        raise RxringError(f"{workspace} has no analysis yet; run `rxring analyze --backend {backend} -w {workspace}`")
    if engine != backend:
        raise RxringError(f"the results in {workspace} come from the {engine} backend, not {backend}; "
                          f"run `rxring analyze --backend {backend} -w {workspace}` first")


def time_window(since=None, until=None) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """The window from the start of day *since* to the end of day *until* (each a ``YYYY-MM-DD``
    date, or empty for open): ``(start, end)`` with *end* exclusive, RxringError for a date that is not one.

    Examples
    --------
    >>> time_window("2025-03-01", "2025-03-31")
    (Timestamp('2025-03-01 00:00:00'), Timestamp('2025-04-01 00:00:00'))
    >>> time_window("", None)
    (None, None)
    >>> time_window("2025-13-01")
    Traceback (most recent call last):
    ...
    rxring.errors.RxringError: since: '2025-13-01' is not a date (YYYY-MM-DD)
    """
    bounds = []
    for name, value in (("since", since), ("until", until)):
        text = str(value or "").strip()
        if not text:
            bounds.append(None)
            continue
        try:
            day = pd.Timestamp(text).normalize()
        except (ValueError, TypeError) as exc:
            raise RxringError(f"{name}: {text!r} is not a date (YYYY-MM-DD)") from exc
        if pd.isna(day):
            raise RxringError(f"{name}: {text!r} is not a date (YYYY-MM-DD)")
        bounds.append(day if name == "since" else day + pd.Timedelta(days=1))
    if bounds[0] is not None and bounds[1] is not None and bounds[1] <= bounds[0]:
        raise RxringError(f"until ({until}) is before since ({since})")
    return bounds[0], bounds[1]


def in_window(frame: pd.DataFrame, since=None, until=None) -> pd.Series:
    """Which rows of findings or rings were active in :func:`time_window` (*since*, *until*): their
    ``first_time`` … ``last_time`` overlaps it (a resurfacing inside the window counts, however early
    the pack was first sold)."""
    start, end = time_window(since, until)
    mask = pd.Series(True, index=frame.index)
    if start is not None:
        mask &= frame["last_time"].fillna(frame["first_time"]) >= start
    if end is not None:
        mask &= frame["first_time"] < end
    return mask


def findings_for(findings: pd.DataFrame, *, rule: str | None = None, site: str | None = None,
                 patient: str | None = None, code: str | None = None, since=None, until=None) -> pd.DataFrame:
    """Findings filtered by rule, site (any role), patient (any role), trace code, or active between
    the days *since* and *until* (:func:`in_window`)."""
    mask = pd.Series(True, index=findings.index)
    if since or until:
        mask &= in_window(findings, since, until)
    if rule:
        if rule.upper() not in RULES:
            raise RxringError(f"unknown rule {rule!r}; known rules: {', '.join(RULES)}")
        mask &= findings["rule"] == rule.upper()
    if site:
        mask &= findings["sites"].map(lambda v: site in v)
    if patient:
        mask &= findings["patients"].map(lambda v: patient in v)
    if code:
        mask &= findings["trace_codes"].map(lambda v: code in v)
    return findings[mask].reset_index(drop=True)


def rings_for(rings: pd.DataFrame, *, site: str | None = None, patient: str | None = None,
              finding_ids=None) -> pd.DataFrame:
    """Rings that name *site* (as source or laundering site) or *patient*, or hold a finding."""
    mask = pd.Series(False, index=rings.index)
    if site:
        mask |= rings["source_sites"].map(lambda v: site in v) | rings["laundering_sites"].map(lambda v: site in v)
    if patient:
        mask |= rings["source_patients"].map(lambda v: patient in v)
    if finding_ids:
        wanted = set(finding_ids)
        mask |= rings["finding_ids"].map(lambda v: bool(wanted.intersection(v)))
    return rings[mask].reset_index(drop=True)


def canonical_code(text: str) -> str:
    """A trace code as typed by a user, in the canonical spelling ingest stores.

    Any spelling ingest accepts (spaced 20-digit codes, GS1 element strings, SGTIN
    URIs) is canonicalised; text that is not a code comes back stripped of
    whitespace (the lookup then simply finds nothing).

    Examples
    --------
    >>> canonical_code("8115 1257 9140 8562 3274")
    '81151257914085623274'
    >>> canonical_code(" not a code ")
    'notacode'
    """
    from .ingest.codes import CodeError, parse_code

    try:
        return parse_code(text).canonical
    except CodeError:
        return "".join(str(text).split())


def box_timeline(workspace, trace_code: str, options: AnalysisOptions | None = None, *, reveal_pii: bool = False,
                 operator: str | None = None) -> pd.DataFrame:
    """Chain of custody of one pack: every event of *trace_code* in time order.

    Each row keeps its source file and line, and a note when it does not count
    (deleted by NHSA 3507, duplicate event id, double scan, sale cancelled by a
    refund).  *options* default to those of the workspace's last analysis.
    Personal ids are masked unless *reveal_pii* (recorded).
    """
    timeline = _timeline(workspace, trace_code, options)
    return reveal_frame(timeline, reveal_pii, workspace, {"trace_code": canonical_code(trace_code)}, operator,
                        api="rxring.results.box_timeline")


def _timeline(workspace, trace_code: str, options: AnalysisOptions | None = None,
              extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """:func:`box_timeline` with the ids as stored (and the event columns *extra* after the note).

    With the look-up copies (:func:`build_lookup`) the code's rows are read by this
    process' DuckDB from the code-sorted copy, whose footer its object cache keeps
    (so only the one or two row groups whose min/max can hold the code are read),
    and the custody notes are computed on a cursor of the same database; without
    them, from the event parts.
    """
    from .backends.duckdb import code_timeline

    ws = as_workspace(workspace)
    options = options or AnalysisOptions.from_dict(load_analysis(ws).get("options", {}))
    code = canonical_code(trace_code)
    copy = _lookup_copy(ws, "trace_code")
    if copy is None:
        timeline = code_timeline(ws, code, options, extra=extra)
    else:
        con = _cursor()
        try:
            timeline = code_timeline(ws, code, options, events=_code_rows(copy, code), con=con, extra=extra)
        finally:
            con.close()
    if timeline.empty:
        raise RxringError(f"trace code {code} does not occur in workspace {ws.root}")
    return timeline


def _code_rows(copy: Path, code: str):
    """The rows of *code* in the code-sorted look-up copy, as Arrow with the columns of
    ``schema.EVENT_READ_SCHEMA`` (origin columns null where the copy has none), read as
    :func:`_sorted_rows` reads them."""
    import pyarrow as pa

    from .schema import EVENT_READ_SCHEMA

    table = _sorted_rows(copy, "trace_code", code)
    columns = [table[f.name].cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
               for f in EVENT_READ_SCHEMA]
    return pa.Table.from_arrays(columns, schema=EVENT_READ_SCHEMA)


def _sorted_rows(copy: Path, column: str, value: str, columns=None, below: str | None = None,
                 most: int | None = None):
    """The rows whose *column* is *value* (with *below*: from *value* up to, not including, *below*) in the
    look-up copy sorted by it (Arrow, only *columns* when given); None when they lie in more than *most*
    row groups (the caller then lets DuckDB scan, faster for many rows).

    The row groups that can hold them are found by bisecting their min/max of
    *column* (:func:`_sorted_index`, read once per copy), and only those are read.
    """
    import bisect

    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    metadata, lows, highs = _sorted_index(str(copy), copy.stat().st_mtime_ns, column)
    if below is None:
        def holds(low, high):
            return low <= value <= high
        span = range(bisect.bisect_left(highs, value), bisect.bisect_right(lows, value))
    else:
        def holds(low, high):
            return low < below and high >= value
        span = range(bisect.bisect_left(highs, value), bisect.bisect_left(lows, below))
    if None in lows or None in highs:     # a row group without statistics: test each one
        groups = [i for i, (low, high) in enumerate(zip(lows, highs)) if low is None or high is None or holds(low, high)]
    else:
        groups = [i for i in span if holds(lows[i], highs[i])]
    if most is not None and len(groups) > most:
        return None
    table = pq.ParquetFile(str(copy), metadata=metadata).read_row_groups(groups, columns=columns)
    if below is None:
        return table.filter(pc.equal(table[column], value))
    return table.filter(pc.and_(pc.greater_equal(table[column], value), pc.less(table[column], below)))


@functools.lru_cache(maxsize=16)
def _sorted_index(path: str, mtime_ns: int, column: str):
    """(footer, *column* min per row group, max per row group) of a copy sorted by *column*, cached per
    file version: at 10M events the footer alone takes ~70 ms to parse, longer than reading one value's rows."""
    import pyarrow.parquet as pq

    metadata = pq.ParquetFile(path).metadata
    index = metadata.schema.to_arrow_schema().get_field_index(column)
    stats = [metadata.row_group(i).column(index).statistics for i in range(metadata.num_row_groups)]
    known = [s is not None and s.has_min_max for s in stats]
    return (metadata, [s.min if ok else None for s, ok in zip(stats, known)],
            [s.max if ok else None for s, ok in zip(stats, known)])


class _CodeSorted:
    """The workspace *ws* with its events read from the code-sorted look-up copy (:func:`build_lookup`):
    the same rows, so a one-code read prunes to the row groups holding that code."""

    def __init__(self, ws: Workspace, copy: Path):
        self._ws, self._copy = ws, copy

    def __getattr__(self, name):
        return getattr(self._ws, name)

    def event_parts(self) -> list[Path]:
        return [self._copy]

    def events_dataset(self, origin: bool = False):
        import pyarrow.dataset as ds

        from .schema import EVENT_READ_SCHEMA, EVENT_SCHEMA

        return ds.dataset(str(self._copy), schema=EVENT_READ_SCHEMA if origin else EVENT_SCHEMA, format="parquet")


# --------------------------------------------------------------------------- one box, site or patient
#
# `rxring box|site|patient` and the workbench ask the same questions: what happened to
# this pack, this site, this patient, and which findings and rings name them.  The
# answer comes from the workspace (embedded) or from the Neo4j graph (``neo4j``: the
# events as loaded by `rxring load`, plus the workspace's findings when one is given).
# These functions choose the backend and return plain data, personal ids masked unless
# ``reveal_pii`` (recorded); callers print.


@dataclass
class BoxReport:
    """One pack's chain of custody and the findings on it (:func:`box_report`).

    Attributes
    ----------
    trace_code
        The canonical code (:func:`canonical_code`).
    backend
        ``embedded`` (the workspace's events) or ``neo4j`` (the graph's).
    events
        One row per event in custody order (the columns of :func:`box_timeline`).
    findings
        The workspace's findings on the code; None without a workspace or an analysis.
    where
        The Neo4j server the events come from (``Neo4jConfig.describe()``); '' for embedded.
    """

    trace_code: str
    backend: str
    events: pd.DataFrame
    findings: pd.DataFrame | None
    where: str = ""


@dataclass
class EntityReport:
    """A site's or a patient's events, findings and rings (:func:`entity_report`).

    Attributes
    ----------
    kind, key
        ``site`` or ``patient``, and its id.
    backend
        ``embedded`` (findings and rings of the workspace) or ``neo4j`` (the graph's events too).
    events
        neo4j: the events in time order (:data:`rxring.backends.neo4j.listing.TIMELINE_COLUMNS`;
        a site's latest *limit*); None for embedded.
    summary
        neo4j, site: ``{name, kind, chain, region, events, event_types, first_time, last_time}``; else None.
    findings, rings
        The workspace's findings and rings that name the site or patient (a patient's rings
        also those holding one of its findings); None on neo4j without a workspace or an analysis.
    where
        The Neo4j server (``Neo4jConfig.describe()``); '' for embedded.
    """

    kind: str
    key: str
    backend: str
    events: pd.DataFrame | None = None
    summary: dict | None = None
    findings: pd.DataFrame | None = None
    rings: pd.DataFrame | None = None
    where: str = ""


def lookup_backend(backend: str | None = None, neo4j=None) -> str:
    """Where :func:`box_report` and :func:`entity_report` look: *backend* if given, else ``neo4j``
    when a server is named (*neo4j* or NEO4J_URI), else ``embedded``."""
    from .backends import default_backend

    if backend:
        if backend not in ("embedded", "neo4j"):
            raise RxringError(f"look-ups run on the embedded or the neo4j backend, not {backend!r}")
        return backend
    return "neo4j" if neo4j else default_backend()


def _need_workspace(workspace, backend: str) -> None:
    if workspace is None and backend != "neo4j":
        raise RxringError("--workspace (or RXRING_WORKSPACE) is required unless --backend neo4j is given")


def _graph(neo4j):
    """(config, open driver) of the Neo4j server named by *neo4j* (a Neo4jConfig, a URI or None)."""
    from .backends.neo4j.connect import Neo4jConfig, connect, resolve_config

    config = neo4j if isinstance(neo4j, Neo4jConfig) else resolve_config(neo4j)
    return config, connect(config)


def _findings_about(kind: str, key: str, findings: pd.DataFrame, rings: pd.DataFrame):
    """The findings and rings that name one site or patient."""
    if kind == "site":
        return findings_for(findings, site=key), rings_for(rings, site=key)
    found = findings_for(findings, patient=key)
    return found, rings_for(rings, patient=key, finding_ids=list(found["finding_id"]))


def box_report(workspace, code: str, backend: str | None = None, neo4j=None, *, reveal_pii: bool = False,
               operator: str | None = None) -> BoxReport:
    """Chain of custody of one pack and the workspace's findings on it, personal ids masked unless
    *reveal_pii* (then recorded in the workspace's reveals.jsonl, :func:`rxring.reveal.permit_reveal`).

    Parameters
    ----------
    workspace : str, Path, Workspace or None
        Needed for embedded; with neo4j it only adds its findings.
    code : str
        The trace code in any spelling ingest accepts.
    backend : {"embedded", "neo4j"}, optional
        Default: :func:`lookup_backend`.
    neo4j : Neo4jConfig or str, optional
        The server for ``neo4j`` (default from the environment or `rxring neo4j start`).
    reveal_pii : bool
        Show patient, prescriber and pharmacist ids unmasked (recorded).
    operator : str, optional
        Who reveals (default RXRING_OPERATOR, else the OS user).

    Raises
    ------
    RxringError
        No workspace for embedded; the code is not in the workspace or the graph.
    """
    backend = lookup_backend(backend, neo4j)
    _need_workspace(workspace, backend)
    canonical = canonical_code(code)
    where = ""
    if backend == "neo4j":
        from .backends.neo4j.listing import box_chain

        config, driver = _graph(neo4j)
        where = config.describe()
        with driver:
            events = box_chain(driver, canonical, config.database, where=where)
    else:
        events = _timeline(workspace, code)
    findings = None
    if workspace is not None:
        try:
            findings = findings_for(load_findings(workspace), code=canonical)
        except RxringError:
            findings = None
    reveal = permit_reveal(reveal_pii, workspace, {"trace_code": canonical}, operator, api="rxring.results.box_report")
    return BoxReport(trace_code=canonical, backend=backend, events=mask_frame(events, reveal),
                     findings=None if findings is None else mask_frame(findings, reveal), where=where)


def entity_report(kind: str, key: str, workspace=None, backend: str | None = None, neo4j=None,
                  limit: int | None = 50, shown_key: str | None = None, *, reveal_pii: bool = False,
                  operator: str | None = None) -> EntityReport:
    """A site's or a patient's findings and rings, and with neo4j its events in the graph; personal
    ids masked (the patient's own id too: ``key``) unless *reveal_pii* (recorded).

    Parameters
    ----------
    kind : {"site", "patient"}
    key : str
        The site id or the patient id (psn_no).
    workspace, backend, neo4j
        As for :func:`box_report`.
    limit : int, optional
        neo4j: a site's latest *limit* events, a patient's first; 0 or None for all.
    shown_key : str, optional
        How *key* is named in error messages (default: a patient's id masked unless *reveal_pii*).
    reveal_pii, operator
        As for :func:`box_report`.

    Raises
    ------
    RxringError
        No workspace for embedded, no analysis in it, or nothing names *key*
        (embedded: no finding or ring; neo4j: not in the graph).
    """
    if kind not in ("site", "patient"):
        raise RxringError(f"kind must be 'site' or 'patient', not {kind!r}")
    shown_key = shown_key or (key if kind == "site" or reveal_pii else mask_id(key))
    backend = lookup_backend(backend, neo4j)
    _need_workspace(workspace, backend)

    def shown(report: EntityReport) -> EntityReport:
        """The report with people masked, or revealed once recorded."""
        reveal = permit_reveal(reveal_pii, workspace, {f"{kind}_id": key}, operator, api="rxring.results.entity_report")
        for name in ("events", "findings", "rings"):
            value = getattr(report, name)
            if value is not None:
                setattr(report, name, mask_frame(value, reveal))
        if kind == "patient" and not reveal:
            report.key = mask_id(key)
        return report

    if backend != "neo4j":
        found, found_rings = _findings_about(kind, key, load_findings(workspace), load_rings(workspace))
        if found.empty and found_rings.empty:
            raise RxringError(f"{kind} {shown_key} appears in no finding of {workspace}")
        return shown(EntityReport(kind=kind, key=key, backend=backend, findings=found, rings=found_rings))

    from .backends.neo4j.listing import patient_events, site_events

    config, driver = _graph(neo4j)
    where = config.describe()
    summary = None
    with driver:
        if kind == "site":
            summary, events = site_events(driver, key, config.database, limit=limit, where=where)
        else:
            events = patient_events(driver, key, config.database, limit=limit, where=where, shown_id=shown_key)
    report = EntityReport(kind=kind, key=key, backend=backend, events=events, summary=summary, where=where)
    if workspace is not None:
        try:
            findings, rings = load_findings(workspace), load_rings(workspace)
        except RxringError:
            return shown(report)
        report.findings, report.rings = _findings_about(kind, key, findings, rings)
    return shown(report)


# --------------------------------------------------------------------------- event queries (workbench)
#
# `rxring serve` asks the events questions the findings cannot answer: how big the
# workspace is, which ids match what a user typed, what a site, patient, prescriber
# or settlement did, and who their neighbours are outside a ring.  These read the
# workspace's event parts with DuckDB and return ids AS STORED (like load_findings):
# the caller masks them before showing (rxring.pii.mask_id), revealing only through
# rxring.reveal.permit_reveal.

#: The event column that names each kind of actor (:func:`actor_events`, :func:`match_ids`).
ACTOR_COLUMNS = {"site": "site_id", "patient": "patient_id", "prescriber": "prescriber_id",
                 "settlement": "settlement_id", "code": "trace_code"}


#: The look-up copies :func:`build_lookup` writes: name -> (sort key, only rows where it is set).
_LOOKUP_COPIES = {"trace_code": False, "site_id": False, "patient_id": True, "prescriber_id": True,
                  "settlement_id": True}
#: Box movements (a pack dispensed to a patient, then seen at another site later), sorted three ways.
_MOVE_COPIES = ("to_site", "from_site", "from_patient")
_MOVES_SQL = """SELECT d.trace_code, d.site_id AS from_site, d.patient_id AS from_patient, d.fund_amount AS fund,
       d.event_time AS from_time, l.site_id AS to_site, l.event_time AS to_time
FROM {events} d JOIN {events} l ON l.trace_code = d.trace_code
WHERE d.event_type = 'dispense' AND d.patient_id IS NOT NULL AND l.site_id <> d.site_id
  AND l.event_time > d.event_time"""
_LOOKUP_ROW_GROUP = 16_384
#: Bumped when the copies change shape, so copies of an older rxring are written again.
_LOOKUP_VERSION = 2


def lookup_dir(workspace) -> Path:
    """Where :func:`build_lookup` keeps the workspace's look-up copies: ``cache/lookup-v<N>-<ingest state>/``."""
    ws = as_workspace(workspace)
    return ws.root / "cache" / f"lookup-v{_LOOKUP_VERSION}-{ws.ingest_state()[:16]}"


def build_lookup(workspace, echo=None) -> Path:
    """Copies of the workspace's events sorted by code, site, patient, prescriber and settlement, for fast look-ups.

    The event queries below (:func:`actor_events`, :func:`actor_neighbours`,
    :func:`match_ids`, :func:`event_counts`) and :func:`box_report` read a copy sorted by
    the column they filter on when one exists for the workspace's current ingest state
    (:func:`lookup_dir`): Parquet in row groups of 16k rows, whose min/max statistics let
    a look-up read one or two row groups instead of every event (the same rows, so the
    same answers).  A new ingest changes the state, so stale copies are never read;
    older ones are removed here.  Written under a temporary name and renamed, so a
    reader never sees half a copy.  Returns the folder.
    """
    import shutil

    import duckdb

    ws = as_workspace(workspace)
    target = lookup_dir(ws)
    if (target / "done").exists():
        return target
    parts = ws.event_parts()
    if not parts:
        raise RxringError(f"workspace {ws.root} holds no events; ingest some input first")
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if echo:
        echo(f"building the look-up copies of {ws.root} (once per ingest) ...")
    con = duckdb.connect()
    try:
        con.execute("SET preserve_insertion_order = false")
        con.execute("SET enable_progress_bar = false")
        con.execute(f"CREATE VIEW events_all AS SELECT * FROM {_events_sql(ws)}")
        for column, only_set in _LOOKUP_COPIES.items():
            where = f"WHERE {column} IS NOT NULL" if only_set else ""
            _copy_sorted(con, f"SELECT * FROM events_all {where}", column, tmp / f"by_{column}.parquet")
        con.execute(f"CREATE TEMP TABLE moves AS {_MOVES_SQL.format(events='events_all')}")
        for column in _MOVE_COPIES:
            _copy_sorted(con, "SELECT * FROM moves", column, tmp / f"moves_by_{column}.parquet")
    finally:
        con.close()
    (tmp / "done").write_text(ws.ingest_state() + "\n", encoding="utf-8")
    if (target / "done").exists():      # another process finished first: keep its copies
        shutil.rmtree(tmp, ignore_errors=True)
        return target
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    for old in target.parent.glob("lookup-*"):
        if old != target and ".tmp-" not in old.name:
            shutil.rmtree(old, ignore_errors=True)
    return target


def _copy_sorted(con, select: str, column: str, path: Path) -> None:
    out = str(path).replace("'", "''")
    con.execute(f"COPY ({select} ORDER BY {column}) TO '{out}' "
                f"(FORMAT PARQUET, COMPRESSION ZSTD, ROW_GROUP_SIZE {_LOOKUP_ROW_GROUP})")


def _moves_copy(ws: Workspace, column: str) -> Path | None:
    """The look-up copy of the box movements sorted by *column* for the current ingest state, or None."""
    folder = lookup_dir(ws)
    path = folder / f"moves_by_{column}.parquet"
    return path if (folder / "done").exists() and path.exists() else None


def _moves_sql(ws: Workspace, column: str) -> str:
    """The box movements sorted by *column* (:data:`_MOVE_COPIES`): the look-up copy, else computed from the events."""
    path = _moves_copy(ws, column)
    if path is not None:
        return "read_parquet('" + str(path).replace("'", "''") + "')"
    return "(" + _MOVES_SQL.format(events=_events_sql(ws, "trace_code")) + ")"


def _lookup_copy(ws: Workspace, column: str | None) -> Path | None:
    """The look-up copy sorted by *column* for the current ingest state, or None."""
    if column not in _LOOKUP_COPIES:
        return None
    folder = lookup_dir(ws)
    path = folder / f"by_{column}.parquet"
    return path if (folder / "done").exists() and path.exists() else None


def _events_sql(ws: Workspace, column: str | None = None) -> str:
    """A DuckDB relation over the workspace's events: the look-up copy sorted by *column* when there is one
    (only rows where *column* is set, for the people and settlement copies), else the event parts."""
    copy = _lookup_copy(ws, column)
    if copy is not None:
        return "read_parquet('" + str(copy).replace("'", "''") + "')"
    parts = ws.event_parts()
    if not parts:
        raise RxringError(f"workspace {ws.root} holds no events; ingest some input first")
    paths = ", ".join("'" + str(p).replace("'", "''") + "'" for p in parts)
    return f"read_parquet([{paths}], union_by_name = true)"


_DB = None
_DB_LOCK = threading.Lock()


def _cursor():
    """A cursor of this process' DuckDB for the event queries: one in-memory database whose Parquet
    metadata cache keeps the footers of the look-up copies (hundreds of row groups at 10M events, ~70 ms
    to parse) between queries; a cursor per query, so threads never share one."""
    global _DB
    import duckdb

    with _DB_LOCK:
        if _DB is None:
            _DB = duckdb.connect()
            _DB.execute("SET enable_object_cache = true")
            _DB.execute("SET parquet_metadata_cache = true")   # footers of the look-up copies, parsed once
            _DB.execute("SET enable_progress_bar = false")
        return _DB.cursor()


def _query(ws: Workspace, sql: str, params=None, key=None, tables=None) -> pd.DataFrame:
    """Run *sql* with ``EVENTS`` (all events), ``EVENTS_BY_<column>`` (the look-up copy sorted by it) and
    ``MOVES_BY_<column>`` (the box movements) replaced, and the Arrow *tables* (name -> table) registered.

    With *key*, for a query that keeps only the rows of each copy it names whose sort column
    is *key*: each copy there is read as those rows alone (:func:`_sorted_rows`, a few row groups
    of hundreds), not filtered by DuckDB over all of it."""
    con = _cursor()
    try:
        for name, table in (tables or {}).items():
            con.register(name, table)
        named = [(f"MOVES_BY_{column}", column, _moves_copy, _moves_sql) for column in _MOVE_COPIES] + \
                [(f"EVENTS_BY_{column}", column, _lookup_copy, _events_sql)
                 for column in sorted(_LOOKUP_COPIES, key=len, reverse=True)]
        for i, (name, column, copy_of, sql_of) in enumerate(named):
            if name not in sql:
                continue
            copy = copy_of(ws, column) if key is not None else None
            if copy is not None:
                con.register(f"key_rows_{i}", _sorted_rows(copy, column, str(key)))
                sql = sql.replace(name, f"key_rows_{i}")
            else:
                sql = sql.replace(name, sql_of(ws, column))
        return con.execute(sql.replace("EVENTS", _events_sql(ws)), params or []).df()
    finally:
        con.close()


def events_of(workspace, trace_codes=(), event_ids=(), columns=None):
    """The events whose trace code is one of *trace_codes* or whose id is one of *event_ids*, as Arrow.

    What an output shows of the events (a ring's chains of custody, the events of its
    graph's nodes) is a few thousand rows of a city's millions, so they are read with
    the filter in the Parquet scan (DuckDB): the code and id columns of every row group,
    and of the look-up copy sorted by code (:func:`build_lookup`), when there is one,
    only the row groups whose code range holds a wanted code.  Memory follows the answer,
    not the city.  Columns and types are :data:`rxring.schema.EVENT_SCHEMA` (null where a
    part lacks a column), ids as stored (mask people before showing), rows in the order
    of the events read; empty when the workspace holds no events or nothing is asked for.
    *columns*: only these columns of the schema (always with ``trace_code`` and ``event_id``),
    for a caller that shows only those: the others are never decoded; they may name origin
    columns too (:data:`rxring.schema.EVENT_ORIGIN_SCHEMA`: the message's ``channel`` ...),
    null for events of parts without them.
    """
    import pyarrow as pa

    from .schema import EVENT_READ_SCHEMA, EVENT_SCHEMA

    schema = EVENT_SCHEMA
    if columns is not None:
        wanted = set(columns) | {"trace_code", "event_id"}
        schema = pa.schema([f for f in EVENT_READ_SCHEMA if f.name in wanted])
    ws = as_workspace(workspace)
    codes, ids = sorted({str(c) for c in trace_codes}), sorted({str(e) for e in event_ids})
    tables = []
    if ws.event_parts() and (codes or ids):
        names = None if columns is None else schema.names
        if codes and _lookup_copy(ws, "trace_code") is not None:
            tables.append(_scan(_events_sql(ws, "trace_code"), codes, (), names))
            found = set(tables[0].column("event_id").to_pylist())
            codes, ids = [], [e for e in ids if e not in found]
        if codes or ids:
            tables.append(_scan(_events_sql(ws), codes, ids, names))
    shaped = [pa.Table.from_arrays([t.column(f.name).cast(f.type) if f.name in t.column_names
                                    else pa.nulls(t.num_rows, f.type) for f in schema], schema=schema)
              for t in tables]
    return pa.concat_tables(shaped) if shaped else schema.empty_table()


def _scan(source: str, codes: list[str], ids: list[str], columns: list[str] | None = None):
    """The rows of *source* (a DuckDB relation over events) whose code is one of *codes* or whose id is one of
    *ids*, as Arrow (:func:`_scan_sql`); all columns, or those of *columns* that *source* has."""
    from .rules.findings import arrow_table

    sql, params = _scan_sql(source if columns is None else _project(source, columns), codes, ids)
    con = _cursor()
    try:
        return arrow_table(con.sql(sql, params=params))
    finally:
        con.close()


def _project(source: str, columns: list[str]) -> str:
    """*source* (a DuckDB relation) with only those of *columns* it has: DuckDB pushes a filter on it down to
    the Parquet scan all the same, and decodes no other column."""
    con = _cursor()
    try:
        present = set(con.sql(f"SELECT * FROM {source} LIMIT 0").columns)
    finally:
        con.close()
    return "(SELECT " + ", ".join('"' + c.replace('"', '""') + '"' for c in columns if c in present) + f" FROM {source})"


def _scan_sql(source: str, codes: list[str], ids: list[str]) -> tuple[str, list | dict]:
    """The query of :func:`_scan` and its parameters.  Codes alone are an ``IN`` list, which DuckDB pushes into
    the Parquet scan (``EXPLAIN`` shows it there), so the row groups of the code-sorted copy whose range holds no
    wanted code are skipped; with ids as well, each list is a hash semi-join (an ``OR`` of two long ``IN``
    lists would be tested value by value, row by row)."""
    if not ids:
        return f"SELECT * FROM {source} WHERE trace_code IN ({', '.join('?' * len(codes))})", list(codes)
    where = " OR ".join([*(["trace_code IN (SELECT unnest($codes::VARCHAR[]))"] if codes else []),
                         "event_id IN (SELECT unnest($ids::VARCHAR[]))"])
    return f"SELECT * FROM {source} WHERE {where}", {"ids": list(ids), **({"codes": list(codes)} if codes else {})}


def event_counts(workspace) -> dict:
    """``{events, codes, sites, patients, first_time, last_time}`` of the workspace's events."""
    ws = as_workspace(workspace)
    row = _query(ws, "SELECT count(*) AS events, count(DISTINCT trace_code) AS codes, count(DISTINCT site_id) AS sites, "
                     "count(DISTINCT patient_id) AS patients, min(event_time) AS first_time, "
                     "max(event_time) AS last_time FROM EVENTS").iloc[0]
    return {k: (None if pd.isna(v) else (int(v) if k not in ("first_time", "last_time") else v))
            for k, v in row.items()}


#: A prefix whose ids lie in at most this many row groups of a look-up copy is read from those alone
#: (:func:`match_ids`); a shorter, broader one is left to DuckDB's scan.
_PREFIX_GROUPS = 8


def match_ids(workspace, text: str, limit: int = 20) -> pd.DataFrame:
    """Ids in the events that start with *text* (as typed or in upper case), exact matches first.

    Columns ``kind`` (a key of :data:`ACTOR_COLUMNS`), ``id``, ``events``, ``exact``;
    at most *limit* rows per kind.  A trace code is matched in its canonical spelling
    (:func:`canonical_code`).  Ids as stored: mask people before showing.  A prefix
    reads only the row groups of the look-up copies (:func:`build_lookup`) that can hold it.
    """
    ws = as_workspace(workspace)
    text = str(text).strip()
    if not text:
        return pd.DataFrame(columns=["kind", "id", "events", "exact"])
    selects, params, tables = [], [], {}
    for kind, column in ACTOR_COLUMNS.items():
        needle = canonical_code(text) if kind == "code" else text
        copy = _lookup_copy(ws, column)
        for variant in dict.fromkeys([needle, needle.upper()]):
            source = f"EVENTS_BY_{column}"
            rows = None if copy is None else _sorted_rows(copy, column, variant, [column],
                                                          below=variant + "\U0010ffff", most=_PREFIX_GROUPS)
            if rows is not None:      # the few row groups of the copy that can hold the prefix, read here
                source = f"prefix_rows_{len(selects)}"
                tables[source] = rows
            selects.append(f"SELECT '{kind}' AS kind, {column} AS id FROM {source} "
                           f"WHERE {column} >= ? AND {column} < ?")
            params += [variant, variant + "\U0010ffff"]
    sql = (f"SELECT kind, id, count(*) AS events, lower(id) = lower(?) AS exact FROM ({' UNION ALL '.join(selects)}) "
           f"GROUP BY kind, id QUALIFY row_number() OVER (PARTITION BY kind ORDER BY exact DESC, events DESC, id) "
           f"<= {int(limit)} ORDER BY kind, exact DESC, events DESC, id")
    found = _query(ws, sql, [text, *params], tables=tables)
    code = canonical_code(text).lower()
    found.loc[found["kind"] == "code", "exact"] = found.loc[found["kind"] == "code", "id"].str.lower() == code
    return found.reset_index(drop=True)


#: Event columns :func:`box_events` adds to the timeline (what a page shows beside the chain).
BOX_EVENT_EXTRA = ("trace_code", "product_name", "pharmacist_id")


def box_events(workspace, code: str) -> pd.DataFrame:
    """One pack's chain of custody as :func:`box_timeline` gives it (with its notes), ids as stored,
    and the columns :data:`BOX_EVENT_EXTRA`; one read of the code's rows (RxringError when absent)."""
    return _timeline(workspace, code, extra=BOX_EVENT_EXTRA)


def actor_events(workspace, kind: str, key: str, limit: int = 500) -> pd.DataFrame:
    """The events of one site, patient, prescriber, settlement or code (:data:`ACTOR_COLUMNS`), latest
    *limit* in time order; ids as stored (mask people before showing)."""
    if kind not in ACTOR_COLUMNS:
        raise RxringError(f"kind must be one of {', '.join(ACTOR_COLUMNS)}, not {kind!r}")
    ws = as_workspace(workspace)
    column = ACTOR_COLUMNS[kind]
    frame = _query(ws, f"SELECT * FROM EVENTS_BY_{column} WHERE {column} = ? "
                       f"ORDER BY event_time DESC, event_id DESC LIMIT {int(limit)}",
                   [key], key=key)
    return frame.iloc[::-1].reset_index(drop=True)


def actor_weeks(workspace, kind: str, key: str) -> dict[str, int]:
    """All the events of one site, patient, prescriber, settlement or code (:data:`ACTOR_COLUMNS`) counted
    per week: ``{first day (Monday) of the week as YYYY-MM-DD: events}``, in time order."""
    if kind not in ACTOR_COLUMNS:
        raise RxringError(f"kind must be one of {', '.join(ACTOR_COLUMNS)}, not {kind!r}")
    ws, column = as_workspace(workspace), ACTOR_COLUMNS[kind]
    copy = _lookup_copy(ws, column)
    if copy is not None:      # the copy's row groups that hold the key (a site's are a few of hundreds)
        times = _sorted_rows(copy, column, str(key), [column, "event_time"])["event_time"].to_pandas()
    else:
        times = _query(ws, f"SELECT event_time FROM EVENTS WHERE {column} = ?", [key])["event_time"]
    times = pd.to_datetime(times).dropna()
    weeks = (times - pd.to_timedelta(times.dt.day_of_week, unit="D")).dt.strftime("%Y-%m-%d").value_counts()
    return {str(w): int(n) for w, n in sorted(weeks.items())}


#: The relations :func:`actor_neighbours` follows from each kind of actor (its docstring says what they mean).
NEIGHBOUR_RELATIONS = {"site": ("source_site", "source_patient", "resurface_site"),
                       "patient": ("dispensed_at", "prescribed_by", "resurface_site"),
                       "prescriber": ("prescribed_to", "dispensed_at")}


def check_relations(kind: str, relations) -> None:
    """RxringError unless *kind* is site, patient or prescriber and each of *relations* one of its relations."""
    if kind not in NEIGHBOUR_RELATIONS:
        raise RxringError(f"kind must be site, patient or prescriber, not {kind!r}")
    unknown = set(relations or ()) - set(NEIGHBOUR_RELATIONS[kind])
    if unknown:
        raise RxringError(f"a {kind} has no relation {', '.join(sorted(unknown))}")


def actor_neighbours(workspace, kind: str, key: str, limit: int = 40, offset: int = 0,
                     relations=None) -> pd.DataFrame:
    """Who a site, patient or prescriber is joined to through the events, strongest first.

    Columns ``kind`` (site/patient/prescriber), ``id``, ``relation``, ``boxes`` (distinct
    codes), ``fund`` (fund paid on those dispenses), ``first_time``, ``last_time``, and
    over all the relation's neighbours ``total`` (their number), ``total_boxes``,
    ``total_fund``, ``total_first``, ``total_last``; at most *limit* rows per relation
    after skipping *offset* (paging), only *relations* when given.  Relations:

    * site: ``source_site`` / ``source_patient`` — a code seen at the site was earlier
      dispensed to that patient at that other site (where its packs come from);
      ``resurface_site`` — a code dispensed here later appears at that other site;
    * patient: ``dispensed_at`` (sites that sold to the patient), ``prescribed_by``,
      ``resurface_site`` (where the patient's packs turned up later);
    * prescriber: ``prescribed_to`` (patients), ``dispensed_at`` (their sites).

    Ids as stored: mask people before showing.
    """
    check_relations(kind, relations)
    ws = as_workspace(workspace)
    moved = ("m.trace_code", "m.fund", "m.to_time")          # a movement: the resurfacing event's time
    event = ("d.trace_code", "d.fund_amount", "d.event_time")
    if kind == "site":
        queries = [
            ("source_site", "site", "m.from_site", "FROM MOVES_BY_to_site m WHERE m.to_site = $key", moved),
            ("source_patient", "patient", "m.from_patient", "FROM MOVES_BY_to_site m WHERE m.to_site = $key", moved),
            ("resurface_site", "site", "m.to_site", "FROM MOVES_BY_from_site m WHERE m.from_site = $key", moved),
        ]
    elif kind == "patient":
        queries = [
            ("dispensed_at", "site", "d.site_id",
             "FROM EVENTS_BY_patient_id d WHERE d.patient_id = $key AND d.event_type = 'dispense'", event),
            ("prescribed_by", "prescriber", "d.prescriber_id",
             "FROM EVENTS_BY_patient_id d WHERE d.patient_id = $key AND d.event_type = 'dispense' "
             "AND d.prescriber_id IS NOT NULL", event),
            ("resurface_site", "site", "m.to_site", "FROM MOVES_BY_from_patient m WHERE m.from_patient = $key", moved),
        ]
    else:
        queries = [
            ("prescribed_to", "patient", "d.patient_id",
             "FROM EVENTS_BY_prescriber_id d WHERE d.prescriber_id = $key AND d.event_type = 'dispense' "
             "AND d.patient_id IS NOT NULL", event),
            ("dispensed_at", "site", "d.site_id",
             "FROM EVENTS_BY_prescriber_id d WHERE d.prescriber_id = $key AND d.event_type = 'dispense'", event),
        ]
    if relations is not None:
        check_relations(kind, relations)
        queries = [q for q in queries if q[0] in relations]
    selects = []
    for relation, other, column, body, (code, fund, when) in queries:
        selects.append(f"(SELECT '{other}' AS kind, {column} AS id, '{relation}' AS relation, "
                       f"count(DISTINCT {code}) AS boxes, sum({fund}) AS fund, min({when}) AS first_time, "
                       f"max({when}) AS last_time, count(*) OVER () AS total, "
                       f"CAST(sum(count(DISTINCT {code})) OVER () AS BIGINT) AS total_boxes, sum(sum({fund})) OVER () AS total_fund, "
                       f"min(min({when})) OVER () AS total_first, max(max({when})) OVER () AS total_last "
                       f"{body} GROUP BY {column} ORDER BY boxes DESC, id LIMIT {int(limit)} OFFSET {int(offset)})")
    if not selects:
        return pd.DataFrame(columns=["kind", "id", "relation", "boxes", "fund", "first_time", "last_time", "total",
                                     "total_boxes", "total_fund", "total_first", "total_last"])
    return _query(ws, " UNION ALL ".join(selects), {"key": key}, key=key).reset_index(drop=True)
