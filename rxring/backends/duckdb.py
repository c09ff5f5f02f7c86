"""The embedded backend (the default): the rules' SQL files run by DuckDB over the workspace's Parquet.

Why SQL on DuckDB
-----------------
The rules need, per trace code and site, ordered walks (double scans, refunds
cancelling sales, split sales filling a pack) and joins of a code's events
against its first net sale.  Measured on a generated 0.9M-event city (2 shared
cores, noisy): a pandas version of only the double-scan and refund walk
(``sort_values`` + ``groupby().shift()/cumsum()``) took 4-8 s and 0.7 GB, the
same as the DuckDB stages doing all of the preparation (5-8 s, 0.8 GB).  Speed
is a wash; what decides is scale and reuse: pandas must hold the whole event
table and its sorted copies in memory (about 7 GB at 10M events), while DuckDB
streams the Parquet parts, runs in parallel and spills to disk, and plain SQL
runs unchanged on Spark (:mod:`rxring.backends.spark`).  The pipeline of views
and stages is described in :mod:`rxring.rules.render`.

Besides the backend, this module gives the other parts of rxring DuckDB's help
with the events that count (:func:`counted_events`: the Neo4j loader and
:func:`rxring.ingest.read_events` read exactly the rows the rules judge) and
one code's chain of custody (:func:`code_timeline`).

Examples
--------
The same event ingested twice counts once (:mod:`rxring.rules.events`):

>>> import pandas as pd
>>> events = pd.DataFrame({"event_id": ["e1", "e1"], "trace_code": ["81000000000000000001"] * 2,
...                        "event_type": ["dispense"] * 2, "site_id": ["S1"] * 2,
...                        "event_time": pd.to_datetime(["2025-01-02 10:00"] * 2)})
>>> counted_events(events).num_rows
1
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads

from ..errors import RxringError
from ..options import AnalysisOptions
from ..rules.events import COUNTED_VIEW, counted_sql, deletions_frame, products_frame
from ..rules.findings import EVIDENCE_SQL, arrow_table, no_evidence
from ..rules.render import ALL_CODES_SQL, EVENTS_STAGE, STAGES, render, rule_sql, stage_sql, strip_comments
from ..schema import EVENT_ORIGIN_COLUMNS, EVENT_READ_SCHEMA, EVENT_SCHEMA, LOCAL_TZ, REQUIRED_EVENT_COLUMNS, RULES
from ..workspace import Workspace
from .base import Backend, Evidence

__all__ = [
    "DuckDBBackend",
    "connect",
    "register_inputs",
    "run_sql_rules",
    "events_table",
    "parquet_events_sql",
    "counted_events",
    "code_timeline",
]


def connect(temp_dir: Path | None = None):
    """A DuckDB connection with rxring's budget: at most 4 threads, 3 GB, spills to *temp_dir*."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {max(1, min(os.cpu_count() or 1, 4))}")
    con.execute("SET memory_limit = '3GB'")
    con.execute("SET preserve_insertion_order = false")
    if temp_dir is not None:
        con.execute("SET temp_directory = ?", [str(temp_dir)])
    return con


def register_inputs(con, events, products=None, deletions=None) -> None:
    """Register the input relations and the view of the events that count.

    *events* is an Arrow table (:func:`events_table`) or a SELECT text over Parquet
    (:func:`parquet_events_sql`); *products* and *deletions* are the masters as
    ingest stores them (normalised by :mod:`rxring.rules.events`).
    """
    if isinstance(events, str):
        con.execute(f"CREATE OR REPLACE VIEW events_raw AS {events}")
    else:
        con.register("events_raw", events)
    con.register("products", products_frame(products))
    con.register("deletions", deletions_frame(deletions))
    con.execute(f"CREATE OR REPLACE TEMP VIEW {COUNTED_VIEW} AS {strip_comments(counted_sql())}")


