"""The cases database: ``WS/cases/cases.sqlite`` (SQLite in WAL mode), and its migrations.

One database per workspace holds cases, their history, comments, attachments, lead rows,
user accounts and whatever later parts add (exceptions).  Several ``rxring serve`` workers
and CLI commands may open it at once: WAL lets readers go on while one writer writes, and a
busy timeout makes a second writer wait instead of failing.

Migrations are numbered SQL scripts applied once each, in order, inside one transaction per
migration; ``schema_version`` records which ran.  Add a migration by appending to
:data:`MIGRATIONS` (never edit or renumber one that shipped)::

    MIGRATIONS.append(Migration(7, "exceptions", "CREATE TABLE exceptions (...);"))

or, from another module, :func:`register_migration` (same effect, checked for clashes).

Examples
--------
>>> import tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     con = connect(d)
...     version = schema_version(con)
...     con.close()
>>> version >= 1
True
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..errors import RxringError

__all__ = ["Migration", "MIGRATIONS", "register_migration", "connect", "cases_dir", "database_path",
           "schema_version", "transaction", "utc_now", "BUSY_TIMEOUT_MS"]

def utc_now() -> str:
    """Now in UTC as ``YYYY-MM-DDTHH:MM:SSZ``: the time every case, account and exception row records."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


#: Milliseconds a connection waits for another writer before giving up with "database is locked".
BUSY_TIMEOUT_MS = 15_000


@dataclass(frozen=True)
class Migration:
    """One schema step: *number* (applied in increasing order, once), a *name*, and its SQL *script*."""

    number: int
    name: str
    script: str


#: Every migration, in order.  Append only.
MIGRATIONS: list[Migration] = [
    Migration(1, "cases", """
        CREATE TABLE cases (
            id              INTEGER PRIMARY KEY,
            kind            TEXT NOT NULL CHECK (kind IN ('ring', 'findings', 'leads')),
            title           TEXT NOT NULL,
            ring_id         TEXT,
            state           TEXT NOT NULL DEFAULT 'new',
            assignee        TEXT,
            due_date        TEXT,
            amount_recovered REAL,
            amount_fined    REAL,
            referral_no     TEXT,
            created_at      TEXT NOT NULL,
            created_by      TEXT NOT NULL,
            updated_at      TEXT NOT NULL,
            version         INTEGER NOT NULL DEFAULT 1
        );
        CREATE INDEX cases_state ON cases(state);
        CREATE INDEX cases_ring ON cases(ring_id);
        CREATE TABLE case_findings (
            case_id     INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
            finding_id  TEXT NOT NULL,
            PRIMARY KEY (case_id, finding_id)
        );
        CREATE TABLE case_history (
            id          INTEGER PRIMARY KEY,
            case_id     INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
            at          TEXT NOT NULL,
            actor       TEXT NOT NULL,
            field       TEXT NOT NULL,
            old_value   TEXT,
            new_value   TEXT,
            reason      TEXT
        );
        CREATE INDEX case_history_case ON case_history(case_id, id);
        CREATE TABLE case_comments (
            id          INTEGER PRIMARY KEY,
            case_id     INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
            at          TEXT NOT NULL,
            actor       TEXT NOT NULL,
            body        TEXT NOT NULL
        );
        CREATE TABLE case_attachments (
            id          INTEGER PRIMARY KEY,
            case_id     INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
            at          TEXT NOT NULL,
            actor       TEXT NOT NULL,
            filename    TEXT NOT NULL,
            sha256      TEXT NOT NULL,
            size        INTEGER NOT NULL,
            media_type  TEXT
        );
    """),
    Migration(2, "leads", """
        CREATE TABLE lead_batches (
            id          INTEGER PRIMARY KEY,
            source_file TEXT NOT NULL,
            sha256      TEXT NOT NULL,
            imported_at TEXT NOT NULL,
            imported_by TEXT NOT NULL,
            rows_read   INTEGER NOT NULL,
            rows_matched INTEGER NOT NULL,
            rows_unmatched INTEGER NOT NULL,
            rows_rejected INTEGER NOT NULL
        );
        CREATE TABLE leads (
            id          INTEGER PRIMARY KEY,
            batch_id    INTEGER NOT NULL REFERENCES lead_batches(id) ON DELETE CASCADE,
            case_id     INTEGER REFERENCES cases(id) ON DELETE SET NULL,
            source_line INTEGER NOT NULL,
            key_kind    TEXT NOT NULL CHECK (key_kind IN ('trace_code', 'setl_id')),
            key_value   TEXT NOT NULL,
            reason      TEXT,
            matched     INTEGER NOT NULL,
            ring_id     TEXT,
            rules       TEXT,
            explanation TEXT
        );
        CREATE INDEX leads_case ON leads(case_id);
        CREATE INDEX leads_key ON leads(key_value);
    """),
    Migration(3, "users", """
        CREATE TABLE users (
            name        TEXT PRIMARY KEY,
            role        TEXT NOT NULL CHECK (role IN ('viewer', 'investigator', 'supervisor', 'admin')),
            password_hash TEXT NOT NULL,
            created_at  TEXT NOT NULL,
            disabled    INTEGER NOT NULL DEFAULT 0
        );
    """),
    Migration(4, "finding_exceptions", """
        CREATE TABLE finding_exceptions (
            id          INTEGER PRIMARY KEY,
            finding_id  TEXT NOT NULL,
            reason_kind TEXT NOT NULL,
            reason      TEXT NOT NULL,
            recorded_by TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            until       TEXT,
            approved_by TEXT,
            approved_at TEXT,
            revoked_by  TEXT,
            revoked_at  TEXT,
            revoke_reason TEXT
        );
        CREATE INDEX finding_exceptions_finding ON finding_exceptions(finding_id);
    """),
]


