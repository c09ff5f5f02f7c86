"""Sessions of the workbench: who is looking, with which role, in which language, and what they revealed.

Two ways in:

- **accounts** (the workspace has at least one, ``rxring users add``): ``/login`` asks for
  a name and password (argon2, :mod:`rxring.cases.users`); the session carries the
  account's role;
- **start token** (no accounts: one local user, as before): the URL printed at start
  carries a per-start random token once (``/login?token=...``); that user may do
  everything (role ``admin``).  Once accounts exist the token no longer opens a session.

Either way the server answers with an HttpOnly, SameSite=Strict session cookie; a
session expires after :data:`SESSION_IDLE_SECONDS` without a request and at the latest
:data:`SESSION_MAX_SECONDS` after sign-in; every other request without a valid session
gets 401.  Every form carries the session's CSRF token (:meth:`Session.check_csrf`);
the login form, before any session, a double-submit token in a cookie
(:data:`LOGIN_COOKIE`).

A reveal is granted per page: the user gives a reason on the page's reveal form,
the session remembers it for that page (:attr:`Session.reveals`), and the page's
data is then read through :func:`rxring.reveal.permit_reveal`, which records every
unmasked view with the user and the reason (and the audit log, :mod:`rxring.audit`).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

from ..cases.users import ROLES, Actor, account_role, authenticate, has_accounts, role_allows

__all__ = ["Session", "SessionStore", "COOKIE", "LOGIN_COOKIE", "REVEAL_TTL_SECONDS", "SESSION_IDLE_SECONDS",
           "SESSION_MAX_SECONDS", "MAX_FAILED_LOGINS", "LOCKOUT_SECONDS", "ROLES"]

COOKIE = "rxring_session"
#: The login form's double-submit CSRF cookie (there is no session yet to hold a token).
LOGIN_COOKIE = "rxring_login"
#: How long a page stays revealed after its reason was given.
REVEAL_TTL_SECONDS = 15 * 60
#: A session ends after this long without a request ...
SESSION_IDLE_SECONDS = 2 * 3600
#: ... and this long after sign-in at the latest.
SESSION_MAX_SECONDS = 12 * 3600
#: After this many failed sign-ins of one account name within :data:`LOCKOUT_SECONDS`, that name
#: is refused (even with the right password) until the window has passed.
MAX_FAILED_LOGINS = 5
LOCKOUT_SECONDS = 15 * 60


@dataclass
class Session:
    """One signed-in user: name, role, language, CSRF token, expiry and the pages revealed (page -> (reason, until))."""

    user: str
    role: str = "admin"
    sid: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    lang: str = "zh"
    reveals: dict = field(default_factory=dict)
    account: bool = False     # signed in with an account (its role is re-read on every request)
    started: float = field(default_factory=time.monotonic)
    seen: float = field(default_factory=time.monotonic)

    @property
    def actor(self) -> Actor:
        return Actor(self.user, self.role, "web")

    def may(self, role: str) -> bool:
        """True when the session's role is *role* or above (:data:`ROLES`)."""
        return role_allows(self.role, role)

    def expired(self, now: float | None = None, idle: float = SESSION_IDLE_SECONDS,
                longest: float = SESSION_MAX_SECONDS) -> bool:
        now = time.monotonic() if now is None else now
        return now - self.seen > idle or now - self.started > longest

    def grant(self, page: str, reason: str) -> None:
        """Reveal *page* for :data:`REVEAL_TTL_SECONDS` with *reason*."""
        self.reveals[page] = (reason, time.monotonic() + REVEAL_TTL_SECONDS)

    def revoke(self, page: str) -> None:
        self.reveals.pop(page, None)

    def reason_for(self, page: str) -> str | None:
        """The reason *page* is revealed with, or None (never revealed, or expired)."""
        found = self.reveals.get(page)
        if found is None:
            return None
        if found[1] < time.monotonic():
            self.reveals.pop(page, None)
            return None
        return found[0]

    def check_csrf(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token), self.csrf)


class SessionStore:
    """The start token, the workspace's accounts, and the sessions opened with either.

    *idle* and *longest* are the session lifetimes in seconds (tests shorten them).
    """

    def __init__(self, user: str, token: str | None = None, workspace=None,
                 idle: float = SESSION_IDLE_SECONDS, longest: float = SESSION_MAX_SECONDS):
        self.user = user
        self.token = token or secrets.token_urlsafe(24)
        self.workspace = workspace
        self.idle, self.longest = idle, longest
        self.sessions: dict[str, Session] = {}
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def accounts(self) -> bool:
        """True when sign-in needs an account (the workspace has one), False for the start token."""
        return self.workspace is not None and has_accounts(self.workspace)

    def _open(self, session: Session) -> Session:
        with self._lock:
            self.sessions[session.sid] = session
        return session

    def login(self, token: str | None) -> Session | None:
        """A new session when *token* is the start token and the workspace has no accounts, else None."""
        if not token or not hmac.compare_digest(str(token), self.token) or self.accounts():
            return None
        return self._open(Session(user=self.user, role="admin"))

    def locked(self, name: str) -> bool:
        """True while *name* has :data:`MAX_FAILED_LOGINS` failed sign-ins within :data:`LOCKOUT_SECONDS`."""
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._failures.get(name, []) if now - t < LOCKOUT_SECONDS]
            self._failures[name] = recent
            return len(recent) >= MAX_FAILED_LOGINS

    def login_password(self, name: str, password: str) -> Session | None:
        """A new session for account *name* when *password* is right and the name is not locked
        (:meth:`locked`), else None (a failure counts towards the lock)."""
        if self.workspace is None or self.locked(name):
            return None
        actor = authenticate(self.workspace, name, password)
        if actor is None:
            with self._lock:
                self._failures.setdefault(name, []).append(time.monotonic())
            return None
        with self._lock:
            self._failures.pop(name, None)
        return self._open(Session(user=actor.name, role=actor.role, account=True))

    def get(self, sid: str | None) -> Session | None:
        """The live session of *sid* (its idle clock restarted), or None (unknown, expired, or its account
        disabled or removed since: then forgotten).  An account's role is read anew, so a change takes
        effect on the next request."""
        if not sid:
            return None
        with self._lock:
            session = self.sessions.get(sid)
            if session is None:
                return None
            now = time.monotonic()
            if session.expired(now, self.idle, self.longest):
                del self.sessions[sid]
                return None
        role = account_role(self.workspace, session.user) if session.account else session.role
        with self._lock:
            if role is None:
                self.sessions.pop(sid, None)
                return None
            session.role, session.seen = role, now
            return session

    def logout(self, sid: str | None) -> None:
        with self._lock:
            self.sessions.pop(sid or "", None)
