"""The embedded engine of the rules: the SQL files beside this module, run by DuckDB.

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
streams the Parquet parts, runs in parallel and spills to disk (10M events:
32 CPU-s, 3.1 GB peak RSS, measured on 2 shared cores), and plain SQL can be run unchanged by the
Spark engine of the scale-out issue.  The SQL is plain (CTEs,
``ROW_NUMBER``/``LAG``/``SUM`` windows, ``CASE``, joins; no ``QUALIFY``, no list
functions, no DuckDB-only macros): the only dialect-specific call is
``EPOCH_SECONDS(ts)`` (rendered ``epoch(ts)`` here, microseconds since 1970 / 1e6 on
Spark), and ``${name}`` placeholders are filled with validated numbers or
whitelisted event-type literals from :class:`~rxring.options.AnalysisOptions`.
``/*+ BROADCAST(alias) */`` hints mark the small per-site and per-part tables for
Spark; DuckDB reads them as comments.
The Python side (:func:`assemble_findings`) groups the flat rows with DuckDB
list aggregates; another engine can hand it the same flat rows.

Pipeline
--------
Input relations: ``events_raw`` (schema.EVENT_SCHEMA columns plus a unique
``row_key``, see :func:`events_table` and :func:`parquet_events_sql`), ``deletions``
(record_no, event_type, site_id) and ``products`` (product_norm, pack_units).
Stages, each a temporary table, in order (:data:`STAGES`):

* whole city, narrow: ``scan`` (clean events: deletions and repeated event ids
  dropped, ten columns), ``keys`` (integer keys of product codes and product
  parts), ``code_site`` (one aggregation per code and site), ``codes`` (per code),
  ``sites`` (per site: first event, opening stock-take, coverage bounds),
  ``usual`` (CODE_CONFLICT's usual product per product part);
* ``cand``: the candidate codes, those some rule could report (each condition is
  implied by every finding of its rule; see ``stage_cand.sql``), about 1 % of the
  codes of a city;
* candidates only, wide: ``ev`` (their events with every column the rules read),
  ``dr`` (double scans, refunds), ``netd`` (net dispenses with pack groups), ``pd``
  (pack dispenses).

Then each rule file ``<RULE>.sql`` returns flat evidence rows
``(rule, trace_code, disc, event_id, role, money, note)`` which
:func:`assemble_findings` turns into rows of schema.FINDING_COLUMNS.  Every join
between event rows is keyed by trace code (``(trace_code, event_id)`` or
``(trace_code, row_key)``), so an engine that partitions the events by trace code
(Spark) moves no rows for them; only the whole-city groupings by site and product
part, and the repeated-event-id check in ``scan``, are global.

Roles of evidence events: ``source`` (the source dispense: its site, patient and
prescriber are source_sites, source_patients, source_prescribers),
``source_split`` (a source that is a split-sale group: its site is a source
site, its buyers of a few tablets are not source patients), ``laundering``
(its site is a laundering site; its patient a buyer, not a ring member),
``actor`` (CODE_CONFLICT's swapped sale: its site is a laundering site and its
patient and prescriber are ring members) and ``other`` (listed in sites,
patients, prescribers only).
"""

from __future__ import annotations

import re
import time
from importlib import resources

import pandas as pd
import pyarrow as pa

from ..options import AnalysisOptions
from ..schema import EVENT_SCHEMA, EVENT_TYPES, FINDING_COLUMNS, LOCAL_TZ, RULES

__all__ = [
    "STAGES",
    "EVENTS_STAGE",
    "ALL_CODES_SQL",
    "EVIDENCE_COLUMNS",
    "rule_sql",
    "stage_sql",
    "render",
    "rendered_queries",
    "run_sql_rules",
    "assemble_findings",
    "empty_findings",
    "events_table",
    "parquet_events_sql",
]

#: Stage tables, in the order they are built.
STAGES = ("scan", "keys", "code_site", "codes", "sites", "usual", "cand", "ev", "dr", "netd", "pd")

