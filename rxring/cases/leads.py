"""Lead lists (疑点线索): a bureau's CSV/XLSX of codes or settlement ids, matched to the workspace, opened as cases.

A list has one row per lead: a trace code (追溯码 / trace_code) or a settlement id
(结算ID / setl_id), and the reason the sender gave (疑点原因 / reason).  Column names
may be Chinese or English (:data:`COLUMN_ALIASES`).  Each row is

- **rejected** when it has neither key, or repeats an earlier row (with its line and why);
- **unmatched** when the workspace has no event for it (kept, so the reply to the bureau
  can say so);
- **matched** otherwise: it gets its ring (when a finding on its code belongs to one), the
  rules that fired on its codes, or — where no rule fired — the triage explanation of the
  code's repeats (:mod:`rxring.cases.triage`), and joins a case: the ring's case, else the
  open case an earlier list's lead on the same code joined, else one case per site where the
  code was last seen (the institution to visit).

``read + (matched + unmatched + rejected)`` always balance: every row is accounted for.

Examples
--------
>>> canonical_column("追溯码"), canonical_column("Setl_ID"), canonical_column("疑点原因")
('trace_code', 'setl_id', 'reason')
"""

from __future__ import annotations

import csv
import hashlib
import io
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .. import audit
from ..errors import RxringError
from .db import connect, utc_now
from .store import open_case
from .users import Actor

__all__ = ["COLUMN_ALIASES", "MAX_LEAD_ROWS", "MAX_LEAD_BYTES", "MAX_TITLE_ROWS", "ImportResult", "canonical_column",
           "read_leads", "import_leads", "list_leads", "list_batches"]

#: Accepted header spellings (compared without case, spaces, '_' and '-').
COLUMN_ALIASES = {
    "trace_code": ("追溯码", "药品追溯码", "追溯码编号", "drug_trac_codg", "trace_code", "tracecode", "code"),
    "setl_id": ("结算id", "结算编号", "结算流水号", "setl_id", "setlid", "settlement_id", "settlement"),
    "reason": ("疑点原因", "疑点描述", "线索描述", "原因", "备注", "reason", "note", "description"),
}
MAX_LEAD_ROWS = 200_000
MAX_LEAD_BYTES = 64 * 1024 * 1024
#: Rows above the header that are read as the list's title (its name, the batch, the date) and skipped.
MAX_TITLE_ROWS = 10


def _norm(text) -> str:
    return "".join(ch for ch in str(text or "").strip().lower() if ch not in " _-\t\ufeff")


_ALIASES = {_norm(alias): column for column, aliases in COLUMN_ALIASES.items() for alias in aliases}


def canonical_column(header) -> str | None:
    """The lead column a header names (``trace_code``, ``setl_id``, ``reason``), or None."""
    return _ALIASES.get(_norm(header))


@dataclass
class ImportResult:
    """What an import did: the batch, row accounting, the problems (line, reason), the cases touched."""

    batch_id: int
    source_file: str
    read: int = 0
    matched: int = 0
    unmatched: int = 0
    rejected: int = 0
    problems: list = field(default_factory=list)
    cases_opened: list = field(default_factory=list)
    cases_joined: list = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.source_file}：读取 {self.read} 行 = 匹配 {self.matched} + 未匹配 {self.unmatched} + "
                f"拒绝 {self.rejected}；新立案 {len(self.cases_opened)}，并入已有案件 {len(self.cases_joined)} · "
                f"{self.read} rows read = {self.matched} matched + {self.unmatched} not in the workspace + "
                f"{self.rejected} rejected; {len(self.cases_opened)} cases opened, {len(self.cases_joined)} joined")


def _rows_csv(path: Path, data: bytes):
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        if best is None:
            raise RxringError(f"{path}: not a text file (CSV) in a known encoding") from None
        text = str(best)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            yield reader.line_num, row
    except csv.Error as exc:
        raise RxringError(f"{path}, line {reader.line_num}: {exc}") from None


