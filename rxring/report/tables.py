"""The three tables every report format shows: rings, findings, members.

Rows are plain dicts with canonical keys (``TABLES`` gives the column order and
the label key of each column); personal data is masked here, once, so each
format only lays the rows out.
"""

from __future__ import annotations

import csv
import io

from .data import CaseData, fmt_time, is_missing, ring_findings, ring_members
from .i18n import ROLE_KEYS, label, rule_text
from .pii import Masker

__all__ = ["TABLES", "NUMERIC", "ring_rows", "finding_rows", "member_rows", "headers", "formula_safe", "cell_text", "csv_bytes"]

TABLES = {
    "rings": (
        "rank", "ring_id", "score", "source_patients", "prescribers", "source_sites", "laundering_sites",
        "boxes", "events", "fund_at_risk", "total_amount", "first_time", "last_time", "rules",
    ),
    "findings": (
        "ring_id", "finding_id", "rule", "trace_codes", "source_sites", "laundering_sites", "source_patients",
        "prescribers", "patients", "fund_amount", "total_amount", "first_time", "last_time", "explanation", "event_ids",
    ),
    "members": ("ring_id", "role", "member_id", "name", "boxes", "events", "fund_amount", "findings_count"),
}

NUMERIC = frozenset({"rank", "score", "boxes", "events", "fund_at_risk", "total_amount", "fund_amount", "findings_count"})


def headers(table: str, lang: str) -> list[str]:
    """Column headers of ``table`` in ``lang``; member counts say they are counts."""
    out = []
    for key in TABLES[table]:
        text = label("fund_at_risk" if (table == "members" and key == "fund_amount") else key, lang)
        if table == "rings" and key in ROLE_KEYS:
            text += "（人/家）" if lang == "zh" else " (count)"
        out.append(text)
    return out


def formula_safe(value):
    """Stop spreadsheet formula injection: text starting with = + - @ gets a leading quote."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_bytes(header: list[str], rows: list[list]) -> bytes:
    """A CSV file as bytes (UTF-8 with BOM, so Excel reads the Chinese): missing values empty, every cell text
    and formula-safe.

    >>> csv_bytes(["a", "b"], [["=1+1", None]]).decode("utf-8-sig").splitlines()
    ['a,b', "'=1+1,"]
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[formula_safe("" if is_missing(v) else str(v)) for v in row] for row in rows])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _site(case: CaseData, site_id: str) -> str:
    name = case.site_name(site_id)
    return f"{name} ({site_id})" if name else site_id


def ring_rows(case: CaseData, rings: list[dict], masker: Masker) -> list[dict]:
    """One row per ring; role columns hold member counts, ``*_list`` keys the members."""
    rows = []
    for ring in rings:
        row = {key: ring.get(key) for key in ("rank", "ring_id", "score", "boxes", "events", "fund_at_risk", "total_amount")}
        for role in ROLE_KEYS:
            row[role] = len(ring[role])
        row["source_patients_list"] = [masker.person(p) for p in ring["source_patients"]]
        row["prescribers_list"] = [masker.person(p) for p in ring["prescribers"]]
        row["source_sites_list"] = [_site(case, s) for s in ring["source_sites"]]
        row["laundering_sites_list"] = [_site(case, s) for s in ring["laundering_sites"]]
        row["first_time"] = ring.get("first_time")
        row["last_time"] = ring.get("last_time")
        row["rules"] = ", ".join(ring["rules"])
        rows.append(row)
    return rows


def finding_rows(case: CaseData, rings: list[dict], masker: Masker, lang: str) -> list[dict]:
    """One row per finding of each ring, people masked, explanation masked."""
    rows = []
    for ring in rings:
        for finding in ring_findings(case, ring):
            rows.append(
                {
                    "ring_id": ring["ring_id"],
                    "finding_id": finding["finding_id"],
                    "rule": finding["rule"],
                    "rule_text": rule_text(str(finding["rule"]), lang),
                    "trace_codes": ", ".join(finding["trace_codes"]),
                    "source_sites": ", ".join(_site(case, s) for s in finding["source_sites"]),
                    "laundering_sites": ", ".join(_site(case, s) for s in finding["laundering_sites"]),
                    "source_patients": ", ".join(masker.person(p) for p in finding["source_patients"]),
                    "patients": ", ".join(masker.person(p) for p in finding["patients"]),
                    "prescribers": ", ".join(masker.person(p) for p in finding["source_prescribers"]),
                    "fund_amount": finding.get("fund_amount"),
                    "total_amount": finding.get("total_amount"),
                    "first_time": finding.get("first_time"),
                    "last_time": finding.get("last_time"),
                    "explanation": masker.text((lang == "zh" and finding.get("explanation_zh")) or finding.get("explanation") or ""),
                    "event_ids": ", ".join(finding["event_ids"]),
                }
            )
    return rows


def member_rows(case: CaseData, rings: list[dict], masker: Masker, lang: str) -> list[dict]:
    """One row per ring member and role; people's ids and names masked, sites named."""
    rows = []
    for ring in rings:
        for member in ring_members(case, ring):
            person = member["role"] in ("source_patients", "prescribers")
            member = dict(member)
            member["role_key"] = member["role"]
            member["role"] = label(member["role"], lang)
            if person:
                member["member_id"] = masker.person(member["member_id"])
                member["name"] = masker.person(member["name"]) if member["name"] else ""
            rows.append(member)
    return rows


def cell_text(key: str, value) -> str:
    """A value as display text (times formatted, lists joined, missing empty)."""
    if is_missing(value):
        return ""
    if key in ("first_time", "last_time", "event_time"):
        return fmt_time(value)
    if key in ("fund_at_risk", "total_amount", "fund_amount"):
        try:
            return f"{float(value):,.2f}"
        except (TypeError, ValueError):
            return str(value)
    if key == "score":
        try:
            return f"{float(value):.2f}"
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)
