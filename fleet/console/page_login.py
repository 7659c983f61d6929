"""Logging in with an API token, and out.

The login form is protected against login CSRF by a double-submit token: the form page
sets a random `__Host-` cookie and puts the same value in the form; the post must carry
both. A wrong token is refused on the page with the reason (the token itself is never
echoed); each login and logout is audited under the token's name.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from fleet.auth import Role
from fleet.console.context import Console
from fleet.console.guard import COOKIE, LOGIN_COOKIE, LOGIN_REASONS, RefusedError, read_form
from fleet.console.render import SECURITY_HEADERS
from fleet.errors import FleetError

log = logging.getLogger(__name__)
MAX_TOKEN_CHARS = 512
#: Failed logins one address may make per window before it is told to wait.
MAX_FAILURES = 10
FAILURE_WINDOW_S = 60.0
MAX_ADDRESSES = 10_000


class LoginThrottle:
    """Failed logins per client address in a sliding minute, bounded in memory.

    Tokens are 256-bit secrets, so guessing is hopeless anyway; this keeps a script that
    hammers the form from costing the store a read per attempt for ever.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: OrderedDict[str, list[float]] = OrderedDict()

    def _recent(self, address: str) -> list[float]:
        now = self._clock()
        times = [t for t in self._failures.get(address, []) if now - t < FAILURE_WINDOW_S]
        if times:
            self._failures[address] = times
        else:
            self._failures.pop(address, None)
        return times

    def blocked(self, address: str) -> bool:
        """Whether the address used up its failures for now."""
        return len(self._recent(address)) >= MAX_FAILURES

    def failed(self, address: str) -> None:
        """Count one failed login."""
        self._failures[address] = [*self._recent(address), self._clock()]
        self._failures.move_to_end(address)
        while len(self._failures) > MAX_ADDRESSES:
            self._failures.popitem(last=False)


def _cookie(response: Response, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/", secure=True, httponly=True, samesite="strict"
    )


class LoginPages:
    """GET/POST /login and POST /logout."""

    def __init__(self, console: Console) -> None:
        self.c = console
        self.throttle = LoginThrottle()

    def routes(self) -> list[Route]:
        """The routes of this module."""
        return [
            Route("/login", self.form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
        ]

    def _form(self, message: str, status: int, error: bool = False) -> Response:
        nonce = secrets.token_urlsafe(24)
        response = self.c.pages.html(
            "login.html", status=status, message=message, error=error, nonce=nonce
        )
        _cookie(response, LOGIN_COOKIE, nonce, 600)
        return response

    async def form(self, request: Request) -> Response:
        """The login form; `?reason=` picks one of the fixed messages."""
        reason = request.query_params.get("reason", "required")
        return self._form(LOGIN_REASONS.get(reason, LOGIN_REASONS["required"]), 200)

    async def login(self, request: Request) -> Response:
        """Check the token like the gRPC API does; on success a new session cookie."""
        address = request.client.host if request.client else "?"
        if self.throttle.blocked(address):
            self.c.metrics.logins.labels("throttled").inc()
            return self._form("Too many failed logins from this address; wait a minute.", 429, True)
        fields = await read_form(request)
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        sent = fields.get("nonce", "")
        if not (nonce and sent and hmac.compare_digest(nonce.encode(), sent.encode())):
            self.c.metrics.logins.labels("csrf").inc()
            return self._form("The login form expired or was not ours; try again.", 403, True)
        token = fields.get("token", "").strip()[:MAX_TOKEN_CHARS]
        try:
            principal = await self.c.app.access.check(
                (("authorization", f"Bearer {token}"),), Role.VIEWER
            )
        except FleetError as err:
            self.throttle.failed(address)
            self.c.metrics.logins.labels("refused").inc()
            log.info("console login refused: %s", err)
            return self._form(f"Login refused: {err}.", 401, True)
        cookie, _ = self.c.sessions.create(principal)
        await self.c.audit(
            principal.name,
            "console.login",
            principal.token_id,
            f"role {principal.role.name.lower()}",
        )
        self.c.metrics.logins.labels("ok").inc()
        response = RedirectResponse("/alerts", status_code=303, headers=SECURITY_HEADERS)
        _cookie(response, COOKIE, cookie, None)  # a browser-session cookie; expiry is ours
        response.delete_cookie(
            LOGIN_COOKIE, path="/", secure=True, httponly=True, samesite="strict"
        )
        return response

    async def logout(self, request: Request) -> Response:
        """End the session (CSRF-checked like every post) and forget the cookie."""
        try:
            caller, _ = await self.c.guard.form(request, Role.VIEWER, "logout")
        except RefusedError as refused:
            if refused.login:  # already logged out: the same outcome
                return RedirectResponse("/login?reason=logout", status_code=303)
            raise
        self.c.sessions.end(caller.session)
        await self.c.audit(caller.name, "console.logout", caller.principal.token_id)
        response = RedirectResponse("/login?reason=logout", status_code=303)
        response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")
        return response
