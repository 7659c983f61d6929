"""What every servicer shares: error -> status mapping and the per-RPC guard."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeAlias, TypeVar

import grpc

from fleet.access import AccessControl
from fleet.auth import Principal, Role
from fleet.errors import (
    AlreadyExistsError,
    FleetError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    StoreError,
    UnauthenticatedError,
    VersionConflictError,
)
from fleet.redaction import mask_text

log = logging.getLogger(__name__)
R = TypeVar("R")
Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]

_CODES: list[tuple[type[FleetError], grpc.StatusCode]] = [
    (UnauthenticatedError, grpc.StatusCode.UNAUTHENTICATED),
    (PermissionDeniedError, grpc.StatusCode.PERMISSION_DENIED),
    (NotFoundError, grpc.StatusCode.NOT_FOUND),
    (InvalidRequestError, grpc.StatusCode.INVALID_ARGUMENT),
    (VersionConflictError, grpc.StatusCode.FAILED_PRECONDITION),
    (AlreadyExistsError, grpc.StatusCode.ALREADY_EXISTS),
    (StoreError, grpc.StatusCode.UNAVAILABLE),
    (RateLimitedError, grpc.StatusCode.RESOURCE_EXHAUSTED),
]


def status_for(err: FleetError) -> grpc.StatusCode:
    """The gRPC status a FleetError maps to; INTERNAL for one not in the table."""
    for kind, code in _CODES:
        if isinstance(err, kind):
            return code
    return grpc.StatusCode.INTERNAL


async def abort(context: grpc.aio.ServicerContext[Any, Any], err: FleetError) -> NoReturn:
    """End the call with the error's status and message; never returns."""
    code = status_for(err)
    # The message may quote what the caller sent (a document with a password in a URL).
    log.info("refusing call: %s %s", code.name, mask_text(str(err)))
    await context.abort(code, str(err))
    raise AssertionError("unreachable: context.abort raises")


class Guarded:
    """Base of servicers whose RPCs need a bearer token."""

    access: AccessControl


Handler = Callable[[Any, Any, grpc.aio.ServicerContext[Any, Any], Principal], Awaitable[R]]


def guarded(role: Role) -> Callable[[Handler[R]], Callable[..., Awaitable[R]]]:
    """Unary RPC decorator that authorises the caller before the handler runs.

    Checks the caller's token and role first and maps FleetError to a status. The handler gets
    the Principal as a fourth argument.
    """

    def wrap(handler: Handler[R]) -> Callable[..., Awaitable[R]]:
        @functools.wraps(handler)
        async def rpc(
            self: Guarded, request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> R:
            try:
                principal = await self.access.check(context.invocation_metadata(), role)
                return await handler(self, request, context, principal)
            except FleetError as err:
                await abort(context, err)

        return rpc

    return wrap