#: The stage with one row per event that counts (the ``events_used`` of the stats).
EVENTS_STAGE = "scan"

#: Columns of the flat evidence rows every rule query returns.
RULE_OUTPUT_COLUMNS = ("rule", "trace_code", "disc", "event_id", "role", "money", "note")

#: Flat evidence rows joined with their event, the input of :func:`assemble_findings`.
EVIDENCE_COLUMNS = RULE_OUTPUT_COLUMNS + (
    "event_type", "event_time", "site_id", "patient_id", "prescriber_id",
    "product_norm", "fund_money", "total_money",
)

# EPOCH_SECONDS(<column>) per dialect: seconds since 1970 of a naive timestamp, with
# fractions (Spark's unix_timestamp() would drop them and break sub-second windows).
_DIALECT_EPOCH = {
    "duckdb": "epoch({})",
    "spark": "(timestampdiff(MICROSECOND, TIMESTAMP_NTZ '1970-01-01 00:00:00', {}) / 1e6)",
}


def _read(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def rule_sql(rule: str) -> str:
    """The SQL text (with ``${...}`` placeholders) of one rule, e.g. ``rule_sql("RESURFACE")``."""
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}")
    return _read(f"{rule}.sql")


def stage_sql(stage: str) -> str:
    """The SQL text of one preparation stage (``ev``, ``dr``, ``netd``, ``pd``)."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}")
    return _read(f"stage_{stage}.sql")


def sql_parameters(options: AnalysisOptions) -> dict[str, str]:
    """The ``${name}`` values for *options*, as SQL literals (validated, never user text)."""
    types = [t for t in options.provenance_types if t in EVENT_TYPES]
    return {
        "double_scan_seconds": repr(float(options.double_scan_minutes) * 60.0),
        "provenance_min_coverage": repr(float(options.provenance_min_coverage)),
        "provenance_grace_seconds": repr(float(options.provenance_grace_days) * 86400.0),
        "opening_stocktake_seconds": repr(float(options.opening_stocktake_days) * 86400.0),
        "provenance_types": ", ".join(f"'{t}'" for t in types) or "''",
        "conflict_min_support": str(int(options.conflict_min_support)),
        "conflict_min_share": repr(float(options.conflict_min_share)),
    }


def render(sql: str, options: AnalysisOptions, dialect: str = "duckdb") -> str:
    """Fill the placeholders of a rule or stage file for an engine's SQL dialect.

    Examples
    --------
    >>> from rxring.options import AnalysisOptions
    >>> render("SELECT EPOCH_SECONDS(t) + ${double_scan_seconds}", AnalysisOptions())
    'SELECT epoch(t) + 600.0'
    """
    params = sql_parameters(options)

    def fill(match: re.Match) -> str:
        return params[match.group(1)]

    text = re.sub(r"\$\{(\w+)\}", fill, sql)
    return re.sub(r"EPOCH_SECONDS\(([\w.]+)\)", lambda m: _DIALECT_EPOCH[dialect].format(m.group(1)), text)


def rendered_queries(options: AnalysisOptions, dialect: str = "duckdb") -> dict[str, str]:
    """Every stage and rule file with its parameters filled in, by file name.

    For evidence packages ("the exact queries with parameters") and for other
    engines that run the same SQL.
    """
    out = {f"stage_{stage}.sql": render(stage_sql(stage), options, dialect) for stage in STAGES}
    out.update({f"{rule}.sql": render(rule_sql(rule), options, dialect) for rule in RULES})
    return out


def _strip_comments(sql: str) -> str:
    return "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))


def empty_findings() -> pd.DataFrame:
    """A findings table with no rows and the schema.FINDING_COLUMNS columns."""
    return pd.DataFrame({c: pd.Series(dtype="object") for c in FINDING_COLUMNS}).astype(
        {"fund_amount": "float64", "total_amount": "float64",
         "first_time": "datetime64[us]", "last_time": "datetime64[us]"}
    )


#: Stage ``cand`` when candidate pruning is off: every code goes on to the wide stages.
ALL_CODES_SQL = "SELECT trace_code FROM codes"


def run_sql_rules(con, options: AnalysisOptions, rules=RULES, progress=None, *, prune: bool = True,
                  timings: dict | None = None) -> pd.DataFrame:
    """Build the stages and run *rules* on a DuckDB connection; return flat evidence rows.

    The connection must hold the input relations ``events_raw``, ``deletions`` and
    ``products`` (see the module docstring).  *progress* is called with a short
    label before each step (for progress bars).  With ``prune=False`` stage ``cand``
    holds every code (:data:`ALL_CODES_SQL`), so the wide stages run on the whole
    city: slower, and the same findings (the tests check that the candidate filter
    drops no finding).  When *timings* is a dict, the CPU seconds of the process
    (all DuckDB threads) spent on each stage, on the rules and on the evidence join
    are stored in it by name.
    """
    clock = time.process_time
    for stage in STAGES:
        if progress:
            progress(f"stage {stage}")
        if stage == "cand" and not prune:
            body = ALL_CODES_SQL
        else:
            body = _strip_comments(render(stage_sql(stage), options))
        started = clock()
        con.execute(f"CREATE OR REPLACE TEMP TABLE {stage} AS {body}")
        if timings is not None:
            timings[stage] = round(clock() - started, 3)
    parts = []
    for rule in rules:
        if progress:
            progress(rule)
        parts.append("(" + _strip_comments(render(rule_sql(rule), options)) + ")")
    if not parts:
        return pd.DataFrame(columns=list(EVIDENCE_COLUMNS))
    started = clock()
    con.execute("CREATE OR REPLACE TEMP TABLE evidence AS " + "\nUNION ALL\n".join(parts))
    rules_done = clock()
    flat = con.execute(
        """
        SELECT x.rule, x.trace_code, x.disc, x.event_id, x.role, x.money, x.note,
               e.event_type, e.event_time, e.site_id, e.patient_id, e.prescriber_id,
               e.product_norm, e.fund_money, e.total_money
        FROM evidence x JOIN ev e ON e.trace_code = x.trace_code AND e.event_id = x.event_id
        """
    ).df()
    if timings is not None:
        timings["rules"] = round(rules_done - started, 3)
        timings["evidence"] = round(clock() - rules_done, 3)
    return flat


_ASSEMBLE = """
WITH rows AS (
  SELECT *,
         ROW_NUMBER() OVER (PARTITION BY rule, trace_code, disc, event_id
                            ORDER BY CASE role WHEN 'source' THEN 0 WHEN 'source_split' THEN 1
                                                   WHEN 'actor' THEN 2 WHEN 'laundering' THEN 3 ELSE 4 END) AS k
  FROM flat
), one AS (SELECT * FROM rows WHERE k = 1)
SELECT rule, trace_code, disc,
  list(DISTINCT site_id ORDER BY site_id) FILTER (WHERE site_id IS NOT NULL) AS sites,
  list(DISTINCT site_id ORDER BY site_id) FILTER (WHERE role IN ('source', 'source_split') AND site_id IS NOT NULL) AS source_sites,
  list(DISTINCT site_id ORDER BY site_id) FILTER (WHERE role IN ('laundering', 'actor') AND site_id IS NOT NULL) AS laundering_sites,
  list(DISTINCT patient_id ORDER BY patient_id) FILTER (WHERE patient_id IS NOT NULL) AS patients,
  list(DISTINCT patient_id ORDER BY patient_id) FILTER (WHERE role IN ('source', 'actor') AND patient_id IS NOT NULL) AS source_patients,
  list(DISTINCT prescriber_id ORDER BY prescriber_id) FILTER (WHERE prescriber_id IS NOT NULL) AS prescribers,
  list(DISTINCT prescriber_id ORDER BY prescriber_id) FILTER (WHERE role IN ('source', 'actor') AND prescriber_id IS NOT NULL) AS source_prescribers,
  list(DISTINCT product_norm ORDER BY product_norm) FILTER (WHERE product_norm IS NOT NULL) AS products,
  list(DISTINCT event_type ORDER BY event_type) FILTER (WHERE role IN ('laundering', 'actor')) AS laundering_types,
  COALESCE(SUM(fund_money) FILTER (WHERE money AND event_type = 'dispense'), 0.0) AS fund_amount,
  COALESCE(SUM(total_money) FILTER (WHERE money AND event_type = 'dispense'), 0.0) AS total_amount,
  MIN(event_time) AS first_time,
  MAX(event_time) AS last_time,
  MIN(event_time) FILTER (WHERE role IN ('source', 'source_split')) AS source_time,
  MIN(event_time) FILTER (WHERE role IN ('laundering', 'actor')) AS laundering_time,
  list(event_id ORDER BY event_id) AS event_ids,
  MAX(note) AS note,
  COUNT(*) AS n_events
