"""What the commands print: masked personal ids, JSON, plain-text tables.

Personal data (patient, prescriber and pharmacist ids) comes masked from the
library calls (:mod:`rxring.results`, :func:`rxring.reveal.reveal_frame`) unless the
user asked for ``--reveal-pii``, which those calls record.  Tables are plain text whose columns line up with Chinese text
(wide characters count two columns).

Examples
--------
>>> print(table([{"site": "H01", "name": "仁和药房"}], [("site", "site"), ("name", "name")]))
site  name
----  --------
H01   仁和药房
"""

from __future__ import annotations

import math
import unicodedata

import click
import pandas as pd

from ..jsonout import dumps, jsonable, records
from ..pii import PEOPLE_COLUMNS, mask_frame, mask_id
from .options import JSON_KEY, JSON_PRINTED_KEY

__all__ = [
    "PEOPLE_COLUMNS", "mask_id", "mask_frame", "jsonable", "records", "dumps", "echo_json", "echo_json_error", "width",
    "cell", "table", "ring_table", "findings_table",
]

# ---------------------------------------------------------------- personal data
# PEOPLE_COLUMNS, mask_id and mask_frame are rxring.pii's, re-exported here.


# ---------------------------------------------------------------- JSON
# jsonable, records and dumps are rxring.jsonout's (the one JSON writer), re-exported here.


def echo_json(payload, indent: int | None = 2) -> None:
    """Print *payload* (a DataFrame: its :func:`records`) as always valid JSON (:func:`dumps`)."""
    click.echo(dumps(payload, indent=indent))
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta[JSON_PRINTED_KEY] = True


def echo_json_error(ctx: click.Context, message: str) -> None:
    """Under ``--json``, an error as ``{"error": message}`` on stdout, so stdout stays one valid JSON
    document (nothing when the command already printed its JSON)."""
    if ctx.meta.get(JSON_KEY) and not ctx.meta.get(JSON_PRINTED_KEY):
        click.echo(dumps({"error": message}, indent=None))


# ---------------------------------------------------------------- plain tables


def width(text: str) -> int:
    """Columns *text* takes in a terminal (East Asian wide and full-width characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def cell(value, limit: int = 48) -> str:
    """One table cell: lists show three items and a count, money two decimals, times to the minute."""
    if isinstance(value, (list, tuple)):
        text = ", ".join(str(v) for v in value[:3]) + (f" +{len(value) - 3}" if len(value) > 3 else "")
    elif isinstance(value, float):
        text = "" if math.isnan(value) else f"{value:,.2f}"
    elif isinstance(value, pd.Timestamp):
        text = "" if pd.isna(value) else value.strftime("%Y-%m-%d %H:%M")
    elif value is None or value is pd.NA or value is pd.NaT:
        text = ""
    else:
        text = str(value)
    return text if width(text) <= limit else text[: limit - 1] + "…"


def tail_cell(text: str, limit: int = 48) -> str:
    """*text* cut from the left to *limit* columns: a source path keeps its file name and line.

    >>> tail_cell("/tmp/a/very/long/folder/inputs/nhsa-2025-02.jsonl:12", 24)
    '…/nhsa-2025-02.jsonl:12'
    """
    if width(text) <= limit:
        return text
    tail = ""
    for ch in reversed(text):
        if width(tail) + width(ch) > limit - 1:
            break
        tail = ch + tail
    if "/" in tail[1:]:   # start at a folder boundary when the cut fell inside a name
        tail = tail[tail.index("/", 1):]
    return "…" + tail


def table(rows: list[dict], columns: list[tuple[str, str]], limit: int = 48) -> str:
    """A plain-text table of *rows*: *columns* are (key, title) pairs; cells cut at *limit* columns."""
    if not rows:
        return "(none)"
    cells = [[cell(row.get(key), limit) for key, _ in columns] for row in rows]
    widths = [max(width(title), *(width(c[i]) for c in cells)) for i, (_, title) in enumerate(columns)]

    def line(values):
        return "  ".join(v + " " * (w - width(v)) for v, w in zip(values, widths)).rstrip()

    out = [line([title for _, title in columns]), line(["-" * w for w in widths])]
    out += [line(c) for c in cells]
    return "\n".join(out)


_RING_TABLE = [("rank", "#"), ("ring_id", "ring"), ("score", "score"), ("boxes", "boxes"), ("fund_at_risk", "fund at risk"),
               ("n_patients", "src patients"), ("n_prescribers", "prescribers"), ("source_sites", "source sites"),
               ("laundering_sites", "laundering sites"), ("period", "period"), ("rules", "rules")]


def _ring_rows(rings: pd.DataFrame) -> list[dict]:
    rows = []
    for ring in rings.to_dict("records"):
        period = f"{cell(ring['first_time'])[:10]}…{cell(ring['last_time'])[:10]}"
        rows.append({**ring, "n_patients": len(ring["source_patients"]), "n_prescribers": len(ring["prescribers"]),
                     "period": period, "score": f"{ring['score']:.1f}"})
    return rows


def ring_table(rings: pd.DataFrame, limit: int | None = None) -> str:
    """The ranked ring table as printed by `rxring analyze` and `rxring rings` (ids masked by the caller)."""
    shown = rings if limit is None else rings.head(limit)
    text = table(_ring_rows(shown), _RING_TABLE, limit=40)
    if limit is not None and len(rings) > limit:
        text += f"\n… {len(rings) - limit} more rings (use --limit 0 for all)"
    return text


_FINDING_TABLE = [("finding_id", "finding"), ("sites", "sites"), ("fund_amount", "fund"),
                  ("first_time", "first"), ("explanation", "explanation")]


def findings_table(findings: pd.DataFrame) -> str:
    """The findings table (finding, sites, fund, first time, explanation); ids masked by the caller."""
    return table(findings.to_dict("records"), _FINDING_TABLE, limit=140)
