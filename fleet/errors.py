"""The fleet server's exceptions.

Store, CA and auth code raise these (never sqlite3, grpc or cryptography errors), and the
gRPC edge maps each to exactly one status code (`fleet.services.common.abort_for`), so a
client always gets a code that says who must act: the caller (INVALID_ARGUMENT, ...) or
the operator (UNAVAILABLE).
"""

from __future__ import annotations


class FleetError(Exception):
    """Base of every error the fleet raises on purpose.

    Its own root: the fleet does not share the agent's hierarchy, it only validates the
    agent's config documents.
    """


class StoreError(FleetError):
    """The store failed (disk full, locked, corrupt): not the caller's fault; retry later."""


class NotFoundError(FleetError):
    """The named device, token, camera or webhook does not exist."""


class InvalidRequestError(FleetError):
    """The request itself is wrong; the message names the field."""


class StoreValueError(InvalidRequestError):
    """The store cannot hold a value (an integer beyond 64 bits, ...).

    The data's fault, not the store's, so retrying the same data will not help.
    """


class ConfigRejectedError(InvalidRequestError):
    """A desired-state document failed validation; the previous version stays in force."""


class AlreadyExistsError(FleetError):
    """The thing to create exists already (a model version, a signing key): never replaced."""


class VersionConflictError(FleetError):
    """An optimistic-concurrency check failed (someone changed it first)."""


class UnauthenticatedError(FleetError):
    """No credentials, or credentials the fleet does not know (or no longer accepts)."""


class PermissionDeniedError(FleetError):
    """Known caller, but not allowed: role too weak, or device revoked."""


class RateLimitedError(FleetError):
    """The caller asked too often; the message says when it may try again."""


class CertificateError(InvalidRequestError):
    """A CSR or certificate is malformed or unacceptable (key type, signature)."""
