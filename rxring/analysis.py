"""The analysis: one call, any backend, one shared ending.

:func:`analyze` runs the rules over an ingested workspace on a backend
(:mod:`rxring.backends`: ``embedded`` DuckDB, ``spark``, ``neo4j``) and writes the
results; :func:`run_rules` returns the findings of a pandas event table.  Whatever
the backend, it only produces the rules' flat evidence rows
(:class:`rxring.backends.base.Evidence`); the rest is written once, here
(:func:`conclude`): findings (:func:`rxring.rules.findings.assemble_findings`),
rings (:func:`rxring.rings.build_rings`) of the findings no exception explains
(:mod:`rxring.cases.exceptions`), ring ids carried over from the previous run
and the findings new since then (:mod:`rxring.cases.identity`), stats, and one
write of ``findings.parquet``, ``rings.parquet`` and ``analysis.json`` (with
``ring_lineage.json`` and ``finding_status.parquet`` beside them,
:func:`write_results`), published as one generation under the workspace lock.

Examples
--------
>>> import pandas as pd
>>> events = pd.DataFrame({
...     "event_id": ["e1", "e2", "e3"],
...     "trace_code": ["81000000000000000001"] * 3,
...     "event_type": ["inbound", "dispense", "dispense"],
...     "event_time": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-02-01"]),
...     "site_id": ["S1", "S1", "S2"],
...     "patient_id": [None, "P1", "P2"],
... })
>>> sorted(run_rules(events)["rule"])
['DUP_DISPENSE', 'RESURFACE']
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .version import __version__
from .backends import BACKENDS, default_backend, open_backend
from .backends.base import Backend, Evidence, progress_steps
from .cases.exceptions import active_exceptions, set_aside_counts
from .cases.identity import PreviousRun, carry_over, previous_run, write_identity
from .errors import RxringError
from .jsonout import write_json
from .options import AnalysisOptions
from .rings import build_rings
from .rules.findings import assemble_findings
from .schema import RULES
from .workspace import Workspace, as_workspace, create_workspace, fault_point, workspace_lock

__all__ = ["AnalysisResult", "analyze", "run_rules", "conclude", "write_results", "BACKENDS", "default_backend"]


@dataclass
class AnalysisResult:
    """What :func:`analyze` produced (also written to the workspace).

    Attributes
    ----------
    findings, rings
        schema.FINDING_COLUMNS and schema.RING_COLUMNS tables.
    stats
        Counts and timings (``analysis.json``'s ``stats``).
    meta
        The whole ``analysis.json`` (tool, version, engine, seed, options, stats).
    ingest_report
        The ingest report when :func:`analyze` was given inputs.
    lineage, status
        What became of the previous run's rings, and each finding's status
        (:mod:`rxring.cases.identity`: ``ring_lineage.json``, ``finding_status.parquet``).
    """

    findings: pd.DataFrame
    rings: pd.DataFrame
    stats: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    ingest_report: object = None
    lineage: dict | None = None
    status: pd.DataFrame | None = None


def conclude(backend: Backend, evidence: Evidence, options: AnalysisOptions, started: float,
             step=None, previous: PreviousRun | None = None, explained: dict | None = None) -> AnalysisResult:
    """The shared ending of every backend: findings, rings, stats and metadata from *evidence*.

    *started* is the ``time.perf_counter()`` of the analysis's start (for
    ``stats["seconds"]``); *step* is the progress callable.  *previous* is the run
    whose ring ids are carried over (:func:`rxring.cases.identity.previous_run`;
    None: a first analysis, rings numbered by rank); *explained* maps finding ids to
    the exceptions that explain them (:func:`rxring.cases.exceptions.active_exceptions`):
    those findings stay listed but form and count in no ring.
    """
    clock = time.process_time
    timings = evidence.stats.get("cpu_seconds_by_step")
    begun = clock()
    findings = assemble_findings(evidence.flat)
    if timings is not None:
        timings["assemble"] = round(clock() - begun, 3)
    if step:
        step("rings")
    begun = clock()
    known = set(findings["finding_id"])
    explained = {f: e for f, e in (explained or {}).items() if f in known}
    counted = findings[~findings["finding_id"].isin(explained)].reset_index(drop=True) if explained else findings
    rings = build_rings(counted, options)
    rings, lineage, status = carry_over(findings, rings, previous, explained)
    if timings is not None:
        timings["rings"] = round(clock() - begun, 3)
    backend.after_rings(findings, rings)
    if step:
        step("write")
    stats = {
        "events_read": int(evidence.events_read),
        "events_used": int(evidence.events_used),
        **evidence.stats,
        "findings": int(len(findings)),
        "findings_by_rule": {r: int((findings["rule"] == r).sum()) for r in RULES},
        "rings": int(len(rings)),
        "seconds": round(time.perf_counter() - started, 2),
    }
    if explained:   # only then: the stats of an analysis without exceptions are what they always were
        stats["findings_set_aside"] = set_aside_counts(status)
    meta = {
        "tool": "rxring",
        "version": __version__,
        "engine": backend.name,
        **evidence.meta,
        "seed": options.seed,
        "options": options.to_dict(),
        "stats": stats,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return AnalysisResult(findings=findings, rings=rings, stats=stats, meta=meta, lineage=lineage, status=status)


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp, compression="zstd")
    _fsync(tmp)
    tmp.replace(path)


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


#: The steps of publishing results, in order (:func:`write_results`); ``RXRING_FAULT_AT=<step>``
#: kills the process just before one (:func:`rxring.workspace.fault_point`, a testing hook:
#: tests/analyze/test_generations.py checks the workspace then holds the old or the new results).
PUBLISH_STEPS = (
    "publish-findings", "publish-rings", "publish-analysis", "publish-pointer", "publish-mirror", "publish-prune",
)


def write_results(out, result: AnalysisResult) -> Path:
    """Publish ``findings.parquet``, ``rings.parquet`` and ``analysis.json`` as one generation of *out*.

    The generation also gets the result's ring lineage and finding status
    (:func:`rxring.cases.identity.write_identity`) when it has them.

    Holding the workspace lock (:func:`rxring.workspace.workspace_lock`), the three
    files are written into a new folder ``results/gen-<n>/``, which then becomes
    the current one in one atomic rename of ``results/CURRENT``; a process killed
    at any point leaves the previous results current, whole.  Afterwards the
    files are linked into *out* itself for other tools, and generations older
    than the two before this one are deleted.  Returns the generation's folder.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RxringError(f"output {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    ws = Workspace(out)
    with workspace_lock(ws, "analyze"):
        folder = ws.new_generation()
        fault_point("publish-findings")
        _write_parquet(result.findings, folder / "findings.parquet")
        fault_point("publish-rings")
        _write_parquet(result.rings, folder / "rings.parquet")
        if result.lineage is not None and result.status is not None:
            write_identity(folder, result.lineage, result.status)
        fault_point("publish-analysis")
        path = folder / "analysis.json"
        write_json(path, result.meta, sort_keys=True)
        _fsync(path)
        fault_point("publish-pointer")
        ws.publish_generation(folder)
        fault_point("publish-mirror")
        ws.mirror_current()
        fault_point("publish-prune")
        ws.prune_generations()
    return folder


