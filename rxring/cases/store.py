"""Cases: open, assign, move through states, comment, attach, export — the calls the CLI and the web share.

A case holds one ring (``kind="ring"``), findings outside rings (``"findings"``) or leads
imported from a list (``"leads"``, :mod:`rxring.cases.leads`).  Its state moves along
:data:`TRANSITIONS` only, each move allowed from a lowest role::

    new → assigned → verifying → confirmed | explained → referred | closed
                         ↑            ↓
                         └──── appealed (申诉)

Every change writes a history row (who, when, field, from, to, why) and state changes
and assignments an audit line (:mod:`rxring.audit`).  Each case has a ``version``: a
write names the version it was based on, and a write based on an older one fails with
:class:`CaseConflict` instead of overwriting the other user's change.

Attachments are stored by content, ``WS/cases/files/<sha256[:2]>/<sha256>``, written
once and never overwritten.

Examples
--------
>>> import tempfile
>>> from rxring.cases.users import Actor
>>> boss = Actor("li", "supervisor", "cli")
>>> with tempfile.TemporaryDirectory() as ws:
...     case = open_case(ws, boss, "findings", "疑点 RESURFACE", finding_ids=["RESURFACE:8100:1"])
...     case = assign(ws, boss, case["id"], "wang", version=case["version"])
...     (case["state"], case["assignee"], case["version"], len(history(ws, case["id"])))
('assigned', 'wang', 2, 3)
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import re
import sqlite3
from datetime import date
from pathlib import Path

from .. import audit
from ..errors import RxringError
from .db import cases_dir, connect, transaction, utc_now
from .users import ROLES, Actor

__all__ = [
    "STATES", "STATE_LABELS", "TRANSITIONS", "KINDS", "KIND_LABELS", "FIELD_LABELS", "CaseConflict", "CaseNotFound",
    "Forbidden",
    "MAX_ATTACHMENT_BYTES", "open_case", "open_ring_case", "get_case", "list_cases", "history", "comments",
    "attachments", "attachment_path", "allowed_moves", "transition", "assign", "comment", "attach",
    "ledger_rows", "LEDGER_COLUMNS", "write_ledger", "ring_fates", "ring_fate_of", "case_findings", "explain_finding",
    "approve_explanation",
]

STATES = ("new", "assigned", "verifying", "confirmed", "explained", "appealed", "referred", "closed")
STATE_LABELS = {
    "new": "新建", "assigned": "已分派", "verifying": "核查中", "confirmed": "已查实", "explained": "已排除",
    "appealed": "申诉中", "referred": "已移送", "closed": "已结案",
}
KINDS = ("ring", "findings", "leads")
KIND_LABELS = {"ring": "团伙", "findings": "疑点", "leads": "线索"}
#: What a history row changed (its ``field``), in Chinese.
FIELD_LABELS = {"state": "状态", "assignee": "承办人", "due_date": "办结期限", "amount_recovered": "追回金额",
                "amount_fined": "罚款金额", "referral_no": "移送编号", "comment": "意见", "attachment": "附件",
                "exception": "疑点排除"}

#: (from, to) -> the lowest role allowed to make the move.  The one table of allowed moves.
TRANSITIONS = {
    ("new", "assigned"): "supervisor",        # by assign()
    ("assigned", "verifying"): "investigator",
    ("verifying", "confirmed"): "supervisor",
    ("verifying", "explained"): "supervisor",
    ("confirmed", "appealed"): "investigator",
    ("explained", "appealed"): "investigator",
    ("appealed", "verifying"): "investigator",
    ("appealed", "confirmed"): "supervisor",
    ("appealed", "explained"): "supervisor",
    ("confirmed", "referred"): "supervisor",
    ("confirmed", "closed"): "supervisor",
    ("explained", "closed"): "supervisor",
    ("referred", "closed"): "supervisor",
}
assert all(a in STATES and b in STATES and r in ROLES for (a, b), r in TRANSITIONS.items())

#: Attachments larger than this are refused (a scanned delivery note or invoice fits easily).
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
_MONEY_FIELDS = ("amount_recovered", "amount_fined")


class CaseConflict(RxringError):
    """The case changed since the version the write was based on (someone else saved first)."""


class CaseNotFound(RxringError):
    """No case with that number."""


class Forbidden(RxringError):
    """The actor's role does not allow this."""


