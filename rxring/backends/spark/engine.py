"""The Spark backend: the very SQL files of ``rxring/rules/sql`` on Spark SQL.

Nothing about a rule is written here.  The stage files (``stage_ev.sql`` …
``stage_pd.sql``) and the rule files (``<RULE>.sql``) are the ones DuckDB runs in
the embedded engine, rendered for the Spark dialect by
:func:`rxring.rules.render.render` (the one dialect macro, ``EPOCH_SECONDS``,
becomes a microsecond ``timestampdiff``); each stage becomes a temporary table bucketed by trace code, the
rules' flat evidence rows are joined with their events on the executors, and
only those rows (a few per finding) come back to the driver, where
:func:`rxring.rules.findings.assemble_findings` and
:func:`rxring.rings.build_rings` — the same Python as the embedded engine — make
findings and rings.  The event table itself is never collected.

Partitioning
------------
The events are laid out once: :func:`layout_events` hash-partitions them by
``trace_code`` (N = ``spark.sql.shuffle.partitions``) and they are written as a
table bucketed by trace code; so is every stage (:class:`StageTables`), which keeps
the partitioning visible to the planner across queries.
``spark.sql.requireAllClusterKeysForCoPartition=false`` lets a window or join on
``(trace_code, ...)`` reuse it, and small tables (products, deletions, per-site
stages) are broadcast.  :mod:`rxring.backends.spark.plans` lists the
shuffles each stage and rule still needs; ``docs/spark.md`` shows them.

Examples
--------
>>> import rxring
>>> result = rxring.analyze("ws", backend="spark", spark_master="local[*]")   # doctest: +SKIP
>>> from rxring.backends.spark import run_spark_analysis                   # doctest: +SKIP
>>> result = run_spark_analysis("s3a://bucket/events/", "s3a://bucket/out/")   # doctest: +SKIP
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ...errors import RxringError
from ...options import AnalysisOptions
from ...rules.events import COUNTED_VIEW, DELETION_COLUMNS, counted_sql, deletions_frame, products_frame
from ...rules.findings import EVIDENCE_SQL, no_evidence
from ...rules.render import EVENTS_STAGE, STAGES, render, rule_sql, stage_sql, strip_comments
from ...schema import EVENT_ORIGIN_COLUMNS, EVENT_READ_SCHEMA, REQUIRED_EVENT_COLUMNS, RULES
from ...workspace import Workspace
from ..base import Backend, Evidence
from .session import DEFAULT_MASTER, spark_session

__all__ = [
    "SparkBackend",
    "SPARK_EVENT_TYPES",
    "ROW_KEY_SQL",
    "read_events",
    "layout_events",
    "layout_partitions",
    "register_inputs",
    "stage_frame",
    "StageTables",
    "materialise_stages",
    "rule_frame",
    "run_flat_rules",
    "run_spark_analysis",
    "write_remote",
    "drop_views",
    "workspace_masters",
]

#: Spark SQL type of every column the engines read (schema.EVENT_READ_SCHEMA: canonical + origin).
SPARK_EVENT_TYPES = {
    field.name: (
        "STRING" if pa.types.is_string(field.type)
        else "TIMESTAMP_NTZ" if pa.types.is_timestamp(field.type)
        else "DATE" if pa.types.is_date(field.type)
        else "DOUBLE" if pa.types.is_floating(field.type)
        else "BOOLEAN" if pa.types.is_boolean(field.type)
        else "BIGINT"
    )
    for field in EVENT_READ_SCHEMA
}

#: ``row_key`` of ``events_raw`` (unique; the last tie-break between rows repeating an
#: event_id): the file's path, then the row's position in the file, so rows sort
#: by (file, row) exactly like the embedded engine's part index * 2**32 + row number.
ROW_KEY_SQL = ("concat(regexp_replace(_metadata.file_path, '^file:/+', '/'), char(1), "
               "lpad(CAST(_metadata.row_index AS STRING), 19, '0')) AS row_key")

_PRODUCTS_SCHEMA = "product_norm STRING, pack_units DOUBLE"
_DELETIONS_SCHEMA = ", ".join(f"{name} STRING" for name in DELETION_COLUMNS)
_INPUT_VIEWS = ("events_raw", "products", "deletions", COUNTED_VIEW)


# --------------------------------------------------------------------------- inputs


def _is_uri(location) -> bool:
    return isinstance(location, str) and "://" in location and not location.startswith("file://")


def _local_workspace(location) -> Workspace | None:
    """The workspace at *location* when it is a local folder holding ``events/``."""
    if _is_uri(location):
        return None
    path = Path(str(location).removeprefix("file://"))
    if path.is_dir() and (path / "events").is_dir():
        return Workspace(path)
    return None


def read_events(spark, location):
    """Canonical events from Parquet as a Spark DataFrame with schema.EVENT_SCHEMA columns.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    location : str, Path or list
        A workspace folder (its ``events/`` parts are read), a Parquet file or
        folder, or any URI Spark reads (``s3a://bucket/events/``, ``hdfs://...``);
        a list of them is read as one table.

    Returns
    -------
    pyspark.sql.DataFrame
        Exactly the schema.EVENT_READ_SCHEMA columns (canonical and origin), cast to
        their Spark types (optional columns missing from the files are NULL), plus
        ``row_key`` (see :data:`ROW_KEY_SQL`).

    Raises
    ------
    RxringError
        Nothing to read, or a required column (trace_code, event_type, event_time,
        site_id) is missing.
    """
    locations = location if isinstance(location, (list, tuple)) else [location]
    paths: list[str] = []
    for item in locations:
        ws = _local_workspace(item)
        if ws is not None:
            parts = ws.event_parts()
            if not parts:
                raise RxringError(f"workspace {ws.root} holds no events; run `rxring ingest INPUT... --workspace {ws.root}` first")
            paths.extend(str(p) for p in parts)
        elif not _is_uri(item) and not Path(str(item).removeprefix("file://")).exists():
            raise RxringError(f"events {item}: no such file or folder")
        else:
            paths.append(str(item))
    frames = [_read_parquet(spark, group) for group in _by_origin(paths)]
    events = frames[0]
    for frame in frames[1:]:
        events = events.unionByName(frame)
    return events


def _by_origin(paths: list[str]) -> list[list[str]]:
    """*paths* in groups Spark reads alike: local parts with the origin columns, local parts
    without, and the rest (URIs, folders: read with whatever schema Spark infers)."""
    import pyarrow.parquet as pq

    groups: dict[str, list[str]] = {}
    for path in paths:
        kind = "other"
        local = Path(path.removeprefix("file://"))
        if not _is_uri(path) and local.is_file():
            try:
                kind = "origin" if set(EVENT_ORIGIN_COLUMNS) <= set(pq.read_schema(local).names) else "plain"
            except Exception:  # noqa: BLE001 - not Parquet: Spark says so below
                kind = "other"
        groups.setdefault(kind, []).append(path)
    return list(groups.values())


def _read_parquet(spark, paths: list[str]):
    """One group of :func:`_by_origin` as the ``events_raw`` columns (SPARK_EVENT_TYPES + row_key)."""
    try:
        raw = spark.read.parquet(*paths)
    except Exception as exc:  # AnalysisException: unreadable path, not Parquet
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RxringError(f"cannot read events from {', '.join(paths[:3])}: {first}") from exc
    present = {c.lower(): c for c in raw.columns}
    missing = [c for c in REQUIRED_EVENT_COLUMNS if c not in present]
    if missing:
        raise RxringError(f"events {', '.join(paths[:3])}: missing required columns {missing} "
                          f"(canonical Parquet needs {list(REQUIRED_EVENT_COLUMNS)})")
    columns = []
    for name, spark_type in SPARK_EVENT_TYPES.items():
        source = f"`{present[name]}`" if name in present else "NULL"
        columns.append(f"CAST({source} AS {spark_type}) AS {name}")
    columns.append(ROW_KEY_SQL)
    return raw.selectExpr(*columns)


def _small_frame(spark, frame: pd.DataFrame, schema: str):
    """A small pandas table (masters, deletions) as a Spark DataFrame of *schema*."""
    names = [part.split()[0] for part in schema.split(",")]
    rows = []
    for record in frame[names].itertuples(index=False):
        rows.append(tuple(None if (v is None or (not isinstance(v, str) and pd.isna(v))) else
                          (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v))
                          for v in record))
    return spark.createDataFrame(rows, schema)


def layout_partitions(spark) -> int:
    """How many partitions (and buckets) the events are laid out in: ``spark.sql.shuffle.partitions``.

    The same number as every later shuffle, so that a join between a laid-out stage
    and a freshly shuffled table is co-partitioned.
    """
    return int(spark.conf.get("spark.sql.shuffle.partitions"))


def layout_events(events, partitions: int):
    """The layout: the event table hash-partitioned by ``trace_code``.

    Every event of one pack lands in one partition, so each window and join of the
    rules keyed by (trace_code, ...) runs inside the partitions.  An explicit
    partition count keeps adaptive execution from coalescing them.
    """
    return events.repartition(int(partitions), "trace_code")


def register_inputs(spark, events, products: pd.DataFrame | None = None, deletions: pd.DataFrame | None = None) -> None:
    """Register the input views ``events_raw``, ``products`` and ``deletions``.

    *events* is a Spark DataFrame of canonical events (see :func:`read_events`);
    :func:`materialise_stages` lays it out by trace code before the stages read it.
    *products* and *deletions* are the small pandas tables the embedded engine
    takes (normalised by the same functions), registered as broadcast tables.
    """
    from pyspark.sql.functions import broadcast

    events.createOrReplaceTempView("events_raw")
    broadcast(_small_frame(spark, products_frame(products), _PRODUCTS_SCHEMA)).createOrReplaceTempView("products")
    broadcast(_small_frame(spark, deletions_frame(deletions), _DELETIONS_SCHEMA)).createOrReplaceTempView("deletions")


# --------------------------------------------------------------------------- stages


def stage_frame(spark, stage: str, options: AnalysisOptions):
    """One stage's query on the registered views (the laid-out events and earlier stages)."""
    return spark.sql(render(stage_sql(stage), options, dialect="spark"))


class StageTables:
    """The stages written as temporary tables, bucketed by trace code.

    A stage with a ``trace_code`` column is written with ``bucketBy(N, "trace_code")``
    (N = :func:`layout_partitions`): reading it back, Spark knows it is
    hash-partitioned by trace code, across queries and with adaptive execution on,
    so later windows and joins keyed by (trace_code, ...) need no shuffle.  A stage
    already laid out is written as it is (one file per bucket); one that is not
    (its last step was keyed otherwise) is repartitioned by trace code first, and
    :mod:`rxring.backends.spark.plans` shows that shuffle.  Other stages (one row per site
    or product part) are plain tables; being small files, Spark broadcasts them.

    Tables, not checkpoints: Spark 4.3 records a checkpoint's partitioning under
    attribute ids its output does not carry (and none at all with adaptive
    execution), so every query re-shuffled each checkpointed stage; persisted
    stages keep their partitioning but make every later query re-analyse the whole
    lineage.  A table is a leaf: planning stays flat.

    Tables go to the session's warehouse (``spark.sql.warehouse.dir``; local mode:
    a temporary folder) under unique names, and are dropped by :meth:`drop`.
    """

    def __init__(self, spark, partitions: int | None = None):
        import uuid

        self.spark = spark
        self.partitions = int(partitions or layout_partitions(spark))
        self.token = uuid.uuid4().hex[:10]
        self.tables: list[str] = []

    def prepare(self, frame):
        """*frame* as it will be written: repartitioned by trace code when it has that
        column and its plan does not already keep each code in its layout partition
        (see :func:`rxring.backends.spark.plans.keeps_codes_together`)."""
        from .plans import is_laid_out, keeps_codes_together

        if "trace_code" not in frame.columns:
            return frame
        if is_laid_out(frame, self.partitions) or keeps_codes_together(frame, self.partitions):
            return frame
        return layout_events(frame, self.partitions)

    def save(self, frame, view: str):
        """Write *frame* as the table of *view*, register the view; return the table's frame.

        *frame* is written as it is: pass it through :meth:`prepare` first (or lay it
        out with :func:`layout_events`), so its plan is inspected once.
        """
        name = f"rxring_{view}_{self.token}"
        self.tables.append(name)
        writer = frame.write
        if "trace_code" in frame.columns:
            writer = writer.bucketBy(self.partitions, "trace_code")
        writer.mode("overwrite").format("parquet").saveAsTable(name)
        table = self.spark.table(name)
        table.createOrReplaceTempView(view)
        return table

    def drop(self) -> None:
        """Drop every table written (names generated here, never user text)."""
        while self.tables:
            self.spark.sql(f"DROP TABLE IF EXISTS {self.tables.pop()}")


def materialise_stages(spark, options: AnalysisOptions, progress=None, inspect=None) -> StageTables:
    """Lay the events out, then build every stage; return the tables (drop them after).

    First the one shuffle of the events: ``events_raw`` is written bucketed by
    trace code (the *layout*) and re-registered as that table.  Then each stage of
    :data:`rxring.rules.render.STAGES` is written as a table and registered
    under its name (:class:`StageTables`).  *progress* is called with a label
    before each step; *inspect*, if given, with ``(name, frame)`` before each is
    written (a :class:`rxring.backends.spark.plans.PlanLog`).
    """
    tables = StageTables(spark)
    try:
        if progress:
            progress("layout")
        raw = layout_events(spark.table("events_raw"), tables.partitions)
        if inspect:
            inspect("layout", raw)
        tables.save(raw, "events_raw")
        spark.sql(strip_comments(counted_sql())).createOrReplaceTempView(COUNTED_VIEW)
        for stage in STAGES:
            if progress:
                progress(f"stage {stage}")
            frame = tables.prepare(stage_frame(spark, stage, options))
            if inspect:
                inspect(f"stage {stage}", frame)
            tables.save(frame, stage)
    except BaseException:
        tables.drop()
        raise
    return tables


def rule_frame(spark, rule: str, options: AnalysisOptions):
    """One rule's query (flat evidence rows) on the registered stages."""
    return spark.sql(render(rule_sql(rule), options, dialect="spark"))


def run_flat_rules(spark, options: AnalysisOptions, rules=RULES, progress=None, stats: dict | None = None,
                   inspect=None) -> pd.DataFrame:
    """Build the stages and run *rules* on Spark; return the flat evidence rows.

    The session must hold the input views (:func:`register_inputs`).  Each stage
    is written as a table (:class:`StageTables`) and registered as a temporary view, laid
    out by trace code.  When *stats* is given, ``events_used`` (rows of the
    per-event stage, ``rxring.rules.render.EVENTS_STAGE``) is stored in it.
    *inspect*, if given, is called with ``(name, frame)`` for the layout and each
    stage before it is written (as in :func:`materialise_stages`) and for each rule
    before it runs: :class:`rxring.backends.spark.plans.PlanLog` records the plans
    of a run that way.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`rxring.rules.findings.EVIDENCE_COLUMNS`: the input of
        :func:`rxring.rules.findings.assemble_findings`.
    """
    tables = materialise_stages(spark, options, progress=progress, inspect=inspect)
    try:
        frames = []
        for rule in rules:
            if progress:
                progress(rule)
            frames.append(rule_frame(spark, rule, options))
            if inspect:
                inspect(rule, frames[-1])
        if not frames:
            return no_evidence()
        evidence = frames[0]
        for frame in frames[1:]:
            evidence = evidence.unionAll(frame)
        evidence.createOrReplaceTempView("evidence")
        table = _collect_arrow(spark.sql(EVIDENCE_SQL))
        if stats is not None:   # rows of the per-event stage (the events the rules read), from its table
            stats["events_used"] = spark.table(EVENTS_STAGE).count()
    finally:
        tables.drop()
    return table.to_pandas()


def _collect_arrow(frame) -> pa.Table:
    """Collect a (small) Spark result as an Arrow table."""
    if hasattr(frame, "toArrow"):
        return frame.toArrow()
    return pa.Table.from_pandas(frame.toPandas(), preserve_index=False)  # pragma: no cover - Spark < 4


def drop_views(spark) -> None:
    """Drop the input, stage and evidence views of an analysis from the session."""
    for view in _INPUT_VIEWS + tuple(STAGES) + ("evidence",):
        spark.catalog.dropTempView(view)


def workspace_masters(location) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """(products master, deletions) of *location* when it is a local workspace, else Nones."""
    ws = _local_workspace(location)
    if ws is None:
        return None, None
    deletions = ws.deletions()
    return ws.master("products"), deletions


# --------------------------------------------------------------------------- the backend


class SparkBackend(Backend):
    """The rules on Apache Spark (``--backend spark``): the very SQL files of the embedded backend.

    Parameters
    ----------
    session : SparkSession, optional
        The session to use; by default one is started (or the active one reused)
        with *master*.
    master : str, optional
        Spark master URL (default ``local[*]``; None with a session given).
    inspect : callable, optional
        Called with ``(name, frame)`` for each step of the job chain before it runs
        (:func:`run_flat_rules`), e.g. a :class:`rxring.backends.spark.plans.PlanLog`.
    """

    name = "spark"
    steps = len(STAGES) + len(RULES) + 2

    def __init__(self, session=None, master: str | None = None, inspect=None):
        self._session = session
        self.master = master or DEFAULT_MASTER
        self.inspect = inspect

    @property
    def spark(self):
        if self._session is None:
            self._session = spark_session(self.master)
        return self._session

    def evidence_at(self, location, options: AnalysisOptions, step=None, products=None, deletions=None) -> Evidence:
        """The evidence of the canonical Parquet events at *location* (a workspace, a folder, a URI).

        *products* and *deletions* default to the workspace's when *location* is one.
        """
        ws_products, ws_deletions = workspace_masters(location)
        products = ws_products if products is None else products
        deletions = ws_deletions if deletions is None else deletions
        spark = self.spark
        try:
            events = read_events(spark, str(location))
            events_read = events.count()   # the files as read (Parquet metadata), not the layout
            counts: dict = {"events_used": 0}
            if events_read:
                register_inputs(spark, events, products, deletions)
                flat = run_flat_rules(spark, options, progress=step, stats=counts, inspect=self.inspect)
            else:   # nothing to judge: no job chain (about 17 CPU-seconds of stages on an empty table)
                flat = no_evidence()
            if step:
                step("count")
        finally:
            drop_views(spark)
        meta = {"spark": {"version": spark.version, "master": spark.sparkContext.master, "events": str(location)}}
        return Evidence(flat=flat, events_read=int(events_read), events_used=int(counts["events_used"]), meta=meta)

    def workspace_evidence(self, ws: Workspace, options: AnalysisOptions, step) -> Evidence:
        return self.evidence_at(ws.root, options, step)

    def frame_evidence(self, events, options, products, deletions) -> Evidence:
        """For tests and small tables: the events are written to a temporary Parquet file and read
        back by Spark, the same path as a workspace."""
        from ..duckdb import events_table

        missing = [c for c in REQUIRED_EVENT_COLUMNS if c not in events.columns]
        if missing:
            raise RxringError(f"event table lacks required columns {missing}")
        with tempfile.TemporaryDirectory(prefix="rxring-spark-") as tmp:
            path = Path(tmp) / "events.parquet"
            pq.write_table(events_table(events), path)
            return self.evidence_at(str(path), options, products=products, deletions=deletions)


# --------------------------------------------------------------------------- results anywhere Spark writes


def run_spark_analysis(events_uri, workspace_or_out, options: AnalysisOptions | None = None,
                       master: str | None = DEFAULT_MASTER, *, products: pd.DataFrame | None = None,
                       deletions: pd.DataFrame | None = None, spark=None, progress: bool = False, inspect=None):
    """Run the rules on Spark over events anywhere Spark reads; write the results anywhere it writes.

    :func:`rxring.analysis.analyze` with ``backend="spark"`` covers a local
    workspace; this is for cluster jobs (spark-submit, Databricks, EMR) whose
    events and results live in HDFS, S3 or ADLS.

    Parameters
    ----------
    events_uri : str or Path
        Canonical Parquet events: a workspace folder (its ``events/`` parts, its
        ``deletions.parquet`` and its products master are used), a Parquet file or
        folder, or a URI Spark reads (``s3a://``, ``hdfs://``, ``abfss://``).
    workspace_or_out : str or Path
        Where results go.  A local folder gets ``findings.parquet``,
        ``rings.parquet`` and ``analysis.json`` as every backend writes them (so
        ``rxring rings``, ``report``, ``viz``, ``evidence`` work on it; it may be
        the events workspace itself).  A URI gets Spark-written Parquet datasets
        ``findings.parquet/`` and ``rings.parquet/`` and ``analysis.json/``.
    options : AnalysisOptions, optional
        Thresholds and seed (defaults if None).
    master : str or None
        Spark master URL; None keeps the one ``spark-submit`` set.
    products, deletions : pandas.DataFrame, optional
        Products master and NHSA 3507 deletions; by default those of the events
        workspace (if *events_uri* is one).
    spark : SparkSession, optional
        Session to use instead of starting one.
    progress : bool
        Print a progress bar on stderr.
    inspect : callable, optional
        Called with ``(name, frame)`` for each step before it runs: pass a
        :class:`rxring.backends.spark.plans.PlanLog` to read the shuffles of this very job.

    Returns
    -------
    rxring.analysis.AnalysisResult
    """
    from ...analysis import conclude, write_results
    from ...cases.exceptions import active_exceptions
    from ...cases.identity import previous_run
    from ..base import progress_steps

    options = options or AnalysisOptions()
    started = time.perf_counter()
    local = None if _is_uri(str(workspace_or_out)) else Path(str(workspace_or_out).removeprefix("file://"))
    # a local folder analysed before: its ring ids are carried over and its exceptions honoured
    previous = previous_run(local) if local is not None and local.is_dir() else None
    explained = active_exceptions(local) if local is not None and local.is_dir() else {}
    backend = SparkBackend(spark or spark_session(master), inspect=inspect)
    bar, step = progress_steps(progress, backend.steps + 2, "analyze (spark)")
    try:
        evidence = backend.evidence_at(events_uri, options, step, products=products, deletions=deletions)
        result = conclude(backend, evidence, options, started, step, previous, explained)
    finally:
        bar.close()
    if local is None:
        write_remote(backend.spark, str(workspace_or_out).rstrip("/"), result)
    else:
        write_results(local, result)
    return result


def write_remote(spark, out: str, result) -> None:
    """An :class:`~rxring.analysis.AnalysisResult` as Spark-written datasets under a Hadoop-compatible URI."""
    for frame, name in ((result.findings, "findings.parquet"), (result.rings, "rings.parquet")):
        table = pa.Table.from_pandas(frame, preserve_index=False)
        spark.createDataFrame(table).coalesce(1).write.mode("overwrite").parquet(f"{out}/{name}")
    text = json.dumps(result.meta, ensure_ascii=False, sort_keys=True)
    spark.createDataFrame([(text,)], "value STRING").coalesce(1).write.mode("overwrite").text(f"{out}/analysis.json")
