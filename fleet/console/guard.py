"""Who is asking, may they, and is their form post genuine: every console request passes here.

* The session cookie (`__Host-` prefix: Secure, Path=/, no Domain; HttpOnly,
  SameSite=Strict) names a `ConsoleSession`; its API token is re-read from the store on
  every request and its role checked with the gRPC API's own `AccessControl`, so the
  console can never do what the token could not do over gRPC.
* Every POST must carry the session's CSRF token (form field `csrf`), come from the
  console's own origin when the browser says where it comes from, be a url-encoded form
  and fit in `MAX_FORM_BYTES`.
* A known caller refused for their role is written to the audit log (`console.refused`);
  what they did see or do is audited by the page itself.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request

from fleet.access import AccessControl
from fleet.auth import Principal, Role
from fleet.console.sessions import ConsoleSession, ConsoleSessions
from fleet.errors import PermissionDeniedError, UnauthenticatedError

log = logging.getLogger(__name__)

COOKIE = "__Host-oko_session"
LOGIN_COOKIE = "__Host-oko_login"
MAX_FORM_BYTES = 16 * 1024
#: Why a login page is shown, by code (the code travels in the URL, never free text).
LOGIN_REASONS = {
    "required": "Log in with your API token.",
    "expired": "Your session has expired. Log in again.",
    "idle": "Your session ended after inactivity. Log in again.",
    "token": "The API token of your session was revoked or has expired.",
    "unknown": "Your session is not known here (the fleet restarted?). Log in again.",
    "logout": "You have logged out.",
}

Audit = Callable[[str, str, str, str], Awaitable[None]]


class RefusedError(Exception):
    """The request is refused: `status` and a message for the page (escaped when shown)."""

    def __init__(self, status: int, message: str, login: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.login = login  # a LOGIN_REASONS code: send the browser to the login page


@dataclass(frozen=True)
class Caller:
    """A request's logged-in person: the session, and the token as the store has it now."""

    session: ConsoleSession
    principal: Principal

    @property
    def name(self) -> str:
        """The API token's name: what the audit log and the two-person rule go by."""
        return self.principal.name

    def may(self, role: Role) -> bool:
        """Whether the caller's role is at least `role` (to show or hide buttons)."""
        return self.principal.role >= role


class Guard:
    """Authenticates, authorises and checks forms for the console's routes."""

    def __init__(self, sessions: ConsoleSessions, access: AccessControl, audit: Audit) -> None:
        self.sessions = sessions
        self.access = access
        self.audit = audit

    async def caller(self, request: Request, needed: Role, what: str) -> Caller:
        """The logged-in caller if their token is valid and has `needed`; `RefusedError` if not."""
        cookie = request.cookies.get(COOKIE, "")
        if not cookie:
            raise RefusedError(401, LOGIN_REASONS["required"], login="required")
        session, why = self.sessions.lookup(cookie)
        if session is None:
            code = why or "unknown"
            raise RefusedError(401, LOGIN_REASONS[code], login=code)
        try:
            principal = await self.access.check_token_id(session.principal.token_id, needed)
        except UnauthenticatedError as err:
            self.sessions.end(session)
            raise RefusedError(401, str(err), login="token") from None
        except PermissionDeniedError as err:
            name = session.principal.name
            await self.audit(name, "console.refused", what, str(err))
            log.info("console: %r refused %s: %s", name, what, err)
            raise RefusedError(403, str(err)) from None
        return Caller(session, principal)

    async def form(
        self, request: Request, needed: Role, what: str
    ) -> tuple[Caller, dict[str, str]]:
        """The caller and the fields of a genuine form post of theirs.

        RefusedError (403) without the session's CSRF token or from another origin, (400) for
        anything but a small url-encoded form.
        """
        caller = await self.caller(request, needed, what)
        fields = await read_form(request)
        check_origin(request)
        if not caller.session.csrf_ok(fields.get("csrf", "")):
            await self.audit(caller.name, "console.refused", what, "missing or wrong CSRF token")
            raise RefusedError(
                403, "this form post has no valid CSRF token; reload the page and retry"
            )
        return caller, fields


def check_origin(request: Request) -> None:
    """Refuse a post whose Origin header (when sent) is not the console's own."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    own = f"https://{request.headers.get('host', '')}"
    if origin != own:
        raise RefusedError(403, "cross-site form post refused")


async def read_form(request: Request) -> dict[str, str]:
    """A url-encoded form of at most MAX_FORM_BYTES; each field once (first value wins)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise RefusedError(400, "expected a form post (application/x-www-form-urlencoded)")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise RefusedError(413, f"form larger than {MAX_FORM_BYTES} bytes")
    try:
        text = body.decode("utf-8")
        pairs = urllib.parse.parse_qsl(text, keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise RefusedError(400, "the form is not valid UTF-8 url-encoded text") from None
    fields: dict[str, str] = {}
    for key, value in pairs:
        fields.setdefault(key, value)
    return fields