def analyze(workspace, backend: str | Backend | None = None, options: AnalysisOptions | None = None, *,
            inputs=(), progress: bool = False, column_map=None, **backend_options) -> AnalysisResult:
    """Run the rules and find rings on *workspace*; write and return the results.

    Parameters
    ----------
    workspace : str, Path or Workspace
        The workspace folder (created when *inputs* are given).
    backend : {"embedded", "neo4j", "spark"} or Backend, optional
        Where the rules run: DuckDB over the workspace's Parquet (``embedded``),
        Apache Spark (``spark``) or a Neo4j server (``neo4j``: the workspace is
        loaded into it first, and the rings are written back).  Default:
        :func:`rxring.backends.default_backend` (``neo4j`` when ``NEO4J_URI`` is set).
        All give the same findings and rings.
    options : AnalysisOptions, optional
        Thresholds and seed; defaults if None.
    inputs : sequence of paths, optional
        Files or folders to ingest into the workspace first (``rxring ingest``).
    progress : bool
        Progress bars on stderr.
    column_map : str, Path or ColumnMap, optional
        The column map the *inputs* are read with (``rxring ingest --columns``).
    **backend_options
        For the backend: ``neo4j`` (a :class:`~rxring.backends.neo4j.connect.Neo4jConfig`
        or a URI; default from the environment or ``rxring neo4j start``),
        ``spark`` (a SparkSession) or ``spark_master`` (default ``local[*]``),
        ``prune`` (embedded; default True).

    Returns
    -------
    AnalysisResult
        Its ``meta`` (analysis.json) records ``ingest_state``, the workspace's
        :meth:`~rxring.workspace.Workspace.ingest_state` the results were computed from.

    Notes
    -----
    The whole run (ingest included) holds the workspace lock: a second analysis or
    ingest of the same workspace waits for it (``RXRING_LOCK_WAIT`` seconds, default
    300), then fails with one line naming the process that holds it.

    See Also
    --------
    run_rules : the findings of a pandas event table.
    rxring.results : reading the results back.
    """
    options = options or AnalysisOptions()
    report = None
    inputs = [Path(p) for p in (inputs or [])]
    # with inputs the workspace is created first (or one clear error says why it cannot be)
    with workspace_lock(create_workspace(workspace) if inputs else as_workspace(workspace), "analyze"):
        if inputs:
            from .ingest import ingest

            report = ingest(inputs, workspace, progress=progress, column_map=column_map)
        ws = as_workspace(workspace)
        if not ws.event_parts():
            raise RxringError(f"workspace {ws.root} holds no events; run `rxring ingest INPUT... --workspace {ws.root}` first")
        state = ws.ingest_state()
        previous, explained = previous_run(ws), active_exceptions(ws)
        started = time.perf_counter()
        with open_backend(backend, **backend_options) as engine:
            bar, step = progress_steps(progress, engine.steps + 2, f"analyze ({engine.name})")
            try:
                evidence = engine.workspace_evidence(ws, options, step)
                result = conclude(engine, evidence, options, started, step, previous, explained)
            finally:
                bar.close()
        result.meta["ingest_state"] = state
        write_results(ws.root, result)
    result.ingest_report = report
    return result