def run_sql_rules(con, options: AnalysisOptions, rules=RULES, progress=None, *, prune: bool = True,
                  timings: dict | None = None) -> pd.DataFrame:
    """Build the stages and run *rules* on a DuckDB connection; return flat evidence rows.

    The connection must hold the input relations (:func:`register_inputs`).
    *progress* is called with a short label before each step (for progress bars).
    With ``prune=False`` stage ``cand`` holds every code (:data:`ALL_CODES_SQL`), so
    the wide stages run on the whole city: slower, and the same findings (the tests
    check that the candidate filter drops no finding).  When *timings* is a dict, the
    CPU seconds of the process (all DuckDB threads) spent on each stage, on the rules
    and on the evidence join are stored in it by name.
    """
    clock = time.process_time
    for stage in STAGES:
        if progress:
            progress(f"stage {stage}")
        if stage == "cand" and not prune:
            body = ALL_CODES_SQL
        else:
            body = strip_comments(render(stage_sql(stage), options))
        started = clock()
        con.execute(f"CREATE OR REPLACE TEMP TABLE {stage} AS {body}")
        if timings is not None:
            timings[stage] = round(clock() - started, 3)
    parts = []
    for rule in rules:
        if progress:
            progress(rule)
        parts.append("(" + strip_comments(render(rule_sql(rule), options)) + ")")
    if not parts:
        return no_evidence()
    started = clock()
    con.execute("CREATE OR REPLACE TEMP TABLE evidence AS " + "\nUNION ALL\n".join(parts))
    rules_done = clock()
    flat = con.execute(EVIDENCE_SQL).df()
    if timings is not None:
        timings["rules"] = round(rules_done - started, 3)
        timings["evidence"] = round(clock() - rules_done, 3)
    return flat


def events_table(events: pd.DataFrame) -> pa.Table:
    """A pandas event frame as an Arrow table with exactly schema.EVENT_READ_SCHEMA, plus ``row_key``.

    Missing optional columns become nulls; empty strings in text columns become
    nulls; a missing event_id is derived from the row position (``row<N>``).  The
    ``row_key`` column (the row position) breaks ties between rows that repeat an
    event_id (:mod:`rxring.rules.events`).
    """
    missing = [c for c in REQUIRED_EVENT_COLUMNS if c not in events.columns]
    if missing:
        raise RxringError(f"event table lacks required columns {missing}")
    frame = events.copy()
    for field in EVENT_READ_SCHEMA:
        if field.name not in frame.columns:
            frame[field.name] = None
    if frame["event_id"].isna().any():
        fill = pd.Series([f"row{i}" for i in range(len(frame))], index=frame.index)
        frame["event_id"] = frame["event_id"].where(frame["event_id"].notna(), fill)
    for field in EVENT_READ_SCHEMA:
        column = frame[field.name]
        if pa.types.is_string(field.type):
            frame[field.name] = column.map(lambda v: None if v is None or (isinstance(v, float) and pd.isna(v)) or v == "" else str(v))
        elif pa.types.is_timestamp(field.type):
            times = pd.to_datetime(column)
            if getattr(times.dt, "tz", None) is not None:     # aware: to naive Asia/Shanghai (schema.LOCAL_TZ)
                times = times.dt.tz_convert(LOCAL_TZ).dt.tz_localize(None)
            frame[field.name] = times
        elif pa.types.is_date32(field.type):
            frame[field.name] = pd.to_datetime(column).dt.date
        elif pa.types.is_boolean(field.type):
            frame[field.name] = column.map(lambda v: None if v is None or (isinstance(v, float) and pd.isna(v)) else bool(v)).astype("object")
        elif pa.types.is_floating(field.type):
            frame[field.name] = pd.to_numeric(column, errors="coerce").astype("float64")
        elif pa.types.is_integer(field.type):
            frame[field.name] = pd.to_numeric(column, errors="coerce").astype("Int64")
    table = pa.Table.from_pandas(frame[list(EVENT_READ_SCHEMA.names)], preserve_index=False).cast(EVENT_READ_SCHEMA)
    return table.append_column("row_key", pa.array(range(table.num_rows), type=pa.int64()))


