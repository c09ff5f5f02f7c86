"""Local accounts of a workspace and their roles, stored in the cases database (passwords hashed with argon2).

Roles, each allowed what the ones before it are:

- ``viewer``: reads pages, masked;
- ``investigator``: works cases (verify, comment, attach), reveals personal data with a reason;
- ``supervisor``: assigns, confirms, explains, refers and closes cases, approves exceptions;
- ``admin``: manages accounts.

A workspace without accounts is used by one local user (the one who started ``rxring
serve`` with its start token), who may do everything.

Examples
--------
>>> role_allows("supervisor", "investigator"), role_allows("viewer", "investigator")
(True, False)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ..errors import RxringError
from .db import connect, transaction, utc_now

__all__ = ["ROLES", "ROLE_LABELS", "Actor", "role_allows", "add_user", "set_password", "set_role", "disable_user",
           "list_users", "authenticate", "has_accounts", "account_role", "MIN_PASSWORD", "NAME_PATTERN",
           "PASSWORD_HASHER"]

ROLES = ("viewer", "investigator", "supervisor", "admin")
ROLE_LABELS = {"viewer": "查看 viewer", "investigator": "调查员 investigator",
               "supervisor": "主管 supervisor", "admin": "管理员 admin"}
MIN_PASSWORD = 10
NAME_PATTERN = re.compile(r"[A-Za-z0-9_.\-\u4e00-\u9fff]{1,64}")

#: The argon2 hasher of every account (argon2-cffi's defaults).  A check reads the cost from the stored
#: hash, and a sign-in rehashes a password whose hash was made at another cost; a test suite may put a
#: cheaper hasher here (tests/cases/conftest.py), as Django's test settings do.
PASSWORD_HASHER = PasswordHasher()
# A hash to verify against when the account does not exist, so a wrong name takes as long as a wrong password.
_DUMMY = PASSWORD_HASHER.hash("rxring-no-such-account")


@dataclass(frozen=True)
class Actor:
    """Who does something: an account name and its role (``via`` says where: web, cli)."""

    name: str
    role: str
    via: str = "web"

    def may(self, role: str) -> bool:
        """True when this actor holds *role* or a higher one."""
        return role_allows(self.role, role)


def role_allows(held: str, needed: str) -> bool:
    """True when *held* is *needed* or above it in :data:`ROLES`."""
    return held in ROLES and ROLES.index(held) >= ROLES.index(needed)


def _check(name: str, role: str | None, password: str | None) -> None:
    if not NAME_PATTERN.fullmatch(name or ""):
        raise RxringError(f"account name {name!r}: use 1-64 letters, digits, '_', '.', '-' or Chinese characters")
    if role is not None and role not in ROLES:
        raise RxringError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    if password is not None and len(password) < MIN_PASSWORD:
        raise RxringError(f"the password is too short: at least {MIN_PASSWORD} characters")


def add_user(workspace, name: str, role: str, password: str) -> None:
    """Create account *name* with *role*; the password is stored only as its argon2 hash."""
    _check(name, role, password)
    con = connect(workspace)
    try:
        with transaction(con):
            if con.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise RxringError(f"account {name} exists; use `rxring users passwd` or `rxring users role`")
            con.execute("INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)",
                        (name, role, PASSWORD_HASHER.hash(password), utc_now()))
    finally:
        con.close()


def _update(workspace, name: str, sql: str, params: tuple) -> None:
    con = connect(workspace)
    try:
        with transaction(con):
            if con.execute(sql, (*params, name)).rowcount == 0:
                raise RxringError(f"no account {name}; `rxring users list` shows them")
    finally:
        con.close()


def set_password(workspace, name: str, password: str) -> None:
    _check(name, None, password)
    _update(workspace, name, "UPDATE users SET password_hash = ? WHERE name = ?", (PASSWORD_HASHER.hash(password),))


def set_role(workspace, name: str, role: str) -> None:
    _check(name, role, None)
    _update(workspace, name, "UPDATE users SET role = ? WHERE name = ?", (role,))


def disable_user(workspace, name: str, disabled: bool = True) -> None:
    _update(workspace, name, "UPDATE users SET disabled = ? WHERE name = ?", (int(disabled),))


def list_users(workspace) -> list[dict]:
    """Every account: name, role, created_at, disabled (never the hash)."""
    con = connect(workspace)
    try:
        return [dict(r) for r in con.execute("SELECT name, role, created_at, disabled FROM users ORDER BY name")]
    finally:
        con.close()


def has_accounts(workspace) -> bool:
    """True when the workspace has at least one enabled account (then sign-in needs a password)."""
    con = connect(workspace)
    try:
        return con.execute("SELECT 1 FROM users WHERE disabled = 0 LIMIT 1").fetchone() is not None
    finally:
        con.close()


def account_role(workspace, name: str) -> str | None:
    """The role of enabled account *name* now, or None (no such account, or disabled)."""
    con = connect(workspace)
    try:
        row = con.execute("SELECT role FROM users WHERE name = ? AND disabled = 0", (name,)).fetchone()
        return None if row is None else row["role"]
    finally:
        con.close()


def authenticate(workspace, name: str, password: str) -> Actor | None:
    """The account's :class:`Actor` when *password* is right (and the account enabled), else None."""
    con = connect(workspace)
    try:
        row = con.execute("SELECT role, password_hash, disabled FROM users WHERE name = ?", (name or "",)).fetchone()
        try:
            PASSWORD_HASHER.verify(row["password_hash"] if row else _DUMMY, password or "")
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if row is None or row["disabled"]:
            return None
        if PASSWORD_HASHER.check_needs_rehash(row["password_hash"]):
            with transaction(con):
                con.execute("UPDATE users SET password_hash = ? WHERE name = ?", (PASSWORD_HASHER.hash(password), name))
        return Actor(name, row["role"])
    finally:
        con.close()
