"""Explained findings: exceptions recorded in the cases database and honoured by the next analysis.

An investigator who finds that a finding has an innocent explanation (a data-entry
error, a retransmission, a legitimate transfer, a refund that was not reported)
records an **exception**: the finding id, who, why (a kind from :data:`REASONS` and
the words), until when, and — before it takes effect — who approved it (a
supervisor: someone other than who recorded it).  The next analysis
(:func:`rxring.analysis.analyze`) honours every exception that is approved, not
revoked and not expired on that day (:func:`active_exceptions`): the finding is
still listed, with ``status`` ``explained`` (``finding_status.parquet``,
:mod:`rxring.cases.identity`), but it does not count in ring scores, members or
fund at risk, and the reports say how many findings were set aside and why
(:func:`set_aside_line`).

Exceptions live in the table ``finding_exceptions`` of ``WS/cases/cases.sqlite``
(:mod:`rxring.cases.db`, migration 4).  Nothing is deleted: a revoked exception
keeps its row with who revoked it, when and why.  Roles are the caller's to check
(the web app lets supervisors approve); this module records the names it is given.

Examples
--------
>>> reason_text("retransmission", "zh")
'重复上传'
>>> set_aside_line({"retransmission": 2, "data_entry": 1}, "en")
'3 findings set aside as explained (data-entry error 1, retransmission 2)'
>>> set_aside_line({}, "zh")
''
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from .. import audit
from ..errors import RxringError
from ..workspace import as_workspace
from .db import connect, database_path, transaction, utc_now

__all__ = ["REASONS", "FindingException", "record_exception", "approve_exception", "revoke_exception",
           "list_exceptions", "active_exceptions", "reason_text", "set_aside_counts", "set_aside_line", "set_aside_note"]

#: Why a finding can be explained: kind -> (zh, en).  The one place these names are written.
REASONS: dict[str, tuple[str, str]] = {
    "data_entry": ("录入错误", "data-entry error"),
    "retransmission": ("重复上传", "retransmission"),
    "transfer": ("合规调拨", "legitimate transfer"),
    "refund_unreported": ("退货未上报", "refund not reported"),
    "split_sale": ("拆零销售", "split sales within the pack"),
    "other": ("其他", "other"),
}

_COLUMNS = ("id", "finding_id", "reason_kind", "reason", "recorded_by", "recorded_at", "until", "approved_by",
            "approved_at", "revoked_by", "revoked_at", "revoke_reason")


@dataclass(frozen=True)
class FindingException:
    """One recorded exception (a row of ``finding_exceptions``).

    ``until`` is an ISO date (inclusive) or None (no end); ``approved_by`` None
    until approved; ``revoked_by`` set when revoked.
    """

    id: int
    finding_id: str
    reason_kind: str
    reason: str
    recorded_by: str
    recorded_at: str
    until: str | None = None
    approved_by: str | None = None
    approved_at: str | None = None
    revoked_by: str | None = None
    revoked_at: str | None = None
    revoke_reason: str | None = None

    def active_on(self, day: dt.date) -> bool:
        """Approved, not revoked, and not expired on *day*."""
        return (self.approved_by is not None and self.revoked_by is None
                and (self.until is None or dt.date.fromisoformat(self.until) >= day))


def _name(value, what: str, limit: int = 200) -> str:
    text = " ".join(str(value or "").split())
    if not text:
        raise RxringError(f"an exception needs {what}")
    if len(text) > limit:
        raise RxringError(f"{what} is longer than {limit} characters")
    return text


def _until(value) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.isoformat()
    try:
        return dt.date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise RxringError(f"until {value!r} is not a date (YYYY-MM-DD)") from None


def _known_finding(workspace, finding_id: str) -> None:
    ws = as_workspace(workspace)
    if not ws.findings_path.is_file():
        raise RxringError(f"workspace {ws.root} has no findings yet; run `rxring analyze --workspace {ws.root}` first")
    ids = pd.read_parquet(ws.findings_path, columns=["finding_id"])["finding_id"]
    if finding_id not in set(ids.astype(str)):
        raise RxringError(f"finding {finding_id} is not among the findings of workspace {ws.root} "
                          f"(see `rxring findings -w {ws.root}`)")


def _row(row) -> FindingException:
    return FindingException(**{c: row[c] for c in _COLUMNS})


def _get(con, exception_id: int) -> FindingException:
    row = con.execute(f"SELECT {', '.join(_COLUMNS)} FROM finding_exceptions WHERE id = ?", (int(exception_id),)).fetchone()
    if row is None:
        raise RxringError(f"no exception {exception_id}")
    return _row(row)


def record_exception(workspace, finding_id: str, reason_kind: str, reason: str, recorded_by: str, *,
                     until=None, approved_by: str | None = None, context: dict | None = None) -> FindingException:
    """Record why *finding_id* is explained; it takes effect once approved (here or by :func:`approve_exception`).

    Parameters
    ----------
    workspace
        An analysed workspace; *finding_id* must be one of its published findings.
    reason_kind
        A key of :data:`REASONS`.
    reason
        The explanation in words (what the documents showed).
    recorded_by
        Who records it.
    until : date or ``YYYY-MM-DD``, optional
        The last day it holds (inclusive); None: until revoked.
    approved_by : str, optional
        The supervisor approving it at once; must not be *recorded_by*.
    context : dict, optional
        Added to the audit line (e.g. the case it was recorded from).  Every record,
        approval and revocation is a line of the workspace's audit log
        (:func:`rxring.audit.append`, event ``exception``), from the CLI and the web alike.

    Raises
    ------
    RxringError
        An unknown finding or reason kind, a missing name or reason, a bad date, or
        an approver who is the recorder.
    """
    if reason_kind not in REASONS:
        raise RxringError(f"unknown reason kind {reason_kind!r}; one of {', '.join(REASONS)}")
    finding_id = _name(finding_id, "a finding id")
    reason = _name(reason, "a reason", limit=4000)
    recorded_by = _name(recorded_by, "who records it")
    until = _until(until)
    _known_finding(workspace, finding_id)
    if approved_by is not None:
        approved_by = _name(approved_by, "who approves it")
        if approved_by == recorded_by:
            raise RxringError("an exception is approved by someone other than who recorded it")
    now = utc_now()
    con = connect(workspace)
    try:
        with transaction(con):
            cursor = con.execute(
                "INSERT INTO finding_exceptions (finding_id, reason_kind, reason, recorded_by, recorded_at, until, "
                "approved_by, approved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (finding_id, reason_kind, reason, recorded_by, now, until, approved_by,
                 now if approved_by is not None else None))
            exception = _get(con, cursor.lastrowid)
    finally:
        con.close()
    _audit(workspace, exception, recorded_by, "recorded" if approved_by is None else "recorded and approved", context)
    return exception


def _audit(workspace, exception: FindingException, user: str, change: str, context: dict | None) -> None:
    audit.append(workspace, "exception", user,
                 {**(context or {}), "exception": exception.id, "finding": exception.finding_id,
                  "kind": exception.reason_kind, "change": change})


def _change(workspace, exception_id: int, check, values: dict) -> FindingException:
    """Set *values* (column -> value) on one exception in one transaction, after ``check(exception)``
    (which raises :class:`RxringError` when the change is not allowed); return it as changed."""
    con = connect(workspace)
    try:
        with transaction(con):
            check(_get(con, exception_id))
            assignments = ", ".join(f"{column} = ?" for column in values)   # column names are ours
            con.execute(f"UPDATE finding_exceptions SET {assignments} WHERE id = ?",
                        (*values.values(), int(exception_id)))
            return _get(con, exception_id)
    finally:
        con.close()


def approve_exception(workspace, exception_id: int, approved_by: str, context: dict | None = None) -> FindingException:
    """Approve a recorded exception (by someone other than who recorded it); the next analysis honours it."""
    approved_by = _name(approved_by, "who approves it")

    def check(exception: FindingException) -> None:
        if exception.revoked_by is not None:
            raise RxringError(f"exception {exception_id} was revoked by {exception.revoked_by}")
        if exception.approved_by is not None:
            raise RxringError(f"exception {exception_id} was already approved by {exception.approved_by}")
        if approved_by == exception.recorded_by:
            raise RxringError("an exception is approved by someone other than who recorded it")

    exception = _change(workspace, exception_id, check, {"approved_by": approved_by, "approved_at": utc_now()})
    _audit(workspace, exception, approved_by, "approved", context)
    return exception


def revoke_exception(workspace, exception_id: int, revoked_by: str, reason: str,
                     context: dict | None = None) -> FindingException:
    """Revoke an exception (the row stays); the next analysis counts the finding again."""
    revoked_by, reason = _name(revoked_by, "who revokes it"), _name(reason, "a reason for revoking it", limit=4000)

    def check(exception: FindingException) -> None:
        if exception.revoked_by is not None:
            raise RxringError(f"exception {exception_id} was already revoked by {exception.revoked_by}")

    exception = _change(workspace, exception_id, check,
                        {"revoked_by": revoked_by, "revoked_at": utc_now(), "revoke_reason": reason})
    _audit(workspace, exception, revoked_by, "revoked", context)
    return exception


def _all(workspace) -> list[FindingException]:
    """Every exception of *workspace*, oldest first; [] without a cases database (none is created)."""
    ws = as_workspace(workspace)
    if not database_path(ws.root).is_file():
        return []
    con = connect(ws.root)
    try:
        rows = con.execute(f"SELECT {', '.join(_COLUMNS)} FROM finding_exceptions ORDER BY id").fetchall()
    finally:
        con.close()
    return [_row(r) for r in rows]


def list_exceptions(workspace) -> pd.DataFrame:
    """Every exception (revoked and expired ones too) as a table, oldest first."""
    rows = [e.__dict__ for e in _all(workspace)]
    return pd.DataFrame(rows, columns=list(_COLUMNS))


def active_exceptions(workspace, day: dt.date | None = None) -> dict[str, FindingException]:
    """Finding id -> the exception that explains it on *day* (default today, UTC): approved, not
    revoked, not expired; the latest one when a finding has several."""
    day = day or dt.datetime.now(dt.timezone.utc).date()
    return {e.finding_id: e for e in _all(workspace) if e.active_on(day)}


def reason_text(kind: str, lang: str = "en") -> str:
    """The name of a reason kind in ``zh`` or ``en`` (the kind itself when unknown)."""
    names = REASONS.get(kind)
    return kind if names is None else names[0 if lang == "zh" else 1]


def set_aside_counts(status: pd.DataFrame) -> dict[str, int]:
    """Explained findings per reason kind, from a finding-status table (:mod:`rxring.cases.identity`)."""
    if status is None or len(status) == 0:
        return {}
    explained = status[status["status"] == "explained"]
    return {str(k): int(n) for k, n in explained["reason_kind"].value_counts().sort_index().items()}


def set_aside_line(counts: dict, lang: str = "en") -> str:
    """The reports' line on findings set aside (``已排除 N 条 …`` / ``N set aside …``); '' when none."""
    total = sum(int(n) for n in counts.values())
    if not total:
        return ""
    order = sorted(counts, key=lambda k: reason_text(k, "en"))
    if lang == "zh":
        parts = "、".join(f"{reason_text(k, 'zh')} {counts[k]}" for k in order)
        return f"已排除 {total} 条经核实有合理解释的线索（{parts}）"
    parts = ", ".join(f"{reason_text(k, 'en')} {counts[k]}" for k in order)
    noun = "finding" if total == 1 else "findings"
    return f"{total} {noun} set aside as explained ({parts})"


def set_aside_note(analysis: dict, lang: str = "en") -> str:
    """:func:`set_aside_line` of an analysis record (``analysis.json``: ``stats.findings_set_aside``)."""
    counts = ((analysis or {}).get("stats") or {}).get("findings_set_aside") or {}
    return set_aside_line(counts if isinstance(counts, dict) else {}, lang)