def _sheets_xlsx(path: Path, data: bytes):
    """Each worksheet of the workbook as rows ``(line, cells)``, in the workbook's order."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for a damaged file
        raise RxringError(f"{path}: not a readable XLSX workbook ({exc.__class__.__name__})") from None
    try:
        for sheet in book.worksheets:
            yield ((number, [_cell_text(v) for v in row])
                   for number, row in enumerate(sheet.iter_rows(values_only=True), start=1))
    finally:
        book.close()


#: Integers above this lose digits when a spreadsheet stores them as numbers (doubles).
_EXACT_DIGITS = 15


def _cell_text(value) -> str:
    """A spreadsheet cell as text; a number too long to be exact becomes ``#NUMBER`` (a 20-digit code
    typed into a number cell has lost its last digits and must not be matched)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not value.is_integer():
            return str(value)
        return str(int(value)) if abs(value) < 10 ** _EXACT_DIGITS else _NUMBER
    return str(value)


_NUMBER = "#NUMBER"


def read_leads(path) -> list[dict]:
    """The rows of a lead list: ``line``, ``trace_code``, ``setl_id``, ``reason`` (text, '' when absent).

    The header is the first row naming a code or settlement-id column (:data:`COLUMN_ALIASES`);
    up to :data:`MAX_TITLE_ROWS` rows above it (a title, the batch, the date) are skipped.  In a
    workbook, the first sheet with such a header is read (an instructions sheet may come first).

    Raises
    ------
    RxringError
        The file cannot be read, is too large, or has no code or settlement-id column.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_LEAD_BYTES:
            raise RxringError(f"{path}: {size} bytes, more than the {MAX_LEAD_BYTES} a lead list may have")
        data = path.read_bytes()
    except OSError as exc:
        raise RxringError(f"{path}: cannot read ({exc.strerror or exc})") from None
    tables = _sheets_xlsx(path, data) if data[:4] == b"PK\x03\x04" else [_rows_csv(path, data)]
    first = None
    for rows in tables:   # the first sheet with a header (an instructions sheet may come before the list)
        out, found = _read_table(path, rows)
        if out is not None:
            return out
        first = first or found
    if first is None:
        raise RxringError(f"{path}: 空文件（没有表头）· empty (no header row)")
    line, cells = first
    shown = ", ".join(str(c) for c in cells if str(c).strip())
    raise RxringError(
        f"{path}, line {line}: 找不到追溯码或结算ID列（{shown}）· no code or settlement-id column among "
        f"{shown} (nor in the {MAX_TITLE_ROWS} rows below it); name one 追溯码/trace_code or "
        "结算ID/setl_id (and 疑点原因/reason)")


def _read_table(path: Path, rows) -> tuple[list | None, tuple | None]:
    """The leads of one sheet, or (None, its first non-empty row) when no header is found in its first rows."""
    header, columns, out, first = None, {}, [], None
    for line, cells in rows:
        if not any(str(c).strip() for c in cells):
            continue
        if header is None:
            columns = {}
            for index, name in enumerate(cells):
                column = canonical_column(name)
                if column and column not in columns:
                    columns[column] = index
            first = first or (line, cells)
            if "trace_code" in columns or "setl_id" in columns:
                header = cells
            elif line - first[0] >= MAX_TITLE_ROWS:
                break
            continue   # a title row above the header (the list's name, the batch, the date)
        if len(out) >= MAX_LEAD_ROWS:
            raise RxringError(f"{path}, line {line}: more than {MAX_LEAD_ROWS} leads; split the list")
        out.append({"line": line, **{name: (str(cells[i]).strip() if i < len(cells) else "")
                                     for name, i in columns.items()}})
        for name in ("trace_code", "setl_id", "reason"):
            out[-1].setdefault(name, "")
    return (out if header is not None else None), first


def _lead_events(workspace, codes: list[str], setl_ids: list[str]):
    """The events of the leads' codes and settlements, read in one pass over the event parts:
    columns trace_code, settlement_id, site_id, event_time, in time order."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from ..workspace import as_workspace

    columns = ["trace_code", "settlement_id", "site_id", "event_time"]
    wanted = pc.field("trace_code").isin(pa.array(codes, pa.string())) | \
        pc.field("settlement_id").isin(pa.array(setl_ids, pa.string()))
    table = as_workspace(workspace).events_dataset().to_table(columns=columns, filter=wanted)
    return table.to_pandas().sort_values(["event_time", "trace_code"], kind="stable").reset_index(drop=True)


def _explain(workspace, code: str) -> str | None:
    """What explains a code's repeats where no rule fired (:func:`rxring.cases.triage.explain`), or None."""
    from .triage import explain

    found = explain(workspace, code)
    return found.bilingual() if found.explanations else None