def parquet_events_sql(paths) -> str:
    """DuckDB SELECT over event part files giving ``events_raw`` (EVENT_READ_SCHEMA + row_key).

    The origin columns (schema.EVENT_ORIGIN_COLUMNS) are read from the parts that
    have them (NHSA JSON inputs) and NULL for the others.  ``row_key`` = part
    index * 2**32 + row number in the part: unique, and stable for the same
    workspace.
    """
    import pyarrow.parquet as pq

    names = ", ".join(EVENT_SCHEMA.names)
    selects = []
    for index, path in enumerate(paths):
        quoted = "'" + str(path).replace("'", "''") + "'"
        present = set(pq.read_schema(path).names)
        origin = ", ".join(name if name in present else f"CAST(NULL AS VARCHAR) AS {name}"
                           for name in EVENT_ORIGIN_COLUMNS)
        selects.append(f"SELECT {names}, {origin}, CAST({index} AS BIGINT) * 4294967296 + file_row_number AS row_key "
                       f"FROM read_parquet({quoted}, file_row_number = true)")
    return "\nUNION ALL\n".join(selects)


def _workspace_inputs(ws: Workspace):
    """(events SELECT, products master, deletions) of an ingested workspace."""
    parts = ws.event_parts()
    if not parts:
        raise RxringError(f"workspace {ws.root} holds no events; run `rxring ingest INPUT... --workspace {ws.root}` first")
    deletions = ws.deletions()
    return parquet_events_sql(parts), ws.master("products"), deletions


def counted_events(source, deletions: pd.DataFrame | None = None, columns=None) -> pa.Table:
    """The events that count (:mod:`rxring.rules.events`), in input order, as an Arrow table.

    Parameters
    ----------
    source : Workspace or pandas.DataFrame
        An ingested workspace (its parts and ``deletions.parquet``), or an event
        table (coerced by :func:`events_table`).
    deletions : pandas.DataFrame, optional
        NHSA 3507 deletions for an event table (a workspace brings its own).
    columns : sequence of str, optional
        schema.EVENT_SCHEMA columns to return (all by default).
    """
    if isinstance(source, Workspace):
        events, _, deletions = _workspace_inputs(source)
    else:
        events = events_table(source)
    wanted = list(columns) if columns else list(EVENT_SCHEMA.names)
    con = connect()
    try:
        register_inputs(con, events, None, deletions)
        return arrow_table(con.sql(f"SELECT {', '.join(wanted)} FROM {COUNTED_VIEW} ORDER BY row_key"))
    finally:
        con.close()


class DuckDBBackend(Backend):
    """The rules on DuckDB, in this process (``--backend embedded``).

    Parameters
    ----------
    prune : bool
        Run the wide stages only on the candidate codes (stage ``cand``, the
        default); ``False`` runs them on every code, with the same findings.
    """

    name = "embedded"
    steps = len(STAGES) + len(RULES)

    def __init__(self, prune: bool = True):
        self.prune = prune

    def _evidence(self, con, options: AnalysisOptions, step=None) -> Evidence:
        timings: dict = {}
        flat = run_sql_rules(con, options, progress=step, prune=self.prune, timings=timings)
        counts = con.execute(f"SELECT (SELECT COUNT(*) FROM events_raw), (SELECT COUNT(*) FROM {EVENTS_STAGE}), "
                             "(SELECT COUNT(*) FROM codes), (SELECT COUNT(*) FROM cand), "
                             "(SELECT COUNT(*) FROM ev)").fetchone()
        stats = {
            "codes": int(counts[2]),
            "candidate_codes": int(counts[3]),      # codes some rule could report (stage cand)
            "candidate_events": int(counts[4]),     # their events: the rows of the wide stages
            "cpu_seconds_by_step": timings,
        }
        return Evidence(flat=flat, events_read=int(counts[0]), events_used=int(counts[1]), stats=stats)

    def workspace_evidence(self, ws: Workspace, options: AnalysisOptions, step) -> Evidence:
        """Read the event parts straight from Parquet (never loaded into pandas)."""
        events, products, deletions = _workspace_inputs(ws)
        tmp = ws.root / ".duckdb-tmp"
        con = connect(tmp)
        try:
            register_inputs(con, events, products, deletions)
            return self._evidence(con, options, step)
        finally:
            con.close()
            shutil.rmtree(tmp, ignore_errors=True)

    def frame_evidence(self, events, options, products, deletions) -> Evidence:
        con = connect()
        try:
            register_inputs(con, events_table(events), products, deletions)
            return self._evidence(con, options)
        finally:
            con.close()


