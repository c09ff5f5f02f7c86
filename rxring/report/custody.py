"""Each box's chain of custody as display rows, one definition for the Markdown timeline and the PDF.

The rows are the events of a ring's packs (read by the evidence package), grouped
per trace code in time order; personal ids masked with the case's masker, event
types and headers in the language asked for, the events that prove a finding
marked.

Examples
--------
>>> custody_headers("zh")[:3]
['序号', '时间', '类型']
"""

from __future__ import annotations

from .data import CaseData, fmt_money, fmt_time, is_missing, load_events, ring_findings
from .i18n import EVENT_TYPE_KEYS, bilingual, label
from .pii import Masker
from .sources import input_name_map

__all__ = ["CUSTODY_COLUMNS", "custody_headers", "custody_table", "event_type_name", "ring_custody", "portable_sources"]

#: The columns of a custody table: label keys, in order.
CUSTODY_COLUMNS = ("seq", "event_time", "event_type", "site", "patient", "prescriber", "quantity", "fund_amount",
                   "source", "proving")


def ring_custody(case: CaseData, ring: dict, limit: int | None = None) -> tuple[list[str], list[dict], set[str]]:
    """The ring's trace codes (sorted), the events of the first ``limit`` of them (all by default) in time
    order per code, and the ids of the events that prove its findings."""
    findings = ring_findings(case, ring)
    codes = sorted({c for f in findings for c in f["trace_codes"]})
    shown = codes if limit is None else codes[:limit]
    events = load_events(case, trace_codes=shown) if shown else None
    return codes, [] if events is None else events.to_dict("records"), {e for f in findings for e in f["event_ids"]}


def portable_sources(rows: list[dict], case: CaseData) -> dict[str, str]:
    """Name the source files of ``rows`` as inputs.sha256 does (machine-independent), in place; return the names."""
    names = input_name_map(case.manifest)
    for row in rows:
        if row.get("source_file") in names:
            row["source_file"] = names[row["source_file"]]
    return names


def custody_headers(lang: str) -> list[str]:
    """The column headers in ``lang`` (``zh``, ``en``, or ``both``: Chinese with English beside)."""
    return [bilingual(k) if lang == "both" else label(k, lang) for k in CUSTODY_COLUMNS]


def event_type_name(value, lang: str) -> str:
    """An event type's name in ``lang`` (``both``: Chinese with English beside); other values as they are.

    >>> event_type_name("dispense", "zh"), event_type_name("dispense", "both"), event_type_name("x", "zh")
    ('销售', '销售 / dispense', 'x')
    """
    value = "" if value is None else str(value)
    if value not in EVENT_TYPE_KEYS:
        return value
    return bilingual(value) if lang == "both" else label(value, lang)


def custody_table(codes: list[str], rows: list[dict], case: CaseData, masker: Masker, proving: set[str],
                  lang: str) -> list[tuple[str, list[list[str]]]]:
    """``(trace_code, rows)`` per code of ``codes``; each row the text of :data:`CUSTODY_COLUMNS`."""
    by_code: dict[str, list[dict]] = {}
    for row in rows:
        by_code.setdefault(str(row["trace_code"]), []).append(row)
    yes = bilingual("yes") if lang == "both" else label("yes", lang)
    out = []
    for code in codes:
        table = []
        for n, row in enumerate(by_code.get(code, []), start=1):
            site = str(row.get("site_id") or "")
            name = case.site_name(site)
            line = row.get("source_line")
            table.append([
                str(n), fmt_time(row.get("event_time")), event_type_name(row.get("event_type"), lang),
                f"{name} ({site})" if name else site, masker.person(row.get("patient_id")),
                masker.person(row.get("prescriber_id")), "" if is_missing(row.get("quantity")) else str(row["quantity"]),
                fmt_money(row.get("fund_amount")),
                f"{masker.text(row.get('source_file') or '')}:{'' if line is None or line != line else int(line)}",
                yes if row.get("event_id") in proving else "",
            ])
        out.append((code, table))
    return out