def run_rules(events: pd.DataFrame, options: AnalysisOptions | None = None, products: pd.DataFrame | None = None,
              deletions: pd.DataFrame | None = None, *, backend: str | Backend = "embedded",
              **backend_options) -> pd.DataFrame:
    """The findings of the five rules (DESIGN §3) on a pandas event table.

    Parameters
    ----------
    events
        Canonical events (schema.EVENT_SCHEMA columns; missing optional columns are
        treated as null, a missing event_id is derived from the row position).
    options
        Thresholds (:class:`~rxring.options.AnalysisOptions`); defaults if None.
    products
        Products master (product_code, pack_units): needed to judge split (拆零)
        sales against the pack size; without it split sales of one code at one
        site count as one pack.
    deletions
        NHSA 3507 deletions (record_no, event_type or inv_data_type[, site_id]):
        matching events do not count.
    backend
        ``embedded`` (default), ``spark`` or ``neo4j`` (the events are loaded into
        the database of ``neo4j=``, which must hold no other events), or a Backend.
    **backend_options
        As for :func:`analyze` (``prune``, ``spark``, ``spark_master``, ``neo4j``).

    Returns
    -------
    pandas.DataFrame
        schema.FINDING_COLUMNS, sorted by rule, first trace code, finding_id.
    """
    options = options or AnalysisOptions()
    with open_backend(backend, **backend_options) as engine:
        evidence = engine.frame_evidence(events, options, products, deletions)
    return assemble_findings(evidence.flat)
