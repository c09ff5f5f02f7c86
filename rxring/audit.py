"""The workspace's audit log: ``WS/audit.jsonl``, append-only, each line chained to the one before.

One JSON object per line, one line per event: a login, a failed login, a page shown
with personal data revealed, a case's state change, an export, an evidence package,
a CLI ``--reveal-pii`` (written by :mod:`rxring.reveal`).  Each line carries

- ``seq``: its number, 1 for the first line;
- ``prev``: the SHA-256 (hex) of the previous line's bytes (without its newline);
  64 zeros on the first line.

So an edited line breaks the next line's ``prev``; a removed line leaves a gap in
``seq``; an inserted line repeats or reorders it.  ``WS/audit.head`` holds the last
line's ``seq`` and hash, so cutting lines off the end, or editing the last line, is
told too.  :func:`verify` names the first line that breaks the chain.

An append killed after writing its line but before replacing the head leaves one
line the head does not record: :func:`verify` names it (a crash and a forged line
look alike), and the next append, finding that the log's last line is the one after
the head and chains from it, chains from that line, so the chain does not fork.  The
head lives beside the log: someone who rewrites both can cut lines off the end
unseen; against that, note :func:`head` (``rxring audit verify`` prints it) somewhere else.

Never pass a password, a session id or a token in *details*: :func:`append` refuses
keys that name one (:data:`SECRET_KEYS`), and masks personal ids in text like every output.

Examples
--------
>>> import tempfile
>>> with tempfile.TemporaryDirectory() as ws:
...     _ = append(ws, "login", "wang", {"role": "investigator"})
...     _ = append(ws, "case_state", "li", {"case": 1, "from": "new", "to": "assigned"})
...     verify(ws).ok
True
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .errors import RxringError
from .jsonout import dumps, read_json_lines
from .pii import Masker

try:  # POSIX; elsewhere appends are not locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["AUDIT_NAME", "HEAD_NAME", "EVENTS", "SECRET_KEYS", "audit_path", "append", "read", "verify",
           "Verdict", "line_hash", "head"]

AUDIT_NAME = "audit.jsonl"
HEAD_NAME = "audit.head"
GENESIS = "0" * 64

#: The events written, with what each means (Chinese first).
EVENTS = {
    "login": "登录 · signed in",
    "login_failed": "登录失败 · failed sign-in",
    "logout": "退出 · signed out",
    "reveal": "查看个人信息 · personal data revealed",
    "case_open": "立案 · case opened",
    "case_state": "案件状态变更 · case state changed",
    "case_assign": "分派 · case assigned",
    "case_attach": "上传附件 · attachment added",
    "export": "导出 · export",
    "evidence": "证据包 · evidence package",
    "leads_import": "导入线索 · lead list imported",
    "exception": "疑点排除 · finding explained (exception recorded or approved)",
    "user_change": "账户变更 · account changed",
}

#: Keys never written to the log (their values are secrets).
SECRET_KEYS = frozenset({"password", "passwd", "token", "sid", "session", "cookie", "csrf", "secret", "hash",
                         "password_hash"})


def audit_path(workspace) -> Path:
    """``WS/audit.jsonl``."""
    return Path(os.fspath(workspace)) / AUDIT_NAME


def line_hash(line: bytes) -> str:
    """SHA-256 (hex) of one line's bytes, newline excluded: what the next line's ``prev`` holds."""
    return hashlib.sha256(line.rstrip(b"\n")).hexdigest()


def _clean(details, masker: Masker):
    if isinstance(details, dict):
        out = {}
        for key, value in details.items():
            if str(key).lower() in SECRET_KEYS:
                raise ValueError(f"audit: {key!r} is a secret and is never logged")
            out[str(key)] = _clean(value, masker)
        return out
    if isinstance(details, (list, tuple)):
        return [_clean(v, masker) for v in details]
    return masker.text(details) if isinstance(details, str) else details


def head(workspace) -> tuple[int, str]:
    """The number and SHA-256 of the log's last line as ``audit.head`` records them ((0, 64 zeros) when empty)."""
    return _read_head(audit_path(workspace))


def _read_head(path: Path) -> tuple[int, str]:
    try:
        head = json.loads(path.with_name(HEAD_NAME).read_text(encoding="utf-8"))
        return int(head["seq"]), str(head["sha256"])
    except FileNotFoundError:
        return 0, GENESIS
    except (ValueError, KeyError, TypeError) as exc:
        raise RxringError(f"{path.with_name(HEAD_NAME)}: unreadable ({exc}); run `rxring audit verify`") from None


def _read_at(fd: int, size: int, offset: int) -> bytes:
    """*size* bytes of *fd* from *offset* (``os.pread`` where there is one)."""
    if hasattr(os, "pread"):
        return os.pread(fd, size, offset)
    os.lseek(fd, offset, os.SEEK_SET)  # pragma: no cover - Windows
    return os.read(fd, size)  # pragma: no cover


def _last_line(fd: int) -> bytes:
    """The last complete line of the open log *fd* (b'' when it has none), read backwards from its end."""
    size = os.fstat(fd).st_size
    end, chunk, tail = size, 8192, b""
    while end > 0:
        start = max(0, end - chunk)
        tail = _read_at(fd, end - start, start) + tail
        end = start
        body = tail[:tail.rfind(b"\n")] if b"\n" in tail else b""
        if b"\n" in body or (end == 0 and body):
            return body.rsplit(b"\n", 1)[-1]
    return b""


