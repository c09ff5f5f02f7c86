"""The embedded analysis: rules over the event table, then rings (library API).

``rxring analyze`` is a thin shell over :func:`analyze`; the listing commands
(``rings``, ``ring``, ``findings``, ``box``, ``site``, ``patient``) over the
readers at the end of this module.

Examples
--------
>>> import pandas as pd
>>> from rxring.analysis import run_rules
>>> from rxring.options import AnalysisOptions
>>> events = pd.DataFrame({
...     "event_id": ["e1", "e2", "e3"],
...     "trace_code": ["81000000000000000001"] * 3,
...     "event_type": ["inbound", "dispense", "dispense"],
...     "event_time": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-02-01"]),
...     "site_id": ["S1", "S1", "S2"],
...     "patient_id": [None, "P1", "P2"],
... })
>>> sorted(run_rules(events, AnalysisOptions())["rule"])
['DUP_DISPENSE', 'RESURFACE']
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from . import __version__
from .errors import RxringError
from .options import AnalysisOptions
from .queries import embedded
from .schema import RULES
from .workspace import Workspace

__all__ = [
    "AnalysisResult",
    "run_rules",
    "analyze",
    "analyze_workspace",
    "analyze_workspace_neo4j",
    "BACKENDS",
    "default_backend",
    "load_findings",
    "load_rings",
    "load_analysis",
    "box_timeline",
    "canonical_code",
    "findings_for",
    "rings_for",
]


@dataclass
class AnalysisResult:
    """What :func:`analyze` produced (also written to the workspace)."""

    findings: pd.DataFrame
    rings: pd.DataFrame
    ingest_report: object = None
    stats: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- engine


def _connect(temp_dir: Path | None = None):
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {max(1, min(os.cpu_count() or 1, 4))}")
    con.execute("SET memory_limit = '3GB'")
    con.execute("SET preserve_insertion_order = false")
    if temp_dir is not None:
        con.execute("SET temp_directory = ?", [str(temp_dir)])
    return con


def _products_frame(products) -> pd.DataFrame:
    """products master -> (product_norm, pack_units), one row per product."""
    if products is None or len(products) == 0 or "product_code" not in getattr(products, "columns", []):
        return pd.DataFrame({"product_norm": pd.Series(dtype="object"), "pack_units": pd.Series(dtype="float64")})
    frame = pd.DataFrame({
        "product_norm": products["product_code"].astype("string").str.strip().str.upper(),
        "pack_units": pd.to_numeric(products["pack_units"], errors="coerce") if "pack_units" in products else float("nan"),
    }).dropna(subset=["product_norm"])
    frame = frame[frame["product_norm"] != ""]
    return frame.groupby("product_norm", as_index=False)["pack_units"].max().astype({"product_norm": "object"})


# NHSA 3507 inv_data_type -> the event types it deletes (same table as rxring.ingest.reader)
_INV_DATA_TYPES = {
    "1": ("inventory",),
    "2": ("adjust", "transfer_in", "transfer_out"),
    "3": ("inbound", "purchase_return"),
    "4": ("dispense", "refund"),
}


def _clean(value):
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None


def _deletions_frame(deletions) -> pd.DataFrame:
    """NHSA 3507 deletions -> rows (record_no, event_type, site_id); None matches any.

    Accepts the workspace form written by ingest (site_id, record_no,
    inv_data_type: 1 inventory, 2 stock changes, 3 purchases and returns, 4 sales
    and refunds) and the plain form (record_no, event_type[, site_id]).
    """
    columns = ("record_no", "event_type", "site_id")
    rows = []
    if deletions is not None and len(deletions) and "record_no" in deletions.columns:
        for record in deletions.to_dict("records"):
            record_no = _clean(record.get("record_no"))
            if record_no is None:
                continue
            site = _clean(record.get("site_id"))
            if "event_type" in record:
                types = (_clean(record.get("event_type")),)
            else:
                types = _INV_DATA_TYPES.get(_clean(record.get("inv_data_type")) or "", (None,))
            rows.extend((record_no, t, site) for t in types)
    frame = pd.DataFrame(sorted(set(rows), key=lambda r: tuple("" if v is None else v for v in r)), columns=list(columns))
    return frame.astype("object")


def _run(con, options: AnalysisOptions, products, deletions, progress=None, prune: bool = True,
         timings: dict | None = None) -> pd.DataFrame:
    con.register("products", _products_frame(products))
    con.register("deletions", _deletions_frame(deletions))
    flat = embedded.run_sql_rules(con, options, RULES, progress=progress, prune=prune, timings=timings)
    started = time.process_time()
    findings = embedded.assemble_findings(flat, con)
    if timings is not None:
        timings["assemble"] = round(time.process_time() - started, 3)
    return findings


def run_rules(events: pd.DataFrame, options: AnalysisOptions | None = None, products: pd.DataFrame | None = None,
              sites: pd.DataFrame | None = None, deletions: pd.DataFrame | None = None, *,
              prune: bool = True) -> pd.DataFrame:
    """Run the five rules (DESIGN §3) on an event table.

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
    sites
        Sites master; accepted for interface symmetry with the other engines (the
        rules themselves do not depend on site kinds).
    deletions
        NHSA 3507 deletions (record_no, event_type[, site_id]): matching events
        do not count.
    prune
        Run the wide stages only on the candidate codes (stage ``cand``, the
        default); ``False`` runs them on every code, with the same findings.

    Returns
    -------
    pandas.DataFrame
        schema.FINDING_COLUMNS plus ``source_patients`` and ``source_prescribers``,
        sorted by rule, first trace code, finding_id.

    Notes
    -----
    Duplicate event_ids count once.  The rules are SQL files in
    ``rxring/queries`` run by DuckDB (see :mod:`rxring.queries.embedded`).
    """
    options = options or AnalysisOptions()
    missing = [c for c in ("trace_code", "event_type", "event_time", "site_id") if c not in events.columns]
    if missing:
        raise RxringError(f"event table lacks required columns {missing}")
    con = _connect()
    try:
        con.register("events_raw", embedded.events_table(events))
        return _run(con, options, products, deletions, prune=prune)
    finally:
        con.close()


# --------------------------------------------------------------------------- workspace


def _progress_bar(enabled: bool, total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, unit="step", leave=False)


def analyze_workspace(workspace, options: AnalysisOptions | None = None, progress: bool = False) -> AnalysisResult:
    """Run rules and rings on an already-ingested workspace and write the results.

    Reads the event parts with DuckDB straight from Parquet (the event table is
    never loaded into pandas), honours ``deletions.parquet``, and writes
    ``findings.parquet``, ``rings.parquet`` and ``analysis.json``.
    """
    from .rings import build_rings

    options = options or AnalysisOptions()
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    parts = ws.event_parts()
    if not parts:
        raise RxringError(f"workspace {ws.root} holds no events; run `rxring ingest INPUT... --workspace {ws.root}` first")
    started = time.perf_counter()
    tmp = ws.root / ".duckdb-tmp"
    con = _connect(tmp)
    steps = len(embedded.STAGES) + len(RULES) + 2
    bar = _progress_bar(progress, steps, "analyze")

    def step(label: str) -> None:
        bar.set_postfix_str(label)
        bar.update(1)

    try:
        con.execute(f"CREATE VIEW events_raw AS {embedded.parquet_events_sql(parts)}")
        deletions = pd.read_parquet(ws.deletions_path) if ws.deletions_path.exists() else None
        timings: dict = {}
        findings = _run(con, options, ws.master("products"), deletions, progress=step, timings=timings)
        counts = con.execute(f"SELECT (SELECT COUNT(*) FROM events_raw), (SELECT COUNT(*) FROM {embedded.EVENTS_STAGE}), "
                             "(SELECT COUNT(*) FROM codes), (SELECT COUNT(*) FROM cand), "
                             "(SELECT COUNT(*) FROM ev)").fetchone()
        step("rings")
        started_rings = time.process_time()
        rings = build_rings(findings, options)
        timings["rings"] = round(time.process_time() - started_rings, 3)
        step("write")
    finally:
        con.close()
        bar.close()
        _remove_tree(tmp)
    stats = {
        "events_read": int(counts[0]),
        "events_used": int(counts[1]),
        "codes": int(counts[2]),
        "candidate_codes": int(counts[3]),      # codes some rule could report (stage cand)
        "candidate_events": int(counts[4]),     # their events: the rows of the wide stages
        "findings": int(len(findings)),
        "findings_by_rule": {r: int((findings["rule"] == r).sum()) for r in RULES},
        "rings": int(len(rings)),
        "seconds": round(time.perf_counter() - started, 2),
        "cpu_seconds_by_step": timings,
    }
    _write_results(ws, findings, rings, options, stats)
    return AnalysisResult(findings=findings, rings=rings, stats=stats)


BACKENDS = ("embedded", "neo4j", "spark")


def default_backend() -> str:
    """``neo4j`` when NEO4J_URI is set (DESIGN §5), else ``embedded``."""
    return "neo4j" if os.environ.get("NEO4J_URI") else "embedded"


def analyze_workspace_neo4j(workspace, options: AnalysisOptions | None = None, config=None,
                            progress: bool = False) -> AnalysisResult:
    """Load an ingested workspace into Neo4j, run the Cypher rules there, build rings.

    The findings are those of ``rxring/queries/*.cypher`` (identical to the embedded
    engine's, which the differential tests check); rings come from the same
    :func:`rxring.rings.build_rings`.  Results are written to the workspace like the
    embedded engine's, with ``engine: neo4j`` in analysis.json.

    Parameters
    ----------
    config : rxring.graph.neo4j_connect.Neo4jConfig, optional
        The server; by default from NEO4J_URI/NEO4J_USER/NEO4J_PASSWORD/NEO4J_DATABASE
        or the local server of ``rxring neo4j start``.
    """
    from .graph.neo4j_connect import resolve_config
    from .graph.neo4j_loader import load_workspace
    from .graph.neo4j_rules import find_rings

    options = options or AnalysisOptions()
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    if not ws.event_parts():
        raise RxringError(f"workspace {ws.root} holds no events; run `rxring ingest INPUT... --workspace {ws.root}` first")
    config = config or resolve_config()
    started = time.perf_counter()
    loaded = load_workspace(config, ws, progress=progress)
    findings, rings = find_rings(config, options)
    stats = {
        "events_read": int(loaded.events),
        "events_used": int(loaded.events),
        "findings": int(len(findings)),
        "findings_by_rule": {r: int((findings["rule"] == r).sum()) for r in RULES},
        "rings": int(len(rings)),
        "seconds": round(time.perf_counter() - started, 2),
        "neo4j_uri": config.uri,
    }
    _write_results(ws, findings, rings, options, stats, engine="neo4j")
    return AnalysisResult(findings=findings, rings=rings, stats=stats)


def analyze(inputs, workspace, options: AnalysisOptions | None = None, progress: bool = True,
            backend: str = "embedded", neo4j_config=None, spark_master: str | None = None) -> AnalysisResult:
    """Ingest *inputs* (if any) into *workspace*, then run rules and rings.

    Parameters
    ----------
    inputs
        Files or folders to ingest (see ``rxring ingest``); empty to analyse what the
        workspace already holds.
    workspace
        Workspace folder (created if needed when inputs are given).
    options
        :class:`~rxring.options.AnalysisOptions`.
    progress
        Show progress bars.
    backend : {"embedded", "neo4j", "spark"}
        Where the rules run: DuckDB over the workspace (default), a Neo4j server
        (:func:`analyze_workspace_neo4j`), or Apache Spark
        (:func:`rxring.spark.engine.run_spark_analysis`).  All give the same findings.
    neo4j_config
        Server for the neo4j backend (default: environment or local server).
    spark_master
        Spark master URL for the spark backend (default ``local[*]``).
    """
    if backend not in BACKENDS:
        raise RxringError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    report = None
    inputs = [Path(p) for p in (inputs or [])]
    if inputs:
        from .ingest import ingest

        report = ingest(inputs, workspace, progress=progress)
    if backend == "neo4j":
        result = analyze_workspace_neo4j(workspace, options, neo4j_config, progress=progress)
    elif backend == "spark":
        from .spark.engine import run_spark_analysis

        kwargs = {"master": spark_master} if spark_master else {}
        result = run_spark_analysis(workspace, workspace, options, progress=progress, **kwargs)
    else:
        result = analyze_workspace(workspace, options, progress=progress)
    result.ingest_report = report
    return result


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp, compression="zstd")
    tmp.replace(path)


def _write_results(ws: Workspace, findings, rings, options: AnalysisOptions, stats: dict,
                   engine: str = "embedded") -> None:
    _write_parquet(findings, ws.findings_path)
    _write_parquet(rings, ws.rings_path)
    meta = {
        "tool": "rxring",
        "version": __version__,
        "engine": engine,
        "seed": options.seed,
        "options": options.to_dict(),
        "stats": stats,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    tmp = ws.analysis_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta, ensure_ascii=False, indent=2, sort_keys=True), encoding="utf-8")
    tmp.replace(ws.analysis_path)


# --------------------------------------------------------------------------- readers


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
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    _require(ws.findings_path, "findings")
    return _lists(pd.read_parquet(ws.findings_path))


def load_rings(workspace) -> pd.DataFrame:
    """rings.parquet of a workspace (list columns as Python lists), by rank."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    _require(ws.rings_path, "rings")
    return _lists(pd.read_parquet(ws.rings_path)).sort_values("rank").reset_index(drop=True)


def load_analysis(workspace) -> dict:
    """analysis.json of a workspace ({} when not analysed yet)."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    if not ws.analysis_path.exists():
        return {}
    return json.loads(ws.analysis_path.read_text(encoding="utf-8"))


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


_TIMELINE_SQL = """
SELECT r.event_id, r.event_type, r.event_time, r.site_id, r.patient_id, r.prescriber_id, r.settlement_id,
       r.product_code, r.batch, r.expiry, r.quantity, r.split_sale, r.fund_amount, r.total_amount,
       r.counterparty, r.source_file, r.source_line,
       CASE WHEN r.record_no IS NOT NULL AND EXISTS (
              SELECT 1 FROM deletions d WHERE d.record_no = r.record_no
                AND (d.event_type IS NULL OR d.event_type = r.event_type)
                AND (d.site_id IS NULL OR d.site_id = r.site_id)) THEN 'deleted (NHSA 3507)'
            WHEN e.event_id IS NULL OR r.rn > 1 THEN 'duplicate event id'
            WHEN dr.is_rescan THEN 'double scan (counted once)'
            WHEN r.event_type = 'dispense' AND NOT dr.is_net THEN 'cancelled by a refund'
            WHEN r.event_type = 'refund' AND dr.refund_of IS NOT NULL THEN 'cancels ' || dr.refund_of
            ELSE '' END AS note
FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY source_file, source_line, event_time) AS rn
      FROM events_raw) r
LEFT JOIN ev e ON e.event_id = r.event_id AND r.rn = 1
LEFT JOIN dr ON dr.event_id = r.event_id AND r.rn = 1
ORDER BY r.event_time, r.event_id, r.source_file, r.source_line
"""


def canonical_code(text: str) -> str:
    """A trace code as typed by a user, in the canonical spelling ingest stores.

    Any spelling ingest accepts (spaced 20-digit codes, GS1 element strings, SGTIN
    URIs) is canonicalised; text that is not a code comes back stripped of
    whitespace (the lookup then simply finds nothing).

    Examples
    --------
    >>> canonical_code("8115 1257 9140 8562 3274")
    '81151257914085623274'
    """
    try:
        from .ingest import parse_code

        return parse_code(text).canonical
    except Exception:  # not a code (CodeError), or ingest unavailable: keep the text
        return "".join(str(text).split())


def box_timeline(workspace, trace_code: str, options: AnalysisOptions | None = None) -> pd.DataFrame:
    """Chain of custody of one pack: every event of *trace_code* in time order.

    Each row keeps its source file and line, and a note when it does not count
    (deleted by NHSA 3507, duplicate event id, double scan, sale cancelled by a
    refund).
    """
    options = options or AnalysisOptions.from_dict(load_analysis(workspace).get("options", {}))
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    code = canonical_code(trace_code)
    table = ws.events_dataset().to_table(filter=pads.field("trace_code") == code) if ws.event_parts() else None
    if table is None or table.num_rows == 0:
        raise RxringError(f"trace code {code} does not occur in workspace {ws.root}")
    con = _connect()
    try:
        con.register("events_raw", table.append_column("row_key", pa.array(range(table.num_rows), type=pa.int64())))
        con.register("deletions", _deletions_frame(pd.read_parquet(ws.deletions_path) if ws.deletions_path.exists() else None))
        con.register("products", _products_frame(ws.master("products")))
        for stage in ("scan", "cand", "ev", "dr"):   # one code: its events are all candidates
            sql = "SELECT DISTINCT trace_code FROM scan" if stage == "cand" else embedded.stage_sql(stage)
            body = embedded._strip_comments(embedded.render(sql, options))
            con.execute(f"CREATE OR REPLACE TEMP TABLE {stage} AS {body}")
        return con.execute(_TIMELINE_SQL).df()
    finally:
        con.close()
