"""Reading an analysed workspace: findings, rings, the analysis record, a box's chain of custody.

Every backend writes the same three files (:func:`rxring.analysis.write_results`):
``findings.parquet`` (schema.FINDING_COLUMNS), ``rings.parquet``
(schema.RING_COLUMNS) and ``analysis.json``.  The listing commands, the reports
and the workbench read them through this module, whichever backend wrote them.

Examples
--------
>>> import rxring
>>> rings = rxring.load_rings("ws")                     # doctest: +SKIP
>>> findings_for(rxring.load_findings("ws"), site="H01")  # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .errors import RxringError
from .options import AnalysisOptions
from .schema import RULES
from .workspace import as_workspace

__all__ = [
    "load_findings",
    "load_rings",
    "load_analysis",
    "require_engine",
    "findings_for",
    "rings_for",
    "canonical_code",
    "box_timeline",
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
    """findings.parquet of a workspace (list columns as Python lists)."""
    ws = as_workspace(workspace)
    _require(ws.findings_path, "findings")
    return _lists(pd.read_parquet(ws.findings_path))


def load_rings(workspace) -> pd.DataFrame:
    """rings.parquet of a workspace (list columns as Python lists), by rank."""
    ws = as_workspace(workspace)
    _require(ws.rings_path, "rings")
    return _lists(pd.read_parquet(ws.rings_path)).sort_values("rank").reset_index(drop=True)


def load_analysis(workspace) -> dict:
    """analysis.json of a workspace ({} when not analysed yet)."""
    ws = as_workspace(workspace)
    if not ws.analysis_path.exists():
        return {}
    return json.loads(ws.analysis_path.read_text(encoding="utf-8"))


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


def findings_for(findings: pd.DataFrame, *, rule: str | None = None, site: str | None = None,
                 patient: str | None = None, code: str | None = None) -> pd.DataFrame:
    """Findings filtered by rule, site (any role), patient (any role) or trace code."""
    mask = pd.Series(True, index=findings.index)
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


def box_timeline(workspace, trace_code: str, options: AnalysisOptions | None = None) -> pd.DataFrame:
    """Chain of custody of one pack: every event of *trace_code* in time order.

    Each row keeps its source file and line, and a note when it does not count
    (deleted by NHSA 3507, duplicate event id, double scan, sale cancelled by a
    refund).  *options* default to those of the workspace's last analysis.
    """
    from .backends.duckdb import code_timeline

    ws = as_workspace(workspace)
    options = options or AnalysisOptions.from_dict(load_analysis(ws).get("options", {}))
    code = canonical_code(trace_code)
    timeline = code_timeline(ws, code, options)
    if timeline.empty:
        raise RxringError(f"trace code {code} does not occur in workspace {ws.root}")
    return timeline
