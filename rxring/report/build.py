"""`rxring report`: the ring table and each ring's findings and members, in five formats.

- ``html``: a folder with ``index.html`` (sortable ring table) and one page per ring;
- ``md``: one Markdown file;
- ``json``: one JSON document (canonical English keys, labels in ``lang``);
- ``csv``: ``PATH`` holds the ring table, ``PATH-findings.csv`` and ``PATH-members.csv``
  beside it (UTF-8 with BOM so Excel shows Chinese);
- ``xlsx``: one workbook with the sheets ``rings``, ``findings``, ``members``;
- ``pdf``: a printable dossier (:mod:`rxring.report.pdf`): per ring its members by role, a ring
  diagram and its findings; page numbers and the inputs' digest on every page.

Personal data is masked unless ``reveal_pii``; spreadsheet cells cannot start a formula.
"""

from __future__ import annotations

import csv
import hashlib
from datetime import datetime
from pathlib import Path

import pandas as pd

from ..jsonout import write_json
from ..reveal import permit_reveal
from ..version import __version__
from ..cases.exceptions import set_aside_note
from ..errors import RxringError
from .data import CaseData, is_missing, load_case, period, select_rings
from .i18n import check_lang, label, rule_text
from .markdown import md_code
from .pii import Masker
from .html_report import write_html_report
from .pdf import write_report_pdf
from .seal import creation_datetime
from .sources import inputs_listing
from .tables import NUMERIC, TABLES, cell_text, finding_rows, formula_safe, headers, member_rows, ring_rows

__all__ = ["FORMATS", "build_report", "report_data"]

FORMATS = ("html", "md", "json", "csv", "xlsx", "pdf")


def _now() -> str:
    """When the report is made (``SOURCE_DATE_EPOCH`` when set, as for evidence packages), to the minute."""
    return creation_datetime().strftime("%Y-%m-%d %H:%M UTC")


def _plain(value):
    """JSON/XLSX-friendly value: Timestamps to ISO text or datetime, numpy to Python."""
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def report_data(case: CaseData, rings: list[dict], lang: str, masker: Masker) -> dict:
    """The whole report as one JSON-ready dict (what ``--format json`` writes)."""
    findings: dict = {}
    for finding in finding_rows(case, rings, masker, lang):
        findings.setdefault(finding["ring_id"], []).append(finding)
    members: dict = {}
    for member in member_rows(case, rings, masker, lang):
        members.setdefault(member["ring_id"], []).append(member)
    out_rings = []
    for row in ring_rows(case, rings, masker):
        ring_id = row["ring_id"]
        out_rings.append(
            {
                "ring_id": ring_id,
                "rank": row["rank"],
                "score": row["score"],
                "boxes": row["boxes"],
                "events": row["events"],
                "fund_at_risk": row["fund_at_risk"],
                "total_amount": row["total_amount"],
                "first_time": _plain(row["first_time"]),
                "last_time": _plain(row["last_time"]),
                "rules": [r.strip() for r in row["rules"].split(",") if r.strip()],
                "members": {
                    "source_patients": row["source_patients_list"],
                    "prescribers": row["prescribers_list"],
                    "source_sites": row["source_sites_list"],
                    "laundering_sites": row["laundering_sites_list"],
                },
                "member_stats": [{k: v for k, v in m.items() if k != "ring_id"} for m in members.get(ring_id, [])],
                "findings": [
                    {k: _plain(v) for k, v in f.items() if k != "ring_id"} for f in findings.get(ring_id, [])
                ],
            }
        )
    return {
        "title": label("report_title", lang),
        "generated": _now(),
        "tool": f"rxring {__version__}",
        "lang": lang,
        "personal_data": "revealed" if masker.reveal else "masked",
        "workspace": str(case.workspace.root),
        "analysis": case.analysis,
        "rings": out_rings,
    }


def _csv_cell(key: str, value):
    """Numbers stay machine-readable in CSV (no thousands separators); text cannot start a formula."""
    if key in NUMERIC and not is_missing(value):
        try:
            number = float(value)
        except (TypeError, ValueError):
            return formula_safe(str(value))
        if key in ("score", "fund_at_risk", "total_amount", "fund_amount") or not number.is_integer():
            return f"{number:.2f}"
        return str(int(number))
    return formula_safe(cell_text(key, value))