def _findings_index(workspace):
    """{code: [(finding_id, rule)]} and {finding_id: ring_id} of the current results (empty when not analysed)."""
    from ..results import load_findings, load_rings

    by_code, ring_of = {}, {}
    try:
        findings, rings = load_findings(workspace), load_rings(workspace)
    except RxringError:
        return by_code, ring_of
    for finding_id, rule, codes in zip(findings["finding_id"], findings["rule"], findings["trace_codes"]):
        for code in codes:
            by_code.setdefault(code, []).append((finding_id, rule))
    for ring_id, finding_ids in zip(rings["ring_id"], rings["finding_ids"]):
        for finding_id in finding_ids:
            ring_of.setdefault(finding_id, ring_id)
    return by_code, ring_of


def import_leads(workspace, path, actor: Actor, progress: bool = False) -> ImportResult:
    """Import the lead list at *path*: match every row, open or join cases, record the batch.

    Returns the :class:`ImportResult` (row accounting and the problems by line).  An
    investigator or above may import.  *progress*: a progress bar on stderr (the triage of
    codes no rule fired on reads each one's chain of custody).
    """
    from tqdm import tqdm

    from ..results import canonical_code

    if not actor.may("investigator"):
        raise RxringError(f"{actor.name} ({actor.role}) may not import leads: needs investigator or above")
    path = Path(path)
    rows = read_leads(path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    by_code, ring_of = _findings_index(workspace)
    seen: dict[tuple, int] = {}
    prepared = []
    for row in rows:
        if _NUMBER in (row["trace_code"], row["setl_id"]):
            prepared.append((row, None, None, "表格中追溯码或结算ID存为数字，已丢失位数；请将该列设为文本后重新导出 · "
                                              "the code or settlement id is stored as a number in the spreadsheet "
                                              "and has lost digits; format that column as text (文本) and "
                                              "export the list again"))
            continue
        if row["trace_code"]:
            kind, key = "trace_code", canonical_code(row["trace_code"])
        elif row["setl_id"]:
            kind, key = "setl_id", row["setl_id"]
        else:
            prepared.append((row, None, None, "此行既无追溯码也无结算ID · no code and no settlement id on this row"))
            continue
        if (kind, key) in seen:
            prepared.append((row, kind, key, f"与第 {seen[(kind, key)]} 行重复 · repeats line {seen[(kind, key)]}"))
            continue
        seen[(kind, key)] = row["line"]
        prepared.append((row, kind, key, None))
    result = ImportResult(0, path.name, read=len(rows))
    lead_events = _lead_events(workspace,
                               [key for _, kind, key, p in prepared if p is None and kind == "trace_code"],
                               [key for _, kind, key, p in prepared if p is None and kind == "setl_id"])
    events_of = {"trace_code": dict(iter(lead_events.groupby("trace_code", sort=False))),
                 "setl_id": dict(iter(lead_events.groupby("settlement_id", sort=False)))}
    empty = lead_events.iloc[0:0]
    leads = []
    for row, kind, key, problem in tqdm(prepared, desc="leads 线索", unit="row", disable=not progress,
                                        file=sys.stderr):
        if problem is not None:
            result.rejected += 1
            result.problems.append((row["line"], problem))
            continue
        events = events_of[kind].get(key, empty)
        if events.empty:
            result.unmatched += 1
            named = "追溯码" if kind == "trace_code" else "结算ID"
            result.problems.append((row["line"], f"{key}：工作区中没有此{named}的记录（未匹配）· {key}: not in the "
                                                 "workspace's events"))
            leads.append({"row": row, "kind": kind, "key": key, "matched": False})
            continue
        result.matched += 1
        codes = [key] if kind == "trace_code" else sorted(set(events["trace_code"].dropna()))
        fired = sorted({(fid, rule) for code in codes for fid, rule in by_code.get(code, [])})
        rings = sorted({ring_of[fid] for fid, _ in fired if fid in ring_of})
        explanation = None
        if not fired and (kind == "setl_id" or len(events) > 1):   # one event alone repeats nothing
            explanation = "; ".join(filter(None, (_explain(workspace, code) for code in codes[:20]))) or None
        leads.append({"row": row, "kind": kind, "key": key, "matched": True, "codes": codes,
                      "finding_ids": [fid for fid, _ in fired], "rules": sorted({r for _, r in fired}),
                      "ring_id": rings[0] if rings else None, "site": str(events["site_id"].iloc[-1]),
                      "explanation": explanation})
    _store(workspace, path, sha, actor, leads, result)
    audit.append(workspace, "leads_import", actor.name,
                 {"file": path.name, "sha256": sha, "batch": result.batch_id, "read": result.read,
                  "matched": result.matched, "unmatched": result.unmatched, "rejected": result.rejected})
    return result


def _store(workspace, path: Path, sha: str, actor: Actor, leads: list[dict], result: ImportResult) -> None:
    """Write the batch, its leads and their cases in one transaction."""
    con = connect(workspace)
    try:
        con.execute("BEGIN IMMEDIATE")
        try:
            at = utc_now()
            result.batch_id = con.execute(
                "INSERT INTO lead_batches (source_file, sha256, imported_at, imported_by, rows_read, rows_matched, "
                "rows_unmatched, rows_rejected) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (path.name, sha, at, actor.name, result.read, result.matched, result.unmatched, result.rejected)
            ).lastrowid
            case_of: dict[tuple, int] = {}
            for lead in leads:
                case_id = None
                if lead["matched"]:
                    group = ("ring", lead["ring_id"]) if lead["ring_id"] else ("site", lead["site"])
                    case_id = None if lead["ring_id"] else _case_of_key(con, lead["kind"], lead["key"])
                    if case_id is not None:
                        if case_id not in result.cases_joined + result.cases_opened:
                            result.cases_joined.append(case_id)
                    else:
                        case_id = case_of.get(group) or _case_for(con, workspace, actor, group, result)
                        case_of[group] = case_id
                    con.executemany("INSERT OR IGNORE INTO case_findings (case_id, finding_id) VALUES (?, ?)",
                                    [(case_id, fid) for fid in lead["finding_ids"]])
                con.execute(
                    "INSERT INTO leads (batch_id, case_id, source_line, key_kind, key_value, reason, matched, "
                    "ring_id, rules, explanation) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (result.batch_id, case_id, lead["row"]["line"], lead["kind"], lead["key"],
                     lead["row"]["reason"][:1000] or None, int(lead["matched"]), lead.get("ring_id"),
                     ",".join(lead.get("rules", [])) or None, lead.get("explanation")))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.close()


