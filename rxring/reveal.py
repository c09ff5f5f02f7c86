"""The one gate of unmasking, and the record of every reveal of personal data.

Personal data is masked in every output.  A library call that can show it
unmasked (the listings of :mod:`rxring.results`, :func:`rxring.report.build_report`,
:func:`~rxring.report.write_viz`, :func:`~rxring.report.build_evidence`) takes
``reveal_pii`` and passes it to :func:`permit_reveal` (or :func:`reveal_frame`),
the only place that grants a reveal: it first appends one record to the
workspace's ``reveals.jsonl`` and only then answers True.  So the CLI and Python
callers record alike, exactly once per call (a CLI command runs inside
:func:`reveal_session`, which names the command and ``--operator`` and records one
line per command even when it makes several calls).

A record (one JSON object per line)::

    {"time": "2026-03-01T09:00:00Z", "user": "wang", "os_user": "wang", "operator": null,
     "command": "rxring patient", "command_line": "rxring patient PSN********90 -w ws --reveal-pii",
     "what": {"patient_id": {"masked": "PSN********90", "hmac_sha256": "5f1c…"}},
     "workspace": "/data/ws", "rxring": "0.9.0"}

A reveal that states why (the workbench asks for a reason before unmasking a page)
adds ``"reason": "..."`` (masked like other text).

``user`` is ``--operator`` (or RXRING_OPERATOR) when given, else the OS user.  The
record never holds a personal value itself: under a personal key (``patient_id``,
``params.patient``…) it keeps the masked form and an HMAC-SHA256 keyed with the
workspace's own secret ``reveals.key`` (created with the first record, readable by
the owner only), so an auditor holding the workspace can tell whether a known id
was revealed (:func:`person_digest`, ``read_reveals(ws, person=ID)``) while the log
alone, copied elsewhere, cannot be searched by guessing ids.  Other text
(the command line too) is masked like every output (known values, ID and mobile
numbers).

Where: the workspace's ``reveals.jsonl`` — given as an argument, or else the one in
RXRING_WORKSPACE.  Only a command that knows no workspace at all (``box``,
``site``, ``patient`` with ``--backend neo4j`` or ``neo4j run``, without ``-w``)
records in the user's own ``reveals.jsonl`` (RXRING_REVEAL_LOG, else
``$XDG_STATE_HOME/rxring/reveals.jsonl``, default ``~/.local/state/rxring/``) and
says so on stderr.  Appends are serialised with an exclusive lock (``flock``), so
concurrent commands never interleave their lines; a record that cannot be written
refuses the reveal.

Examples
--------
>>> permit_reveal(True, "ws", {"ring_id": "R001"})  # doctest: +SKIP
True
>>> read_reveals("ws")[-1]["what"]  # doctest: +SKIP
{'ring_id': 'R001'}
"""

from __future__ import annotations

import contextlib
import contextvars
import getpass
import hashlib
import hmac
import os
import re
import secrets
import shlex
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .errors import RxringError
from .jsonout import dumps, read_json_lines
from .pii import PEOPLE_COLUMNS, Masker, is_personal_key, mask_frame, mask_value
from .version import __version__

try:  # POSIX; elsewhere appends are not locked (one short write each)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = [
    "REVEALS_NAME", "KEY_NAME", "reveals_path", "os_user", "named_operator", "acting_user", "reveal_session", "permit_reveal", "reveal_frame",
    "record_reveal", "read_reveals", "person_digest",
]

REVEALS_NAME = "reveals.jsonl"
KEY_NAME = "reveals.key"


def _root(workspace) -> Path:
    """The folder of a workspace given as a path or a Workspace (whose ``root`` is it; a Path's is "/")."""
    if isinstance(workspace, (str, os.PathLike)):
        return Path(workspace)
    return Path(workspace.root)


def _workspace_or_env(workspace):
    """*workspace*, else the one named by RXRING_WORKSPACE, else None."""
    if workspace is not None and str(getattr(workspace, "root", workspace)):
        return workspace
    return os.environ.get("RXRING_WORKSPACE", "").strip() or None


def reveals_path(workspace=None) -> Path:
    """``<workspace>/reveals.jsonl`` (RXRING_WORKSPACE's when *workspace* is None); the user's own
    record only when no workspace is known at all (RXRING_REVEAL_LOG, else
    ``$XDG_STATE_HOME/rxring/reveals.jsonl``, default ``~/.local/state/rxring/reveals.jsonl``)."""
    workspace = _workspace_or_env(workspace)
    if workspace is not None:
        return _root(workspace) / REVEALS_NAME
    override = os.environ.get("RXRING_REVEAL_LOG", "").strip()
    if override:
        return Path(override).expanduser()
    state = os.environ.get("XDG_STATE_HOME", "").strip() or str(Path("~/.local/state").expanduser())
    return Path(state) / "rxring" / REVEALS_NAME