def _csv_rows(table: str, rows: list[dict]) -> list[list]:
    keys = TABLES[table]
    return [[_csv_cell(k, row.get(k)) for k in keys] for row in rows]


def _write_csv(case, rings, output: Path, lang, masker) -> list[Path]:
    output.parent.mkdir(parents=True, exist_ok=True)
    stem = output.with_suffix("") if output.suffix.lower() == ".csv" else output
    paths = {
        "rings": output if output.suffix.lower() == ".csv" else output.with_suffix(".csv"),
        "findings": stem.parent / f"{stem.name}-findings.csv",
        "members": stem.parent / f"{stem.name}-members.csv",
    }
    data = {
        "rings": ring_rows(case, rings, masker),
        "findings": finding_rows(case, rings, masker, lang),
        "members": member_rows(case, rings, masker, lang),
    }
    for table, path in paths.items():
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(headers(table, lang))
            writer.writerows(_csv_rows(table, data[table]))
    return list(paths.values())


def _xlsx_value(key: str, value):
    if value is None:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if key in NUMERIC:
        try:
            return float(value) if key in ("score", "fund_at_risk", "total_amount", "fund_amount") else int(value)
        except (TypeError, ValueError):
            return formula_safe(str(value))
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    return formula_safe(value) if isinstance(value, str) else value


def _write_xlsx(case, rings, output: Path, lang, masker) -> list[Path]:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    data = {
        "rings": ring_rows(case, rings, masker),
        "findings": finding_rows(case, rings, masker, lang),
        "members": member_rows(case, rings, masker, lang),
    }
    book = Workbook()
    book.remove(book.active)
    for table, rows in data.items():
        sheet = book.create_sheet(table)
        sheet.append(headers(table, lang))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in rows:
            sheet.append([_xlsx_value(k, row.get(k)) for k in TABLES[table]])
        for index, key in enumerate(TABLES[table], start=1):
            letter = get_column_letter(index)
            if key in ("first_time", "last_time"):
                for cell in sheet[letter][1:]:
                    cell.number_format = "yyyy-mm-dd hh:mm"
            elif key in ("fund_at_risk", "total_amount", "fund_amount"):
                for cell in sheet[letter][1:]:
                    cell.number_format = "#,##0.00"
            sheet.column_dimensions[letter].width = 18 if key not in ("explanation", "event_ids", "trace_codes") else 40
        sheet.freeze_panes = "A2"
        sheet.auto_filter.ref = sheet.dimensions
    meta = book.create_sheet("about")
    meta.append([label("generated", lang), _now()])
    meta.append([label("tool_version", lang), f"rxring {__version__}"])
    meta.append([label("workspace", lang), formula_safe(str(case.workspace.root))])
    meta.append([label("pii_revealed" if masker.reveal else "pii_masked", lang), ""])
    output.parent.mkdir(parents=True, exist_ok=True)
    book.save(output)
    return [output]


def _md(value) -> str:
    """Markdown text of our own labels: collapsed to one line (labels never hold data)."""
    text = cell_text("", value) if not isinstance(value, str) else value
    return " ".join(text.split()).replace("|", "\\|")


_MD_PLAIN = NUMERIC | {"first_time", "last_time", "source_patients", "prescribers", "source_sites", "laundering_sites"}


def _md_cell(key: str, value) -> str:
    """A table cell: our numbers and times plain, every other value a code span."""
    text = cell_text(key, value)
    plain = key in _MD_PLAIN and (isinstance(value, (int, float, pd.Timestamp, datetime)) or value is None)
    return text if plain else md_code(text, table=True)


def _md_table(table: str, rows: list[dict], lang: str, keys) -> list[str]:
    names = dict(zip(TABLES[table], headers(table, lang)))
    lines = ["| " + " | ".join(_md(names[k]) for k in keys) + " |", "|" + "---|" * len(keys)]
    for row in rows:
        lines.append("| " + " | ".join(_md_cell(k, row.get(k)) for k in keys) + " |")
    return lines