def _case_of_key(con, kind: str, key: str) -> int | None:
    """The open case an earlier list's lead on the same code (or settlement) joined, if any."""
    row = con.execute("SELECT l.case_id FROM leads l JOIN cases c ON c.id = l.case_id WHERE l.key_kind = ? "
                      "AND l.key_value = ? AND c.state != 'closed' ORDER BY l.id LIMIT 1", (kind, key)).fetchone()
    return None if row is None else row[0]


def _case_for(con, workspace, actor: Actor, group: tuple, result: ImportResult) -> int:
    """The open case of a ring (joined), or a new case for the ring or the site."""
    kind, key = group
    if kind == "ring":
        row = con.execute("SELECT id FROM cases WHERE ring_id = ? AND state != 'closed' ORDER BY id LIMIT 1",
                          (key,)).fetchone()
        if row is not None:
            result.cases_joined.append(row[0])
            return row[0]
        title = f"线索 · 团伙 {key} · leads, ring {key}"
    else:
        title = f"线索 · 机构 {key} · leads at site {key} (batch {result.batch_id})"
    case = open_case(workspace, actor, "ring" if kind == "ring" else "leads", title,
                     ring_id=key if kind == "ring" else None, reason=f"lead list {result.source_file}", con=con)
    result.cases_opened.append(case["id"])
    return case["id"]


def list_batches(workspace) -> list[dict]:
    """Every imported lead list, newest first, with its row accounting."""
    con = connect(workspace)
    try:
        return [dict(r) for r in con.execute("SELECT * FROM lead_batches ORDER BY id DESC")]
    finally:
        con.close()


def list_leads(workspace, *, batch_id: int | None = None, case_id: int | None = None,
               limit: int = 1000) -> list[dict]:
    """Imported leads (file order), of one batch or one case."""
    where, params = [], []
    if batch_id is not None:
        where.append("batch_id = ?")
        params.append(int(batch_id))
    if case_id is not None:
        where.append("case_id = ?")
        params.append(int(case_id))
    sql = ("SELECT * FROM leads" + (" WHERE " + " AND ".join(where) if where else "")
           + " ORDER BY batch_id DESC, source_line LIMIT ?")
    con = connect(workspace)
    try:
        return [dict(r) for r in con.execute(sql, [*params, int(limit)])]
    finally:
        con.close()