def os_user() -> str:
    """The OS user running this process ('' when it cannot be told)."""
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - getuser raises several types without a passwd entry
        return ""


def named_operator(operator: str | None = None) -> str | None:
    """Who acts, as named: *operator* (``--operator``), else ``$RXRING_OPERATOR``; None when neither names one."""
    return (operator or os.environ.get("RXRING_OPERATOR") or "").strip() or None


def acting_user(operator: str | None = None) -> str:
    """Who acts: :func:`named_operator`, else the OS user, else ``?``."""
    return named_operator(operator) or os_user() or "?"


# ---------------------------------------------------------------- the key and digests


def _key(path: Path) -> bytes:
    """The secret beside a record (``reveals.key``), created (owner-only) on first use.

    Created under a temporary name and linked into place, so concurrent first
    reveals agree on one key.
    """
    key_path = path.with_name(KEY_NAME)
    try:
        return bytes.fromhex(key_path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        pass
    except ValueError as exc:
        raise RxringError(f"{key_path}: not a reveal key; restore it from a backup") from exc
    key_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = key_path.with_name(f".{KEY_NAME}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, secrets.token_hex(32).encode("ascii") + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, key_path)
    except FileExistsError:
        pass  # another process made it first: use that one
    finally:
        tmp.unlink(missing_ok=True)
    return bytes.fromhex(key_path.read_text(encoding="ascii").strip())


def _digest(key: bytes, value) -> str:
    return hmac.new(key, str(value).strip().encode("utf-8"), hashlib.sha256).hexdigest()


def person_digest(workspace, value) -> str:
    """The HMAC-SHA256 under which the reveal records of *workspace* name the personal *value*
    (e.g. a patient id), to search them for it; see :func:`read_reveals` ``person``."""
    return _digest(_key(reveals_path(workspace)), value)


def _protect(what, key: bytes, personal: bool, found: set):
    """*what* with every value under a personal key as ``{"masked", "hmac_sha256"}``, other text masked."""
    if isinstance(what, dict):
        return {str(k): _protect(v, key, personal or is_personal_key(k), found) for k, v in what.items()}
    if isinstance(what, (list, tuple, set, frozenset)):
        return [_protect(v, key, personal, found) for v in what]
    if personal and what is not None and str(what).strip():
        found.add(str(what).strip())
        return {"masked": mask_value(str(what).strip()), "hmac_sha256": _digest(key, what)}
    return Masker().text(what) if isinstance(what, str) else what


# ---------------------------------------------------------------- sessions and the gate


@dataclass
class _Session:
    command: str
    operator: str | None
    argv: list | None
    reason: str | None = None
    recorded: set = field(default_factory=set)


_SESSION: contextvars.ContextVar[_Session | None] = contextvars.ContextVar("rxring_reveal_session", default=None)


@contextlib.contextmanager
def reveal_session(command: str, operator: str | None = None, argv=None, reason: str | None = None):
    """Reveals inside are recorded as *command* (e.g. ``"rxring ring"``) by *operator*, once per record file.

    The CLI runs every command with ``--reveal-pii`` inside one; *argv* is the
    command line (default ``rxring`` + this process' arguments); *reason*, when
    given, is recorded with the reveal (the workbench's reveal form asks for it).
    """
    token = _SESSION.set(_Session(command, (operator or "").strip() or None, argv, (reason or "").strip() or None))
    try:
        yield
    finally:
        _SESSION.reset(token)


def permit_reveal(reveal_pii: bool, workspace, what, operator: str | None = None, api: str | None = None) -> bool:
    """The one gate of unmasking: True (show personal data) only once the reveal is recorded.

    Parameters
    ----------
    reveal_pii : bool
        What the caller asked for; False returns False and records nothing.
    workspace : path or Workspace or None
        Whose ``reveals.jsonl`` gets the record (:func:`reveals_path`).
    what : dict
        What is shown (the ring, trace code, patient, output file…); personal values
        in it are stored masked and keyed-hashed, never in clear.
    operator : str, optional
        Who asks (default RXRING_OPERATOR, else the OS user; inside a
        :func:`reveal_session`, its operator).
    api : str, optional
        The library call, recorded as the command outside a session
        (e.g. ``"rxring.results.box_report"``).

    Raises
    ------
    RxringError
        The record cannot be written (then nothing may be revealed).
    """
    if not reveal_pii:
        return False
    session = _SESSION.get()
    if session is None:  # a Python caller: the call is the command
        record_reveal(workspace, f"{api or 'rxring'} (Python)", what, operator=operator,
                      argv=list(sys.argv), program="python")
        return True
    path = reveals_path(workspace)
    if path not in session.recorded:
        record_reveal(workspace, session.command, what, operator=operator or session.operator, argv=session.argv,
                      reason=session.reason)
        session.recorded.add(path)
    return True


def reveal_frame(frame, reveal_pii: bool, workspace, what, operator: str | None = None, api: str | None = None,
                 columns=PEOPLE_COLUMNS):
    """*frame* with the personal ids in *columns* masked, or as it is once :func:`permit_reveal` allowed it."""
    return mask_frame(frame, permit_reveal(reveal_pii, workspace, what, operator=operator, api=api), columns)


# ---------------------------------------------------------------- the record


_USERINFO = re.compile(r"(//)[^/@\s]+@")


def _command_line(argv, program: str) -> str:
    """The command as typed, with any password in a URI (bolt://user:pw@host) replaced by ``***``."""
    if argv is None:
        argv = ["rxring", *sys.argv[1:]]
    elif program == "rxring":
        argv = ["rxring", *argv]
    return _USERINFO.sub(r"\1***@", shlex.join(str(a) for a in argv))


def record_reveal(workspace, command: str, what, operator: str | None = None, argv=None,
                  program: str = "rxring", reason: str | None = None) -> dict:
    """Append one reveal to the workspace's ``reveals.jsonl`` and return the record written.

    Use :func:`permit_reveal` to reveal; this is its writer.

    Parameters
    ----------
    workspace : path or Workspace or None
        Where the record goes (:func:`reveals_path`; created when missing).
    command : str
        The command, e.g. ``"rxring ring"``.
    what : dict or str
        What was revealed; personal values are stored masked with their keyed hash.
    operator : str, optional
        Who asked (``--operator``, default RXRING_OPERATOR, else the OS user).
    argv : list of str, optional
        The arguments after ``rxring`` (default: this process' ``sys.argv[1:]``);
        with ``program="python"`` the whole command line of the Python process.
    reason : str, optional
        Why the data is revealed, recorded as ``reason`` (masked like other text).

    Raises
    ------
    RxringError
        The record cannot be written (then nothing may be revealed).
    """
    workspace = _workspace_or_env(workspace)
    path = reveals_path(workspace)
    user = os_user()
    operator = named_operator(operator)
    try:
        key = _key(path)
        personal: set = set()
        protected = _protect(what, key, False, personal)
        record = {
            "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "user": operator or user,
            "os_user": user,
            "operator": operator,
            "command": command,
            "command_line": Masker(known=personal).text(_command_line(argv, program)),
            "what": protected,
            "workspace": None if workspace is None else str(_root(workspace)),
            "rxring": __version__,
        }
        if reason and str(reason).strip():
            record["reason"] = Masker(known=personal).text(str(reason).strip())
        line = (dumps(record, indent=None) + "\n").encode("utf-8")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)  # closing releases the lock
    except OSError as exc:
        raise RxringError(
            f"{path}: cannot record the --reveal-pii ({exc.strerror or exc}); personal data not shown"
        ) from exc
    if workspace is not None:  # the workspace's audit log has every reveal too (rxring.audit)
        from . import audit

        audit.append(_root(workspace), "reveal", record["user"],
                     {"command": command, "what": protected, "reason": record.get("reason")})
    if workspace is None:
        print(f"rxring: warning: no workspace given (-w or RXRING_WORKSPACE): this reveal is recorded in {path}",
              file=sys.stderr, flush=True)
    return record


def read_reveals(workspace=None, person=None) -> list[dict]:
    """Every reveal recorded in the workspace, oldest first (unreadable lines skipped).

    With *person* (a patient or prescriber id, a name), only the records whose
    ``what`` names that value (matched by its keyed hash, :func:`person_digest`).
    """
    path = reveals_path(workspace)
    if not path.exists():
        return []
    wanted = None if person is None else person_digest(workspace, person)
    return [item for text, item in read_json_lines(path) if wanted is None or wanted in text]
