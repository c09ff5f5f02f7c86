"""The rules' query files (``sql/``, ``cypher/``): read them, fill their parameters.

Every engine runs these files and nothing else of a rule: DuckDB and Spark the
SQL (:mod:`rxring.backends.duckdb`, :mod:`rxring.backends.spark`), Neo4j the
Cypher (:mod:`rxring.backends.neo4j.rules`).

SQL
---
Input relations: ``events_raw`` (schema.EVENT_SCHEMA columns plus a unique
``row_key``), ``deletions`` (record_no, event_type, site_id) and ``products``
(product_norm, pack_units) — see :mod:`rxring.rules.events`.  The view
``counted`` (``sql/counted.sql``: the events that count) comes first; then the
stages, each a temporary table, in order (:data:`STAGES`):

* whole city, narrow: ``scan`` (the counted events, ten columns), ``keys``
  (integer keys of product codes and product parts), ``code_site`` (one
  aggregation per code and site), ``codes`` (per code), ``sites`` (per site:
  first event, opening stock-take, coverage bounds), ``usual`` (CODE_CONFLICT's
  usual product per product part);
* ``cand``: the candidate codes, those some rule could report (each condition is
  implied by every finding of its rule; see ``stage_cand.sql``), about 1 % of the
  codes of a city;
* candidates only, wide: ``ev`` (their events with every column the rules read),
  ``dr`` (double scans, refunds), ``netd`` (net dispenses with pack groups), ``pd``
  (pack dispenses).

Then each rule file ``<RULE>.sql`` returns flat evidence rows
(:data:`rxring.rules.findings.RULE_OUTPUT_COLUMNS`).  Every join between event
rows is keyed by trace code (``(trace_code, event_id)`` or ``(trace_code,
row_key)``), so an engine that partitions the events by trace code (Spark) moves
no rows for them; only the whole-city groupings by site and product part, and the
repeated-event-id check of ``counted``, are global.

The SQL is plain (CTEs, ``ROW_NUMBER``/``LAG``/``SUM`` windows, ``CASE``, joins; no
``QUALIFY``, no list functions): the only dialect-specific call is
``EPOCH_SECONDS(ts)`` (:func:`render`), and ``${name}`` placeholders are filled
with validated numbers or whitelisted event-type literals
(:func:`sql_parameters`).  ``/*+ BROADCAST(alias) */`` hints mark small tables
for Spark; DuckDB reads them as comments.

Cypher
------
One statement per file (``prepare.cypher`` and ``schema.cypher``: several,
``;``-separated), ``$name`` parameters (:func:`cypher_parameters`), a ``//``
header an investigator reads in Neo4j Browser (:func:`cypher_header`).
"""

from __future__ import annotations

import re
from importlib import resources

from ..errors import RxringError
from ..options import AnalysisOptions
from ..schema import EVENT_TYPES, RULES
from .events import COUNTED_VIEW, counted_sql

__all__ = [
    "STAGES",
    "EVENTS_STAGE",
    "ALL_CODES_SQL",
    "rule_sql",
    "stage_sql",
    "sql_parameters",
    "render",
    "rendered_queries",
    "strip_comments",
    "cypher_names",
    "cypher_text",
    "cypher_header",
    "cypher_statements",
    "cypher_parameters",
    "CYPHER_WRITE_QUERIES",
]

#: Stage tables, in the order they are built.
STAGES = ("scan", "keys", "code_site", "codes", "sites", "usual", "cand", "ev", "dr", "netd", "pd")

#: The stage with one row per event that counts (the ``events_used`` of the stats).
EVENTS_STAGE = "scan"

#: Stage ``cand`` when candidate pruning is off: every code goes on to the wide stages.
ALL_CODES_SQL = "SELECT trace_code FROM codes"

#: Shipped Cypher files that write (schema, derived properties, ring marks).
CYPHER_WRITE_QUERIES = ("schema", "prepare", "clear_rings", "write_rings")

# EPOCH_SECONDS(<column>) per dialect: seconds since 1970 of a naive timestamp, with
# fractions (Spark's unix_timestamp() would drop them and break sub-second windows).
_DIALECT_EPOCH = {
    "duckdb": "epoch({})",
    "spark": "(timestampdiff(MICROSECOND, TIMESTAMP_NTZ '1970-01-01 00:00:00', {}) / 1e6)",
}


def _read(*parts: str) -> str:
    return resources.files(__package__).joinpath(*parts).read_text(encoding="utf-8")


# --------------------------------------------------------------------------- SQL


def rule_sql(rule: str) -> str:
    """The SQL text (with ``${...}`` placeholders) of one rule, e.g. ``rule_sql("RESURFACE")``."""
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}")
    return _read("sql", f"{rule}.sql")


def stage_sql(stage: str) -> str:
    """The SQL text of one preparation stage (:data:`STAGES`)."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}")
    return _read("sql", f"stage_{stage}.sql")


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


def strip_comments(sql: str) -> str:
    """The SQL without its ``--`` comment lines (what the engines are sent).

    Examples
    --------
    >>> strip_comments("-- a header\\nSELECT 1")
    'SELECT 1'
    """
    return "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))


def rendered_queries(options: AnalysisOptions, dialect: str = "duckdb") -> dict[str, str]:
    """Every SQL file with its parameters filled in, by file name, in the order they run.

    For evidence packages ("the exact queries with parameters") and for other
    engines that run the same SQL.
    """
    out = {f"{COUNTED_VIEW}.sql": counted_sql()}
    out.update({f"stage_{stage}.sql": render(stage_sql(stage), options, dialect) for stage in STAGES})
    out.update({f"{rule}.sql": render(rule_sql(rule), options, dialect) for rule in RULES})
    return out


# --------------------------------------------------------------------------- Cypher


def cypher_names() -> list[str]:
    """Names of the shipped ``cypher/*.cypher`` files, without the extension."""
    root = resources.files(__package__).joinpath("cypher")
    return sorted(p.name[: -len(".cypher")] for p in root.iterdir() if p.name.endswith(".cypher"))


def cypher_text(name: str) -> str:
    """The text of ``cypher/<name>.cypher``; :class:`RxringError` for an unknown name."""
    if name not in cypher_names():
        raise RxringError(f"no shipped query {name!r}; known: {', '.join(cypher_names())}")
    return _read("cypher", f"{name}.cypher")


def cypher_header(name: str) -> str:
    """The leading ``//`` comment block of a Cypher file, without the slashes."""
    lines = []
    for line in cypher_text(name).splitlines():
        if not line.startswith("//"):
            break
        lines.append(line[2:].strip())
    return "\n".join(lines).strip()


def cypher_statements(name: str) -> list[str]:
    """The ``;``-separated statements of a Cypher file, comments removed."""
    body = "\n".join(line for line in cypher_text(name).splitlines() if not line.lstrip().startswith("//"))
    return [s.strip() for s in re.split(r";\s*(?:\n|$)", body) if s.strip()]


def cypher_parameters(options: AnalysisOptions) -> dict:
    """The ``$name`` parameters of the shipped Cypher for ``options``."""
    return {
        "double_scan_seconds": float(options.double_scan_minutes) * 60.0,
        "provenance_min_coverage": float(options.provenance_min_coverage),
        "provenance_grace_days": float(options.provenance_grace_days),
        "provenance_types": list(options.provenance_types),
        "opening_stocktake_days": float(options.opening_stocktake_days),
        "conflict_min_support": int(options.conflict_min_support),
        "conflict_min_share": float(options.conflict_min_share),
    }