def register_migration(number: int, name: str, script: str) -> Migration:
    """Add a migration from another module (e.g. ``rxring.cases.exceptions``); the number must be new.

    Registering the same migration twice (a module imported again) is harmless.
    """
    migration = Migration(number, name, script)
    for known in MIGRATIONS:
        if known.number == number:
            if known == migration:
                return known
            raise ValueError(f"cases migration {number} is already {known.name!r}; pick the next free number")
    MIGRATIONS.append(migration)
    MIGRATIONS.sort(key=lambda m: m.number)
    return migration


def cases_dir(workspace) -> Path:
    """``WS/cases``: the database and the attachment store (``files/``)."""
    return Path(os.fspath(workspace)) / "cases"


def database_path(workspace) -> Path:
    """``WS/cases/cases.sqlite``."""
    return cases_dir(workspace) / "cases.sqlite"


def connect(workspace, migrate: bool = True) -> sqlite3.Connection:
    """Open (and create, and bring up to date) the cases database of *workspace* (a path or Workspace).

    The connection uses WAL, a busy timeout of :data:`BUSY_TIMEOUT_MS`, foreign keys on, rows as
    :class:`sqlite3.Row`, and autocommit (``isolation_level=None``): group writes with
    :func:`transaction`.
    """
    root = Path(os.fspath(workspace))
    if not root.is_dir():
        raise RxringError(f"workspace {root} does not exist")
    path = database_path(root)
    try:
        path.parent.mkdir(exist_ok=True)
        con = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                              check_same_thread=False)
    except (OSError, sqlite3.Error) as exc:
        raise RxringError(f"cannot open the cases database {path}: {exc}") from None
    con.row_factory = sqlite3.Row
    con.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_MS)}")
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA foreign_keys = ON")
    con.execute("PRAGMA synchronous = NORMAL")
    if migrate:
        _migrate(con, path)
    return con


def schema_version(con: sqlite3.Connection) -> int:
    """The highest migration applied to *con*'s database (0 when none)."""
    row = con.execute("SELECT max(number) FROM schema_version").fetchone()
    return row[0] or 0


class transaction:
    """``with transaction(con):`` — BEGIN IMMEDIATE (take the write lock now), COMMIT, or ROLLBACK on error."""

    def __init__(self, con: sqlite3.Connection):
        self.con = con

    def __enter__(self) -> sqlite3.Connection:
        self.con.execute("BEGIN IMMEDIATE")
        return self.con

    def __exit__(self, kind, value, tb) -> bool:
        self.con.execute("COMMIT" if kind is None else "ROLLBACK")
        return False


def _migrate(con: sqlite3.Connection, path: Path) -> None:
    con.execute("CREATE TABLE IF NOT EXISTS schema_version ("
                "number INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
    done = {row[0] for row in con.execute("SELECT number FROM schema_version")}
    for migration in sorted(MIGRATIONS, key=lambda m: m.number):
        if migration.number in done:
            continue
        try:
            with transaction(con):
                # another process may have applied it while we waited for the write lock
                if con.execute("SELECT 1 FROM schema_version WHERE number = ?", (migration.number,)).fetchone():
                    continue
                for statement in _statements(migration.script):
                    con.execute(statement)
                con.execute("INSERT INTO schema_version (number, name, applied_at) "
                            "VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
                            (migration.number, migration.name))
        except sqlite3.Error as exc:
            raise RxringError(f"cases database {path}: migration {migration.number} "
                              f"({migration.name}) failed: {exc}") from None
    known = max((m.number for m in MIGRATIONS), default=0)
    if schema_version(con) > known:
        raise RxringError(f"cases database {path} was written by a newer rxring (schema "
                          f"{schema_version(con)}, this one knows {known}); upgrade rxring")


def _statements(script: str) -> list[str]:
    """Split *script* into complete SQL statements (``sqlite3.complete_statement`` decides)."""
    out, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                out.append(current.strip())
            current = ""
    if current.strip():
        out.append(current.strip())
    return out
