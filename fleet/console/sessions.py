"""Console sessions: who is logged in, until when, and the CSRF token of each session.

A session is created by logging in with an API token (one per person, so the two-person
rule tells operators apart) and is identified by a 256-bit random cookie. Only the
cookie's SHA-256 is kept, as with API tokens. A session ends at the first of: its
absolute lifetime, its idle timeout, its API token's expiry, logout, or eviction when
`max_sessions` is exceeded. Each request still re-checks the API token against the store
(`AccessControl.check_token_id`), so a revoked token loses its sessions at its next request.

Sessions live in the fleet process's memory: a fleet restart logs everyone out, which is
the safe direction. Pure logic with an injectable clock; no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from fleet.auth import Principal

SESSION_BYTES = 32


def _digest(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


@dataclass(eq=False)
class ConsoleSession:
    """One logged-in browser. `csrf` must accompany every form post of this session."""

    key: str  # sha256 of the cookie
    principal: Principal
    csrf: str
    created_s: float
    last_seen_s: float
    expires_s: float  # absolute end: login + max, or the token's expiry if sooner
    flash: list[str] = field(default_factory=list)  # one-shot messages for the next page

    def csrf_ok(self, sent: str) -> bool:
        """Whether a form's CSRF token is this session's (constant-time comparison)."""
        return bool(sent) and hmac.compare_digest(sent.encode(), self.csrf.encode())


class ConsoleSessions:
    """The fleet's console sessions, bounded in number; the oldest go first."""

    def __init__(
        self,
        max_s: float,
        idle_s: float,
        max_sessions: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_s = max_s
        self.idle_s = idle_s
        self.max_sessions = max_sessions
        self._clock = clock
        self._by_key: OrderedDict[str, ConsoleSession] = OrderedDict()

    def create(self, principal: Principal) -> tuple[str, ConsoleSession]:
        """A new session for `principal`: (cookie value, session)."""
        now = self._clock()
        expires = now + self.max_s
        if principal.expires_us:
            expires = min(expires, principal.expires_us / 1e6)
        cookie = secrets.token_urlsafe(SESSION_BYTES)
        session = ConsoleSession(
            key=_digest(cookie),
            principal=principal,
            csrf=secrets.token_urlsafe(SESSION_BYTES),
            created_s=now,
            last_seen_s=now,
            expires_s=expires,
        )
        self._by_key[session.key] = session
        while len(self._by_key) > self.max_sessions:
            self._by_key.popitem(last=False)
        return cookie, session

    def lookup(self, cookie: str) -> tuple[ConsoleSession | None, str]:
        """(session, '') for a live cookie and marks it used; (None, why) otherwise.

        `why` is '' for a cookie never seen (or evicted), else what ended the session:
        "expired" or "idle".
        """
        key = _digest(cookie)
        session = self._by_key.get(key)
        if session is None:
            return None, ""
        now = self._clock()
        why = self.ended_because(session, now)
        if why:
            del self._by_key[key]
            return None, why
        session.last_seen_s = now
        return session, ""

    def ended_because(self, session: ConsoleSession, now: float | None = None) -> str:
        """Why the session is over at `now`: "expired", "idle", or '' while it is live."""
        now = self._clock() if now is None else now
        if now >= session.expires_s:
            return "expired"
        if now - session.last_seen_s >= self.idle_s:
            return "idle"
        return ""

    def touch(self, session: ConsoleSession) -> None:
        """Count a long-lived request (a live view, a stream) as activity."""
        session.last_seen_s = self._clock()

    def end(self, session: ConsoleSession) -> None:
        """Log out: the cookie is refused from now on."""
        self._by_key.pop(session.key, None)

    def end_token(self, token_id: str) -> int:
        """End every session logged in with the token; how many there were."""
        keys = [k for k, s in self._by_key.items() if s.principal.token_id == token_id]
        for key in keys:
            del self._by_key[key]
        return len(keys)

    def __len__(self) -> int:
        return len(self._by_key)