# --------------------------------------------------------------------------- one code

_TIMELINE_SQL = """
SELECT r.event_id, r.event_type, r.event_time, r.site_id, r.patient_id, r.prescriber_id, r.settlement_id,
       r.product_code, r.batch, r.expiry, r.quantity, r.split_sale, r.fund_amount, r.total_amount,
       r.counterparty, r.source_file, r.source_line, {extra}
       CASE WHEN c.row_key IS NULL THEN COALESCE((
              SELECT MIN(CASE d.key_kind WHEN 'record_no' THEN 'deleted (NHSA 3507)'
                                         WHEN 'settlement_id' THEN 'settlement cancelled (NHSA 2208/2305)'
                                         ELSE 'message reversed (NHSA 2601)' END)
              FROM deletions d
              WHERE ((d.key_kind = 'record_no' AND d.key = r.record_no)
                     OR (d.key_kind = 'settlement_id' AND d.key = r.settlement_id)
                     OR (d.key_kind = 'message_id' AND d.key = r.message_id))
                AND (d.event_type IS NULL OR d.event_type = r.event_type)
                AND (d.site_id IS NULL OR d.site_id = r.site_id)), 'duplicate event id')
            WHEN dr.is_rescan THEN 'same sale reported again (counted once)'
            WHEN r.event_type = 'dispense' AND NOT dr.is_net THEN 'cancelled by a refund'
            WHEN r.event_type = 'refund' AND dr.refund_of IS NOT NULL THEN 'cancels ' || dr.refund_of
            ELSE '' END AS note
FROM events_raw r
LEFT JOIN counted c ON c.row_key = r.row_key
LEFT JOIN dr ON dr.event_id = r.event_id AND c.row_key IS NOT NULL
ORDER BY r.event_time, r.event_id, r.source_file, r.source_line
"""


def code_timeline(ws: Workspace, trace_code: str, options: AnalysisOptions, *, events: pa.Table | None = None,
                  con=None, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """Every event of one (canonical) trace code in *ws*, in time order, with a note when it does not count.

    Runs the stages the note needs (scan, ev, dr) on that code's events only; a
    repeated event id is judged within the code (the copy that counts is the one
    :mod:`rxring.rules.events` keeps).  Empty when the code does not occur.

    *events* are the code's rows when the caller has read them already (the
    columns of ``schema.EVENT_READ_SCHEMA``), else they are read from *ws*'s parts.
    *con* is a DuckDB connection to run on (the caller closes it, which drops the
    temporary tables made here); default a new one.  *extra* names event columns
    added after the note (e.g. ``product_name``).
    """
    if events is None:
        events = (ws.events_dataset(origin=True).to_table(filter=pads.field("trace_code") == trace_code)
                  if ws.event_parts() else None)
    if events is None or events.num_rows == 0:
        return pd.DataFrame()
    unknown = [c for c in extra if c not in EVENT_READ_SCHEMA.names]
    if unknown:
        raise ValueError(f"not event columns: {', '.join(unknown)}")
    events = events.append_column("row_key", pa.array(range(events.num_rows), type=pa.int64()))
    own = con is None
    con = connect() if own else con
    try:
        register_inputs(con, events, ws.master("products"), ws.deletions())
        for stage in ("scan", "cand", "ev", "dr"):   # one code: its events are all candidates
            sql = "SELECT DISTINCT trace_code FROM scan" if stage == "cand" else stage_sql(stage)
            con.execute(f"CREATE OR REPLACE TEMP TABLE {stage} AS {strip_comments(render(sql, options))}")
        return con.execute(_TIMELINE_SQL.format(extra="".join(f"r.{c}, " for c in extra))).df()
    finally:
        if own:
            con.close()