def _write_md(case, rings, output: Path, lang, masker) -> list[Path]:
    lines = [f"# {_md(label('report_title', lang))}", ""]
    pii = label("pii_revealed" if masker.reveal else "pii_masked", lang)
    lines += [f"{_md(label('generated', lang))}: {_md(_now())} · rxring {__version__} · {_md(pii)}", ""]
    if set_aside := set_aside_note(case.analysis, lang):
        lines += [_md(set_aside), ""]
    if not rings:
        lines.append(_md(label("no_rings", lang)))
    else:
        lines += _md_table("rings", ring_rows(case, rings, masker), lang, TABLES["rings"])
    for ring in rings:
        lines += ["", f"## {label('ring_title', lang, ring_id=md_code(ring['ring_id']))}", ""]
        lines.append(
            f"- {_md(label('score', lang))}: {_md_cell('score', ring['score'])} · "
            f"{_md(label('boxes', lang))}: {_md_cell('boxes', ring['boxes'])} · {_md(label('fund_at_risk', lang))}: "
            f"{_md_cell('fund_at_risk', ring['fund_at_risk'])} · {_md(label('period', lang))}: "
            f"{_md(period(ring['first_time'], ring['last_time']))}"
        )
        for rule in ring["rules"]:
            lines.append(f"- {md_code(rule)}: {_md(rule_text(rule, lang))}")
        lines += ["", f"### {_md(label('members', lang))}", ""]
        lines += _md_table("members", member_rows(case, [ring], masker, lang), lang,
                           ("role", "member_id", "name", "boxes", "events", "fund_amount", "findings_count"))
        lines += ["", f"### {_md(label('findings', lang))}", ""]
        lines += _md_table("findings", finding_rows(case, [ring], masker, lang), lang,
                           ("finding_id", "rule", "trace_codes", "source_sites", "laundering_sites", "source_patients",
                            "prescribers", "fund_amount", "first_time", "last_time", "explanation"))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [output]


def _write_json(case, rings, output: Path, lang, masker) -> list[Path]:
    output.parent.mkdir(parents=True, exist_ok=True)
    document = report_data(case, rings, lang, masker)
    write_json(output, document)
    return [output]


def build_report(
    workspace,
    fmt: str = "html",
    lang: str = "zh",
    output: str | Path | None = None,
    reveal_pii: bool = False,
    ring_ids=None,
    operator: str | None = None,
) -> list[Path]:
    """Write the ring report of an analysed workspace; return the files written (main file first).

    Parameters
    ----------
    workspace : path or Workspace
        Analysed by ``rxring analyze`` (rings.parquet, findings.parquet).
    fmt : {"html", "md", "json", "csv", "xlsx", "pdf"}
    lang : {"zh", "en"}
    output : path, optional
        Default ``<workspace>/report/`` for html, ``<workspace>/report.<fmt>`` otherwise.
    reveal_pii : bool
        Show patient and prescriber ids and names unmasked; recorded in the
        workspace's reveals.jsonl (:func:`rxring.reveal.permit_reveal`).
    ring_ids : list of str, optional
        Only these rings (default: all, by rank).
    operator : str, optional
        Who reveals (default RXRING_OPERATOR, else the OS user).

    Examples
    --------
    >>> build_report("ws", "xlsx", "en", "rings.xlsx")  # doctest: +SKIP
    [PosixPath('rings.xlsx')]
    """
    if fmt not in FORMATS:
        raise RxringError(f"unknown report format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    check_lang(lang)
    case = load_case(workspace, ring_ids)
    rings = select_rings(case, ring_ids)
    if output is None:
        output = case.workspace.root / ("report" if fmt == "html" else f"report.{fmt}")
    output = Path(output)
    what = {"format": fmt, "ring_ids": [r["ring_id"] for r in rings] if ring_ids else "all", "output": str(output)}
    masker = case.masker(reveal=permit_reveal(reveal_pii, case.workspace, what, operator, api="rxring.build_report"))
    try:
        if fmt == "html":
            return [write_html_report(case, rings, output, lang, masker, _now())]
        if fmt == "pdf":
            digest = hashlib.sha256(inputs_listing(case.manifest)).hexdigest()
            return write_report_pdf(case, rings, output, lang, masker, _now(), digest)
        writer = {"md": _write_md, "json": _write_json, "csv": _write_csv, "xlsx": _write_xlsx}[fmt]
        return writer(case, rings, output, lang, masker)
    except OSError as exc:
        raise RxringError(f"{exc.filename or output}: cannot write the report: {exc.strerror or exc}") from exc
