"""Findings from the rules' flat evidence rows: one shape for every engine.

Each rule query (SQL or Cypher) returns flat evidence rows
(:data:`RULE_OUTPUT_COLUMNS`); the engine joins each with its event
(:data:`EVIDENCE_COLUMNS`) and :func:`assemble_findings` makes the findings
(schema.FINDING_COLUMNS), whichever engine produced the rows.

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

import pandas as pd
import pyarrow as pa

from ..schema import FINDING_COLUMNS
from .registry import EVENT_TYPE_NAMES
from .registry import rule as registry_rule

__all__ = ["RULE_OUTPUT_COLUMNS", "EVIDENCE_COLUMNS", "EVIDENCE_SQL", "assemble_findings", "empty_findings", "no_evidence", "explain", "arrow_table"]

#: Columns of the flat evidence rows every rule query returns.
RULE_OUTPUT_COLUMNS = ("rule", "trace_code", "disc", "event_id", "role", "money", "note")

#: Flat evidence rows joined with their event, the input of :func:`assemble_findings`.
EVIDENCE_COLUMNS = RULE_OUTPUT_COLUMNS + (
    "event_type", "event_time", "site_id", "patient_id", "prescriber_id",
    "product_norm", "fund_money", "total_money",
)

#: The evidence rows (relation ``evidence``) joined with their events (stage ``ev``):
#: every SQL engine's last query, keyed by trace code like every other join.
EVIDENCE_SQL = """
SELECT x.rule, x.trace_code, x.disc, x.event_id, x.role, x.money, x.note,
       e.event_type, e.event_time, e.site_id, e.patient_id, e.prescriber_id,
       e.product_norm, e.fund_money, e.total_money
FROM evidence x JOIN ev e ON e.trace_code = x.trace_code AND e.event_id = x.event_id
"""


def no_evidence() -> pd.DataFrame:
    """Flat evidence rows (:data:`EVIDENCE_COLUMNS`), none: what a rule run without events returns."""
    return pd.DataFrame({c: pd.Series(dtype="object") for c in EVIDENCE_COLUMNS})


def empty_findings() -> pd.DataFrame:
    """A findings table with no rows and the schema.FINDING_COLUMNS columns."""
    return pd.DataFrame({c: pd.Series(dtype="object") for c in FINDING_COLUMNS}).astype(
        {"fund_amount": "float64", "total_amount": "float64",
         "first_time": "datetime64[us]", "last_time": "datetime64[us]"}
    )




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
    flat = flat[list(EVIDENCE_COLUMNS)].copy()
    flat["money"] = flat["money"].astype(bool)
    flat["event_time"] = pd.to_datetime(flat["event_time"]).astype("datetime64[us]")
    own = con is None
    con = duckdb.connect() if own else con
    try:
        con.register("flat", flat)
        table = arrow_table(con.sql(_ASSEMBLE))
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
    grouped["explanation"] = [explain(row) for row in grouped.itertuples(index=False)]
    grouped["explanation_zh"] = [explain(row, "zh") for row in grouped.itertuples(index=False)]
    grouped["fund_amount"] = grouped["fund_amount"].astype("float64").round(2)
    grouped["total_amount"] = grouped["total_amount"].astype("float64").round(2)
    for column in ("first_time", "last_time"):
        grouped[column] = pd.to_datetime(grouped[column]).astype("datetime64[us]")
    out = grouped.sort_values(["rule", "trace_code", "finding_id"], kind="mergesort")
    return out[list(FINDING_COLUMNS)].reset_index(drop=True)


def arrow_table(relation) -> pa.Table:
    """A DuckDB relation as an Arrow table (DuckDB 1.x ``arrow()``, 2.x ``to_arrow_table()``)."""
    return relation.to_arrow_table() if hasattr(relation, "to_arrow_table") else relation.arrow()


def _day(ts) -> str:
    if ts is None or pd.isna(ts):
        return "?"
    ts = pd.Timestamp(ts)
    return f"{ts.year:04d}-{ts.month:02d}-{ts.day:02d}"     # strftime("%Y-%m-%d"), 10x faster


_UNKNOWN_SITE = {"en": "an unknown site", "zh": "未知机构"}
_MORE = {"en": "{shown} and {n} more", "zh": "{shown} 等 {total} 个"}


def _names(items, lang: str = "en", limit: int = 3) -> str:
    items = list(items)
    if not items:
        return _UNKNOWN_SITE[lang]
    shown = ", ".join(items[:limit]) if lang == "en" else "、".join(items[:limit])
    if len(items) <= limit:
        return shown
    return _MORE[lang].format(shown=shown, n=len(items) - limit, total=len(items))




def explain(row, lang: str = "en") -> str:
    """One finding's explanation: its rule's template (:mod:`rxring.rules.registry`) filled in.

    *row* is a finding as :func:`assemble_findings` builds it before the explanation
    (attributes rule, trace_code, note, sites, source_sites, laundering_sites,
    products, laundering_types, first_time, last_time, source_time,
    laundering_time).  ``lang`` ``en`` gives the ``explanation`` column; ``zh``
    the Chinese twin.
    """
    index = 0 if lang == "en" else 1
    rule = registry_rule(row.rule)
    template = rule.explanation_en if lang == "en" else rule.explanation_zh
    fields = {"code": row.trace_code, "sites": _names(row.sites, lang), "first_day": _day(row.first_time),
              "last_day": _day(row.last_time)}
    if row.rule == "DUP_DISPENSE":
        fields["packs"] = row.note
    elif row.rule == "RESURFACE":
        fields["days_later"] = ""
        if row.source_time is not None and row.laundering_time is not None and not pd.isna(row.laundering_time):
            delta = (pd.Timestamp(row.laundering_time) - pd.Timestamp(row.source_time)).total_seconds() / 86400
            fields["days_later"] = rule.variants["days_later"][index].format(days=f"{delta:.0f}")
        kinds = (list(row.laundering_types) if lang == "en"
                 else [EVENT_TYPE_NAMES.get(k, (k,))[0] for k in row.laundering_types])
        fields.update(source_sites=_names(row.source_sites, lang), source_day=_day(row.source_time),
                      laundering_sites=_names(row.laundering_sites, lang), laundering_day=_day(row.laundering_time),
                      kinds="/".join(kinds) or ("event" if lang == "en" else "事件"))
    elif row.rule == "NO_PROVENANCE":
        received, _, total = (row.note or "").partition("/")
        fields.update(laundering_sites=_names(row.laundering_sites, lang), received=received, total=total)
    elif row.rule == "CODE_CONFLICT":
        expected, n_codes, n_total = ((row.note or "") + "||").split("|")[:3]
        variant = "basis_learned" if n_codes else "basis_first"
        fields.update(others=_names([p for p in row.products if p != expected], lang),
                      laundering_sites=_names(row.laundering_sites, lang),
                      basis=rule.variants[variant][index].format(expected=expected, n_codes=n_codes, n_total=n_total))
    elif row.rule == "EXPIRED":
        fields["expiry"] = row.note
    return template.format(**fields)