def _require(actor: Actor, role: str, what: str) -> None:
    if not actor.may(role):
        raise Forbidden(f"权限不足 · {actor.name} ({actor.role}) may not {what}: needs {role} or above")


def _row(con: sqlite3.Connection, case_id: int) -> dict:
    row = con.execute("SELECT * FROM cases WHERE id = ?", (int(case_id),)).fetchone()
    if row is None:
        raise CaseNotFound(f"no case {case_id}; `rxring cases list` shows them · 无此案件")
    case = dict(row)
    case["finding_ids"] = [r[0] for r in con.execute(
        "SELECT finding_id FROM case_findings WHERE case_id = ? ORDER BY finding_id", (case["id"],))]
    return case


def _history(con, case_id: int, actor: Actor, field: str, old, new, reason: str | None, at: str) -> None:
    con.execute("INSERT INTO case_history (case_id, at, actor, field, old_value, new_value, reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (case_id, at, actor.name, field, None if old is None else str(old),
                 None if new is None else str(new), reason))


def open_case(workspace, actor: Actor, kind: str, title: str, *, ring_id: str | None = None,
              finding_ids=(), reason: str | None = None, con: sqlite3.Connection | None = None) -> dict:
    """Open a case (state ``new``) and return it; an investigator or above may.

    *con*, when given, is a connection inside the caller's transaction (lead imports open
    many cases in one).
    """
    _require(actor, "investigator", "open a case")
    if kind not in KINDS:
        raise RxringError(f"unknown case kind {kind!r}; kinds: {', '.join(KINDS)}")
    title = " ".join(str(title or "").split())[:200]
    if not title:
        raise RxringError("a case needs a title")
    own = con is None
    con = con or connect(workspace)
    try:
        at = utc_now()
        if own:
            con.execute("BEGIN IMMEDIATE")
        try:
            cur = con.execute("INSERT INTO cases (kind, title, ring_id, state, created_at, created_by, updated_at) "
                              "VALUES (?, ?, ?, 'new', ?, ?, ?)", (kind, title, ring_id, at, actor.name, at))
            case_id = cur.lastrowid
            con.executemany("INSERT OR IGNORE INTO case_findings (case_id, finding_id) VALUES (?, ?)",
                            [(case_id, str(f)) for f in finding_ids])
            _history(con, case_id, actor, "state", None, "new", reason, at)
            case = _row(con, case_id)
            if own:
                con.execute("COMMIT")
        except BaseException:
            if own:
                con.execute("ROLLBACK")
            raise
    finally:
        if own:
            con.close()
    if own:  # inside a caller's transaction the caller writes the audit line (it may still roll back)
        audit.append(workspace, "case_open", actor.name, {"case": case_id, "kind": kind, "ring": ring_id})
    return case


def open_ring_case(workspace, actor: Actor, ring_id: str, reason: str | None = None) -> dict:
    """Open a case for ring *ring_id* of the current results (its findings linked); an open case of
    the same ring is returned instead of a second one."""
    from ..results import ring_report

    ring = ring_report(workspace, ring_id).ring
    con = connect(workspace)
    try:
        row = con.execute("SELECT id FROM cases WHERE ring_id = ? AND state != 'closed' ORDER BY id LIMIT 1",
                          (ring["ring_id"],)).fetchone()
        if row is not None:
            return _row(con, row[0])
    finally:
        con.close()
    title = f"团伙 {ring['ring_id']} · ring {ring['ring_id']}"
    return open_case(workspace, actor, "ring", title, ring_id=ring["ring_id"],
                     finding_ids=list(ring["finding_ids"]), reason=reason)


def get_case(workspace, case_id: int) -> dict:
    """One case as a dict (columns of ``cases`` plus ``finding_ids``)."""
    con = connect(workspace)
    try:
        return _row(con, case_id)
    finally:
        con.close()