def _chain_end(fd: int, seq: int, prev: str) -> tuple[int, str]:
    """Where the next line chains from: the head's (*seq*, *prev*), or the log's last line when that
    line is the one after the head and chains from it (an append killed before it replaced the head)."""
    last = _last_line(fd)
    try:
        item = json.loads(last) if last else None
        if item is not None and int(item["seq"]) == seq + 1 and str(item["prev"]) == prev:
            return seq + 1, line_hash(last)
    except (ValueError, KeyError, TypeError):
        pass
    return seq, prev


def append(workspace, event: str, user: str, details: dict | None = None) -> dict:
    """Append one *event* by *user* with *details* to the workspace's audit log; return the record.

    Appends are serialised with an exclusive lock on the log, so concurrent writers
    (web workers, CLI commands) chain correctly.

    Raises
    ------
    RxringError
        The log cannot be written (the caller must then not go on as if logged).
    """
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}; known: {', '.join(EVENTS)}")
    path = audit_path(workspace)
    record = {"seq": 0, "prev": GENESIS,
              "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
              "event": event, "user": str(user or ""), "details": _clean(details or {}, Masker())}
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            seq, prev = _chain_end(fd, *_read_head(path))
            record["seq"], record["prev"] = seq + 1, prev
            line = dumps(record, indent=None).encode("utf-8")
            size = os.fstat(fd).st_size
            cut = size > 0 and _read_at(fd, 1, size - 1) != b"\n"   # a write that stopped mid-line
            os.write(fd, (b"\n" if cut else b"") + line + b"\n")
            os.fsync(fd)
            head = path.with_name(HEAD_NAME)
            tmp = head.with_name(f".{HEAD_NAME}.{os.getpid()}")
            tmp.write_text(json.dumps({"seq": seq + 1, "sha256": line_hash(line)}), encoding="utf-8")
            os.replace(tmp, head)
        finally:
            os.close(fd)  # releases the lock
    except OSError as exc:
        raise RxringError(f"{path}: cannot write the audit log ({exc.strerror or exc})") from exc
    return record


def read(workspace, event: str | None = None) -> list[dict]:
    """The audit records of a workspace, oldest first (only *event*'s when given); unreadable lines skipped."""
    return [item for _, item in read_json_lines(audit_path(workspace))
            if event is None or item.get("event") == event]


def _prev_of(line: bytes) -> str | None:
    try:
        return str(json.loads(line)["prev"])
    except (ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class Verdict:
    """What :func:`verify` found: *ok*, the lines read, and the first broken line (1-based) with why."""

    ok: bool
    lines: int
    line: int | None = None
    problem: str = ""

    def message(self, path) -> str:
        if self.ok:
            return f"{path}：审计日志完整，共 {self.lines} 行 · {self.lines} lines, chain intact"
        return f"{path}, line {self.line}：审计日志被改动 · {self.problem}"


def verify(workspace) -> Verdict:
    """Check the chain of the workspace's audit log; name the first line altered, removed or inserted.

    A log that does not exist yet is intact (no events).
    """
    path = audit_path(workspace)
    if not path.exists():
        if path.with_name(HEAD_NAME).exists():
            return Verdict(False, 0, 1, "the log is missing but its head says lines were written (log deleted)")
        return Verdict(True, 0)
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    recorded = functools.cache(lambda: _read_head(path))   # audit.head's (seq, hash), read once when needed
    prev, expected_seq = GENESIS, 1
    for number, line in enumerate(lines, start=1):
        try:
            item = json.loads(line)
            seq, chained = int(item["seq"]), str(item["prev"])
        except (ValueError, KeyError, TypeError):
            return Verdict(False, len(lines), number,
                           "not a record of this log (edited, inserted, or cut short by a failed write)")
        if seq > expected_seq:
            return Verdict(False, len(lines), number,
                           f"lines {expected_seq}..{seq - 1} are missing before it (removed)")
        if seq < expected_seq:
            # two lines claim one number: the original is the one the following line (or the head) chains from
            following = _prev_of(lines[number]) if number < len(lines) else recorded()[1]
            inserted = number - 1 if following == line_hash(line) else number
            return Verdict(False, len(lines), inserted, f"inserted (line {inserted} repeats number {seq})")
        if chained != prev:
            # the line before was altered, unless this line is not the one the next line (or the head) holds
            following = _prev_of(lines[number]) if number < len(lines) else (
                recorded()[1] if recorded()[0] == number else None)
            if number > 1 and following == line_hash(line):
                return Verdict(False, len(lines), number - 1,
                               f"its content changed after it was written (line {number} holds the hash "
                               "of the original)")
            if number > 1:
                return Verdict(False, len(lines), number,
                               f"it does not chain from line {number - 1} (edited or inserted)")
            return Verdict(False, len(lines), number, "the first line does not start the chain (edited)")
        prev, expected_seq = line_hash(line), seq + 1
    head_seq, head_hash = recorded()
    if head_seq > len(lines):
        return Verdict(False, len(lines), len(lines) + 1,
                       f"lines {len(lines) + 1}..{head_seq} are missing at the end (removed)")
    if head_seq < len(lines):
        return Verdict(False, len(lines), head_seq + 1,
                       f"written after the last event {HEAD_NAME} records: inserted, or its append was killed "
                       f"before {HEAD_NAME} was updated (then the next event takes it up)")
    if lines and head_hash != prev:
        return Verdict(False, len(lines), len(lines), "the last line's content changed after it was written")
    return Verdict(True, len(lines))
