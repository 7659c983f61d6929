"""Per-call authentication and authorization against the store's API tokens."""

from __future__ import annotations

import time
from collections.abc import Iterable

from fleet.auth import (
    Principal,
    Role,
    bearer_from_metadata,
    parse_token,
    require_role,
    secrets_match,
)
from fleet.errors import FleetError, UnauthenticatedError
from fleet.fleet_metrics import FleetMetrics
from fleet.store.base import Store
from fleet.store.records import ApiToken
from proto.tokens import API_PREFIX

Metadata = Iterable[tuple[str, str | bytes]] | None


class AccessControl:
    """Resolves a bearer token to a `Principal` and checks its role.

    Every admin and subscriber RPC calls `check` before doing anything, so a refused call writes
    nothing.
    """

    def __init__(self, store: Store, metrics: FleetMetrics) -> None:
        self._store = store
        self._metrics = metrics

    async def check(self, metadata: Metadata, needed: Role) -> Principal:
        """The caller's Principal if its bearer token is valid and has at least `needed`.

        Raises UnauthenticatedError or PermissionDeniedError otherwise, and counts the refusal by
        error type.
        """
        try:
            principal = await self._authenticate(metadata)
            require_role(principal, needed)
        except FleetError as err:
            self._metrics.refused.labels(type(err).__name__).inc()
            raise
        return principal

    async def check_token_id(self, token_id: str, needed: Role) -> Principal:
        """Like `check`, for a token whose secret was checked once already (a console login).

        The token is read again, so a revoked or expired token is refused at once, and the
        role comes from the store, never from what the session remembered.
        """
        try:
            token = await self._store.get_api_token(token_id)
            if token is None:
                raise UnauthenticatedError("the API token of this session was revoked")
            principal = self._principal(token)
            require_role(principal, needed)
        except FleetError as err:
            self._metrics.refused.labels(type(err).__name__).inc()
            raise
        return principal

    async def _authenticate(self, metadata: Metadata) -> Principal:
        text = bearer_from_metadata(tuple(metadata or ()))
        token_id, secret = parse_token(text, API_PREFIX)
        token = await self._store.get_api_token(token_id)
        if token is None or not secrets_match(secret, token.secret_hash):
            raise UnauthenticatedError("unknown API token")
        return self._principal(token)

    @staticmethod
    def _principal(token: ApiToken) -> Principal:
        if token.expires_us and token.expires_us <= time.time_ns() // 1000:
            raise UnauthenticatedError(f"API token {token.name!r} has expired")
        return Principal(
            token_id=token.token_id,
            name=token.name,
            role=Role(token.role),
            expires_us=token.expires_us,
        )