FROM one
GROUP BY rule, trace_code, disc
ORDER BY rule, trace_code, disc
"""

_LIST_COLUMNS = ("sites", "source_sites", "laundering_sites", "patients", "source_patients",
                 "prescribers", "source_prescribers", "products", "laundering_types", "event_ids")


def assemble_findings(flat: pd.DataFrame, con=None) -> pd.DataFrame:
    """Turn flat evidence rows (:data:`EVIDENCE_COLUMNS`) into findings.

    Engine-independent: the Neo4j and Spark engines can produce the same flat rows
    and call this.  One finding per (rule, trace_code, disc); an event listed by a
    rule under several roles keeps the strongest (source, then laundering).
    Money is the sum over distinct evidence dispenses flagged ``money``.  *con*:
    an open DuckDB connection to use (a new one otherwise).

    Returns
    -------
    pandas.DataFrame
        Columns schema.FINDING_COLUMNS, sorted by (rule, trace code, finding_id).
    """
    import duckdb

    if flat is None or len(flat) == 0:
        return empty_findings()
    own = con is None
    con = duckdb.connect() if own else con
    try:
        con.register("flat", flat)
        table = _arrow(con.sql(_ASSEMBLE))
        # scalar columns through DuckDB's own pandas conversion (the dtypes findings
        # always had); list columns straight from Arrow as Python lists
        grouped = con.from_arrow(table.drop_columns(list(_LIST_COLUMNS))).df()
    finally:
        if own:
            con.close()
        else:
            con.unregister("flat")
    for column in _LIST_COLUMNS:
        grouped[column] = [[] if v is None else v for v in table.column(column).to_pylist()]
    grouped["finding_id"] = [
        f"{rule}:{code}" + (f":{disc}" if disc else "")
        for rule, code, disc in zip(grouped["rule"], grouped["trace_code"], grouped["disc"])
    ]
    grouped["trace_codes"] = grouped["trace_code"].map(lambda c: [c])
    grouped["explanation"] = [_explain(row) for row in grouped.itertuples(index=False)]
    grouped["fund_amount"] = grouped["fund_amount"].astype("float64").round(2)
    grouped["total_amount"] = grouped["total_amount"].astype("float64").round(2)
    for column in ("first_time", "last_time"):
        grouped[column] = pd.to_datetime(grouped[column]).astype("datetime64[us]")
    out = grouped.sort_values(["rule", "trace_code", "finding_id"], kind="mergesort")
    return out[list(FINDING_COLUMNS)].reset_index(drop=True)


def _arrow(relation) -> pa.Table:
    """A DuckDB relation as an Arrow table (DuckDB 1.x ``arrow()``, 2.x ``to_arrow_table()``)."""
    return relation.to_arrow_table() if hasattr(relation, "to_arrow_table") else relation.arrow()


def _day(ts) -> str:
    if ts is None or pd.isna(ts):
        return "?"
    ts = pd.Timestamp(ts)
    return f"{ts.year:04d}-{ts.month:02d}-{ts.day:02d}"     # strftime("%Y-%m-%d"), 10x faster


def _names(items, limit: int = 3) -> str:
    items = list(items)
    if not items:
        return "an unknown site"
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _explain(row) -> str:
    code = row.trace_code
    if row.rule == "DUP_DISPENSE":
        return (f"Trace code {code} (one code = one pack) was sold as {row.note} separate packs, "
                f"net of refunds, at {_names(row.sites)} between {_day(row.first_time)} and {_day(row.last_time)}.")
    if row.rule == "RESURFACE":
        days = ""
        if row.source_time is not None and row.laundering_time is not None and not pd.isna(row.laundering_time):
            delta = (pd.Timestamp(row.laundering_time) - pd.Timestamp(row.source_time)).total_seconds() / 86400
            days = f", {delta:.0f} days later"
        kinds = "/".join(row.laundering_types) or "event"
        return (f"Trace code {code} was dispensed to a patient at {_names(row.source_sites)} on {_day(row.source_time)} "
                f"and reappeared ({kinds}) at {_names(row.laundering_sites)} on {_day(row.laundering_time)}{days}.")
    if row.rule == "NO_PROVENANCE":
        received, _, total = (row.note or "").partition("/")
        return (f"Site {_names(row.laundering_sites)} sold trace code {code} on {_day(row.first_time)} without any earlier "
                f"inbound, transfer-in or refund of it, although it records inbound for {received} of the {total} codes it sells.")
    if row.rule == "CODE_CONFLICT":
        expected, n_codes, n_total = ((row.note or "") + "||").split("|")[:3]
        others = [p for p in row.products if p != expected]
        basis = (f"codes with the same product part are reported as {expected} ({n_codes} of {n_total})"
                 if n_codes else f"it was first reported as {expected}")
        return (f"Trace code {code} was reported as product {_names(others)} at {_names(row.laundering_sites)}, "
                f"but {basis}.")
    if row.rule == "EXPIRED":
        return (f"Trace code {code} was sold at {_names(row.sites)} on {_day(row.first_time)}, "
                f"after its expiry date {row.note}.")
    return f"Rule {row.rule} fired on trace code {code}."


def events_table(events: pd.DataFrame) -> pa.Table:
    """A pandas event frame as an Arrow table with exactly schema.EVENT_SCHEMA.

    Missing optional columns become nulls; empty strings in text columns become
    nulls; a missing event_id is derived from the row position (``row<N>``).  A
    ``row_key`` column (the row position) is appended: the rules use it to break
    ties between rows that repeat an event_id.
    """
    frame = events.copy()
    for field in EVENT_SCHEMA:
        if field.name not in frame.columns:
            frame[field.name] = None
    if frame["event_id"].isna().any():
        fill = pd.Series([f"row{i}" for i in range(len(frame))], index=frame.index)
        frame["event_id"] = frame["event_id"].where(frame["event_id"].notna(), fill)
    for field in EVENT_SCHEMA:
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
    table = pa.Table.from_pandas(frame[list(EVENT_SCHEMA.names)], preserve_index=False).cast(EVENT_SCHEMA)
    return table.append_column("row_key", pa.array(range(table.num_rows), type=pa.int64()))


def parquet_events_sql(paths) -> str:
    """DuckDB SELECT over event part files giving ``events_raw`` (EVENT_SCHEMA + row_key).

    ``row_key`` = part index * 2**32 + row number in the part: unique, and stable
    for the same workspace.
    """
    names = ", ".join(EVENT_SCHEMA.names)
    selects = []
    for index, path in enumerate(paths):
        quoted = "'" + str(path).replace("'", "''") + "'"
        selects.append(f"SELECT {names}, CAST({index} AS BIGINT) * 4294967296 + file_row_number AS row_key "
                       f"FROM read_parquet({quoted}, file_row_number = true)")
    return "\nUNION ALL\n".join(selects)
