"""The record of every ``--reveal-pii``: who showed personal data unmasked, when, how.

Each reveal appends one JSON object per line to ``reveals.jsonl`` in the
workspace (the one place; the audit log will grow out of it)::

    {"time": "2026-03-01T09:00:00Z", "user": "wang", "os_user": "wang", "operator": null,
     "command": "rxring ring", "command_line": "rxring ring R001 -w ws --reveal-pii",
     "what": {"ring_id": "R001"}, "rxring": "0.9.0"}

``user`` is ``--operator`` (or RXRING_OPERATOR) when given, else the OS user.
A command run on the Neo4j graph alone, without a workspace, records in the
user's own ``reveals.jsonl`` instead (:func:`reveals_path`).
Appends are serialised with an exclusive lock (``flock``) so concurrent commands
never interleave their lines.  The record is written *before* anything is shown:
a workspace where it cannot be written refuses the reveal.

Examples
--------
>>> rec = record_reveal("ws", "rxring ring", {"ring_id": "R001"})  # doctest: +SKIP
>>> read_reveals("ws")[-1]["what"]  # doctest: +SKIP
{'ring_id': 'R001'}
"""

from __future__ import annotations

import getpass
import json
import os
import re
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

from .errors import RxringError
from .version import __version__

try:  # POSIX; elsewhere appends are not locked (one short write each)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["REVEALS_NAME", "reveals_path", "os_user", "record_reveal", "read_reveals"]

REVEALS_NAME = "reveals.jsonl"


def _root(workspace) -> Path:
    """The folder of a workspace given as a path or a Workspace (whose ``root`` is it; a Path's is "/")."""
    if isinstance(workspace, (str, os.PathLike)):
        return Path(workspace)
    return Path(workspace.root)


def reveals_path(workspace=None) -> Path:
    """``<workspace>/reveals.jsonl``; without a workspace the user's own record.

    Commands that can run on the graph alone (``box``, ``site``, ``patient`` with
    ``--backend neo4j``, ``neo4j run``) may have no workspace: their reveals go to
    RXRING_REVEAL_LOG, else ``$XDG_STATE_HOME/rxring/reveals.jsonl`` (default
    ``~/.local/state/rxring/reveals.jsonl``).
    """
    if workspace is not None and str(workspace):
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


_USERINFO = re.compile(r"(//)[^/@\s]+@")


def _command_line(argv) -> str:
    """The command as typed, with any password in a URI (bolt://user:pw@host) replaced by ``***``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return _USERINFO.sub(r"\1***@", shlex.join(["rxring", *(str(a) for a in argv)]))


def record_reveal(workspace, command: str, what, operator: str | None = None, argv=None) -> dict:
    """Append one reveal to the workspace's ``reveals.jsonl`` and return it.

    Parameters
    ----------
    workspace : path or Workspace or None
        Where the record goes (created when missing, e.g. by ``rxring analyze``);
        None: the user's record (:func:`reveals_path`).
    command : str
        The command, e.g. ``"rxring ring"``.
    what : dict or str
        What was revealed (ring ids, a trace code, a patient, an output file).
    operator : str, optional
        Who asked (``--operator``); default the OS user.
    argv : list of str, optional
        The arguments (default: this process' ``sys.argv[1:]``).

    Raises
    ------
    RxringError
        The record cannot be written (then nothing may be revealed).
    """
    user = os_user()
    record = {
        "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "user": (operator or "").strip() or user,
        "os_user": user,
        "operator": (operator or "").strip() or None,
        "command": command,
        "command_line": _command_line(argv),
        "what": what,
        "workspace": None if workspace is None else str(_root(workspace)),
        "rxring": __version__,
    }
    line = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode("utf-8")
    path = reveals_path(workspace)
    try:
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
    return record


def read_reveals(workspace=None) -> list[dict]:
    """Every reveal recorded in the workspace, oldest first (unreadable lines skipped)."""
    path = reveals_path(workspace)
    if not path.exists():
        return []
    out = []
    for text in path.read_text(encoding="utf-8").splitlines():
        try:
            item = json.loads(text)
        except ValueError:
            continue
        if isinstance(item, dict):
            out.append(item)
    return out
