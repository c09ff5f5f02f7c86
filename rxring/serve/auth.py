"""Sessions of the workbench: who is looking, in which language, and what they revealed.

For now there is one local user (the OS user who started ``rxring serve``, or
``--operator``) and a per-start random token: the URL printed at start carries it
once (``/login?token=...``), the server answers with an HttpOnly, SameSite=Strict
session cookie and forgets the token in the URL.  Every other request without a
valid session gets 401.  :class:`Session` is the object the cases issue extends
with more users and roles; :class:`SessionStore` is where they live.

A reveal is granted per page: the user gives a reason on the page's reveal form,
the session remembers it for that page (:attr:`Session.reveals`), and the page's
data is then read through :func:`rxring.reveal.permit_reveal`, which records every
unmasked view with the user and the reason.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field

__all__ = ["Session", "SessionStore", "COOKIE", "REVEAL_TTL_SECONDS"]

COOKIE = "rxring_session"
#: How long a page stays revealed after its reason was given.
REVEAL_TTL_SECONDS = 15 * 60


@dataclass
class Session:
    """One signed-in user: name, language, CSRF token and the pages revealed (page -> (reason, until))."""

    user: str
    sid: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    lang: str = "zh"
    reveals: dict = field(default_factory=dict)

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
    """The start token and the sessions opened with it."""

    def __init__(self, user: str, token: str | None = None):
        self.user = user
        self.token = token or secrets.token_urlsafe(24)
        self.sessions: dict[str, Session] = {}

    def login(self, token: str | None) -> Session | None:
        """A new session when *token* is the start token, else None."""
        if not token or not hmac.compare_digest(str(token), self.token):
            return None
        session = Session(user=self.user)
        self.sessions[session.sid] = session
        return session

    def get(self, sid: str | None) -> Session | None:
        return self.sessions.get(sid) if sid else None