def list_cases(workspace, *, state: str | None = None, assignee: str | None = None, ring_id: str | None = None,
               limit: int | None = None) -> list[dict]:
    """Cases, newest first, filtered by state, assignee or ring."""
    if state and state not in STATES:
        raise RxringError(f"unknown state {state!r}; states: {', '.join(STATES)}")
    where, params = [], []
    for column, value in (("state", state), ("assignee", assignee), ("ring_id", ring_id)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    sql = "SELECT * FROM cases" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC"
    if limit:
        sql += " LIMIT ?"
        params.append(int(limit))
    con = connect(workspace)
    try:
        return [dict(r) for r in con.execute(sql, params)]
    finally:
        con.close()


def _children(workspace, case_id: int, table: str) -> list[dict]:
    con = connect(workspace)
    try:
        _row(con, case_id)
        return [dict(r) for r in con.execute(f"SELECT * FROM {table} WHERE case_id = ? ORDER BY id", (case_id,))]
    finally:
        con.close()


def history(workspace, case_id: int) -> list[dict]:
    """Every change of a case, oldest first: at, actor, field, old_value, new_value, reason."""
    return _children(workspace, case_id, "case_history")


def comments(workspace, case_id: int) -> list[dict]:
    return _children(workspace, case_id, "case_comments")


def attachments(workspace, case_id: int) -> list[dict]:
    return _children(workspace, case_id, "case_attachments")


def allowed_moves(case: dict, actor: Actor) -> list[str]:
    """The states *actor* may move *case* to now (assignment is :func:`assign`, not listed)."""
    return [to for (frm, to), role in TRANSITIONS.items()
            if frm == case["state"] and actor.may(role) and not (frm == "new" and to == "assigned")]


def _write(workspace, actor: Actor, case_id: int, version: int | None, change):
    """Run *change(con, case, at)* on the current row under the write lock, checking *version*;
    bump the version and return the updated case."""
    con = connect(workspace)
    try:
        with transaction(con):
            case = _row(con, case_id)
            if version is not None and int(version) != case["version"]:
                last = con.execute("SELECT actor, at FROM case_history WHERE case_id = ? ORDER BY id DESC LIMIT 1",
                                   (case_id,)).fetchone()
                raise CaseConflict(
                    f"案件已被他人修改，请刷新后重试：{last['actor']} 于 {last['at']} 修改了案件 {case_id}（现为版本 "
                    f"{case['version']}，您的页面为版本 {version}）· case {case_id} was changed by {last['actor']} at "
                    f"{last['at']} (now version {case['version']}, your page had {version}); reload it and try again")
            at = utc_now()
            change(con, case, at)
            con.execute("UPDATE cases SET version = version + 1, updated_at = ? WHERE id = ?", (at, case_id))
            return _row(con, case_id)
    finally:
        con.close()


def _set(con, case: dict, actor: Actor, field: str, value, reason: str | None, at: str) -> None:
    if case.get(field) == value:
        return
    con.execute(f"UPDATE cases SET {field} = ? WHERE id = ?", (value, case["id"]))
    _history(con, case["id"], actor, field, case.get(field), value, reason, at)


def _money(value, field: str):
    if value is None or value == "":
        return None
    try:
        amount = round(float(value), 2)
    except (TypeError, ValueError):
        raise RxringError(f"{field}: {value!r} is not an amount (元)") from None
    if amount < 0:
        raise RxringError(f"{field}: {value} is negative")
    return amount


def transition(workspace, actor: Actor, case_id: int, to: str, reason: str, *, version: int | None = None,
               amount_recovered=None, amount_fined=None, referral_no: str | None = None) -> dict:
    """Move a case to state *to* with *reason*; return the updated case.

    Only moves in :data:`TRANSITIONS` are allowed, each from its lowest role. Confirming may
    record the amounts recovered and fined (元); referring needs the referral number (移送编号).

    Raises
    ------
    Forbidden, CaseConflict, CaseNotFound, RxringError
    """
    if to not in STATES:
        raise RxringError(f"unknown state {to!r}; states: {', '.join(STATES)}")
    reason = " ".join(str(reason or "").split())
    if len(reason) < 2:
        raise RxringError("give the reason for the change (why) · 请填写理由")
    money = {f: _money(v, f) for f, v in zip(_MONEY_FIELDS, (amount_recovered, amount_fined))}
    referral_no = (referral_no or "").strip() or None
    moved = {}

    def change(con, case, at):
        key = (case["state"], to)
        if key not in TRANSITIONS or key == ("new", "assigned"):
            allowed = [b for (a, b) in TRANSITIONS if a == case["state"] and (a, b) != ("new", "assigned")]
            hint = "assign it first" if case["state"] == "new" else (", ".join(allowed) or "none")
            raise RxringError(f"case {case_id} is {case['state']}: it cannot move to {to} (allowed: {hint})")
        _require(actor, TRANSITIONS[key], f"move a case from {case['state']} to {to}")
        if to == "referred" and not (referral_no or case["referral_no"]):
            raise RxringError("a referral needs its number (移送编号): give --referral-no")
        _set(con, case, actor, "state", to, reason, at)
        for field, value in money.items():
            if value is not None:
                _set(con, case, actor, field, value, reason, at)
        if referral_no:
            _set(con, case, actor, "referral_no", referral_no, reason, at)
        moved["from"] = case["state"]

    case = _write(workspace, actor, case_id, version, change)
    audit.append(workspace, "case_state", actor.name,
                 {"case": case_id, "from": moved["from"], "to": to, "reason": reason})
    return case


def _due(value) -> str | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise RxringError(f"due date {value!r}: use YYYY-MM-DD") from None


def assign(workspace, actor: Actor, case_id: int, assignee: str, *, version: int | None = None,
           due_date=None, reason: str | None = None) -> dict:
    """Give a case to *assignee* (optionally with a due date); a ``new`` case becomes ``assigned``.
    A supervisor or above may."""
    _require(actor, "supervisor", "assign cases")
    assignee = (assignee or "").strip()
    if not assignee:
        raise RxringError("name whom the case is assigned to")
    due = _due(due_date)

    def change(con, case, at):
        _set(con, case, actor, "assignee", assignee, reason, at)
        if due is not None:
            _set(con, case, actor, "due_date", due, reason, at)
        if case["state"] == "new":
            _set(con, case, actor, "state", "assigned", reason, at)

    case = _write(workspace, actor, case_id, version, change)
    audit.append(workspace, "case_assign", actor.name, {"case": case_id, "assignee": assignee, "due": due})
    return case


def comment(workspace, actor: Actor, case_id: int, body: str) -> dict:
    """Add a comment (investigator or above); comments never conflict, so no version is needed."""
    _require(actor, "investigator", "comment on cases")
    body = str(body or "").strip()
    if not body:
        raise RxringError("the comment is empty")
    if len(body) > 10_000:
        raise RxringError("the comment is longer than 10000 characters")
    con = connect(workspace)
    try:
        with transaction(con):
            _row(con, case_id)
            at = utc_now()
            cur = con.execute("INSERT INTO case_comments (case_id, at, actor, body) VALUES (?, ?, ?, ?)",
                              (case_id, at, actor.name, body))
            _history(con, case_id, actor, "comment", None, f"#{cur.lastrowid}", None, at)
            return dict(con.execute("SELECT * FROM case_comments WHERE id = ?", (cur.lastrowid,)).fetchone())
    finally:
        con.close()


_SAFE_NAME = re.compile(r"[^\w.\-\u4e00-\u9fff ()（）]+")


def _file_name(name: str) -> str:
    base = Path(str(name or "").replace("\\", "/")).name
    base = _SAFE_NAME.sub("_", base).strip(" .") or "attachment"
    return base[:200]


def attachment_path(workspace, sha256: str) -> Path:
    """Where the attachment with this SHA-256 is stored."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256 or ""):
        raise RxringError(f"not a SHA-256: {sha256!r}")
    return cases_dir(workspace) / "files" / sha256[:2] / sha256


def attach(workspace, actor: Actor, case_id: int, filename: str, data: bytes) -> dict:
    """Store *data* (a scanned delivery note, an invoice…) under its SHA-256 and attach it to the case.

    The same content attached twice is stored once; a stored file is never overwritten.
    """
    _require(actor, "investigator", "attach documents")
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise RxringError(f"{filename}: {len(data)} bytes, more than the {MAX_ATTACHMENT_BYTES} allowed")
    if not data:
        raise RxringError(f"{filename}: the file is empty")
    get_case(workspace, case_id)
    sha = hashlib.sha256(data).hexdigest()
    path = attachment_path(workspace, sha)
    if path.exists():
        if hashlib.sha256(path.read_bytes()).hexdigest() != sha:
            raise RxringError(f"the stored file {path} does not match its SHA-256 (altered on disk); "
                              "it is kept as evidence and not replaced")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{sha}.{os.getpid()}.tmp")
        try:
            with open(tmp, "xb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o400)
            try:
                os.link(tmp, path)   # never replaces an existing file
            except FileExistsError:
                pass
        except OSError as exc:
            raise RxringError(f"cannot store {filename}: {exc.strerror or exc}") from None
        finally:
            tmp.unlink(missing_ok=True)
    name = _file_name(filename)
    media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    con = connect(workspace)
    try:
        with transaction(con):
            at = utc_now()
            cur = con.execute("INSERT INTO case_attachments (case_id, at, actor, filename, sha256, size, media_type) "
                              "VALUES (?, ?, ?, ?, ?, ?, ?)", (case_id, at, actor.name, name, sha, len(data), media))
            _history(con, case_id, actor, "attachment", None, f"{name} sha256:{sha}", None, at)
            row = dict(con.execute("SELECT * FROM case_attachments WHERE id = ?", (cur.lastrowid,)).fetchone())
    finally:
        con.close()
    audit.append(workspace, "case_attach", actor.name, {"case": case_id, "file": name, "sha256": sha})
    return row


#: The 台账 (ledger) columns: (field, Chinese header, English header).
LEDGER_COLUMNS = (
    ("id", "案件编号", "case"), ("kind", "类型", "kind"), ("title", "标题", "title"), ("ring_id", "团伙", "ring"),
    ("state", "状态", "state"), ("last_reason", "处理理由", "reason of the last state change"),
    ("assignee", "承办人", "assignee"), ("due_date", "办结期限", "due date"),
    ("findings", "疑点数", "findings"), ("leads", "线索数", "leads"),
    ("amount_recovered", "追回金额(元)", "recovered (CNY)"), ("amount_fined", "罚款金额(元)", "fined (CNY)"),
    ("referral_no", "移送编号", "referral no."), ("created_at", "立案时间", "opened"),
    ("created_by", "立案人", "opened by"), ("updated_at", "最后更新", "last change"),
)


def ledger_rows(workspace, **filters) -> list[dict]:
    """The cases as 台账 rows (:data:`LEDGER_COLUMNS`), filtered as :func:`list_cases`."""
    cases = list_cases(workspace, **filters)
    con = connect(workspace)
    try:
        findings = dict(con.execute("SELECT case_id, count(*) FROM case_findings GROUP BY case_id").fetchall())
        leads = dict(con.execute("SELECT case_id, count(*) FROM leads WHERE case_id IS NOT NULL "
                                 "GROUP BY case_id").fetchall())
        reasons = dict(con.execute("SELECT case_id, reason FROM case_history WHERE id IN (SELECT max(id) FROM "
                                   "case_history WHERE field = 'state' GROUP BY case_id)").fetchall())
    finally:
        con.close()
    out = []
    for case in cases:
        row = {field: case.get(field) for field, _, _ in LEDGER_COLUMNS}
        row["state"] = f"{STATE_LABELS[case['state']]} {case['state']}"
        row["kind"] = f"{KIND_LABELS[case['kind']]} {case['kind']}"
        row["last_reason"] = reasons.get(case["id"])
        row["findings"], row["leads"] = findings.get(case["id"], 0), leads.get(case["id"], 0)
        out.append(row)
    return out


def write_ledger(rows: list[dict], fmt: str) -> bytes:
    """*rows* (:func:`ledger_rows`) as an XLSX workbook or a CSV (UTF-8 with BOM, for Excel); headers
    ``中文 (English)``; no cell can start a spreadsheet formula."""
    from ..report.tables import formula_safe

    header = [f"{zh} ({en})" for _, zh, en in LEDGER_COLUMNS]
    cells = [[formula_safe(row.get(field)) for field, _, _ in LEDGER_COLUMNS] for row in rows]
    if fmt == "xlsx":
        import io

        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet("台账 ledger")
        sheet.append(header)
        for row in cells:
            sheet.append(row)
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()
    if fmt == "csv":
        import csv
        import io

        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(header)
        writer.writerows(["" if v is None else v for v in row] for row in cells)
        return ("\ufeff" + text.getvalue()).encode("utf-8")
    raise RxringError(f"unknown ledger format {fmt!r}: csv or xlsx")


# ---------------------------------------------------------------- the case's ring and findings in the current results


def ring_fates(workspace, cases_: list[dict]) -> dict[int, dict]:
    """Case id -> what became of its ring in the current results (:func:`rxring.cases.identity.ring_fate`),
    for the cases whose ring is no longer there under its id: ``{"kind", "ring_ids"}`` (split, merged,
    vanished, gone, unknown) — such a case must be looked at, never silently detached."""
    with_ring = [c for c in cases_ if c.get("ring_id")]
    if not with_ring:
        return {}
    from ..results import load_rings
    from .identity import load_lineage, ring_fate

    try:
        current = list(load_rings(workspace)["ring_id"])
    except RxringError:
        current = []
    lineage = load_lineage(workspace)
    fates = {c["id"]: ring_fate(lineage, c["ring_id"], current) for c in with_ring}
    return {case_id: fate for case_id, fate in fates.items() if fate["kind"] not in ("kept", "returned")}


def ring_fate_of(workspace, case: dict) -> dict | None:
    """What became of one case's ring (:func:`ring_fates`), or None when it is there under its id."""
    return ring_fates(workspace, [case]).get(case["id"])


def case_findings(workspace, case: dict) -> list[dict]:
    """The case's findings in the current results: finding_id, rule, fund_amount, status (open / explained
    / gone: not in the current results), new, and the exceptions recorded on each (newest first)."""
    from ..results import load_findings
    from .exceptions import list_exceptions
    from .identity import load_finding_status

    wanted = list(case.get("finding_ids") or [])
    try:
        findings = load_findings(workspace)
        status = load_finding_status(workspace).set_index("finding_id")
    except RxringError:
        return [{"finding_id": f, "rule": f.split(":", 1)[0], "fund_amount": None, "status": "gone", "new": None,
                 "exceptions": []} for f in wanted]
    found = findings[findings["finding_id"].isin(wanted)].set_index("finding_id")
    exceptions = list_exceptions(workspace)
    recorded: dict[str, list[dict]] = {}  # each finding's exceptions, newest first
    for record in exceptions[exceptions["finding_id"].isin(wanted)].iloc[::-1].to_dict("records"):
        recorded.setdefault(record["finding_id"], []).append(record)
    # one pass over each table: a look-up per finding (.loc, .to_dict) cost a case of 200 findings half a second
    status = status[status.index.isin(wanted)]
    statuses = dict(zip(status.index, status.to_dict("records")))
    out = []
    for finding_id in wanted:
        present = finding_id in found.index
        row = statuses.get(finding_id)
        out.append({
            "finding_id": finding_id,
            "rule": found.at[finding_id, "rule"] if present else finding_id.split(":", 1)[0],
            "fund_amount": float(found.at[finding_id, "fund_amount"]) if present else None,
            "status": (str(row["status"]) if row is not None else "open") if present else "gone",
            "new": None if row is None or row.get("new") is None else bool(row["new"]),
            "exceptions": recorded.get(finding_id, []),
        })
    return out


def _note(workspace, actor: Actor, case_id: int, field: str, value: str, reason: str | None) -> None:
    """A history row for a change that lives outside the case's own row (an exception on one of its findings)."""
    con = connect(workspace)
    try:
        with transaction(con):
            _row(con, case_id)
            _history(con, case_id, actor, field, None, value, reason, utc_now())
    finally:
        con.close()


def explain_finding(workspace, actor: Actor, case_id: int, finding_id: str, reason_kind: str, reason: str,
                    until=None):
    """Record that a finding of the case is explained (an exception, :func:`rxring.cases.exceptions.record_exception`);
    an investigator or above may; it takes effect once a supervisor approves it."""
    from .exceptions import record_exception

    _require(actor, "investigator", "explain findings")
    case = get_case(workspace, case_id)
    if finding_id not in case["finding_ids"]:
        raise RxringError(f"finding {finding_id} is not in case {case_id}")
    exception = record_exception(workspace, finding_id, reason_kind, reason, actor.name, until=until,
                                 context={"case": case_id})   # the audit line is written there
    _note(workspace, actor, case_id, "exception", f"#{exception.id} {finding_id} {reason_kind}", reason)
    return exception


def approve_explanation(workspace, actor: Actor, case_id: int, exception_id: int):
    """Approve an exception recorded on a finding of the case (a supervisor, not who recorded it)."""
    from .exceptions import approve_exception

    _require(actor, "supervisor", "approve exceptions")
    case = get_case(workspace, case_id)
    known = {e["id"]: e for f in case_findings(workspace, case) for e in f["exceptions"]}
    if int(exception_id) not in known:
        raise RxringError(f"exception {exception_id} is not on a finding of case {case_id}")
    exception = approve_exception(workspace, int(exception_id), actor.name, context={"case": case_id})
    _note(workspace, actor, case_id, "exception", f"#{exception.id} approved", None)
    return exception
