"""Blocking client for okoctl and scripts: connection settings, stubs, error mapping.

Settings come from flags, the environment (`OKO_FLEET`, `OKO_TOKEN`, `OKO_CA_FILE`) or a
saved okoctl context (`fleet.ctl_context`), so scripts can export them once. gRPC failures
become `ClientError` carrying the status name, which the CLI prints as one readable line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc

from fleet.errors import FleetError
from proto.oko.v1 import (
    admin_pb2_grpc,
    certs_pb2_grpc,
    models_pb2_grpc,
    stream_pb2_grpc,
    watchlists_pb2_grpc,
    webhooks_pb2_grpc,
)
from proto.transport import ADMIN_DEADLINE_S, CLIENT_OPTIONS, DEFAULT_API_PORT, bearer_metadata

T = TypeVar("T")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class ClientError(FleetError):
    """A call failed; `code` is the gRPC status name (e.g. PERMISSION_DENIED)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


def parse_duration(text: str) -> int:
    """'90s', '30m', '1h', '7d', '2w' or plain seconds -> seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30m, 1h or 7d")
    return int(match.group(1)) * _UNIT_S[match.group(2)]


@dataclass(frozen=True)
class Connection:
    """Where the fleet's API port is and how to authenticate to it."""

    address: str = f"localhost:{DEFAULT_API_PORT}"
    token: str = field(default="", repr=False)  # never in a traceback or log line
    ca_file: Path | None = None
    ca_pem: bytes = field(default=b"", repr=False)  # a context's CA, used without ca_file

    def _credentials(self) -> grpc.ChannelCredentials:
        if self.ca_file is None:
            if self.ca_pem:
                return grpc.ssl_channel_credentials(root_certificates=self.ca_pem)
            return grpc.ssl_channel_credentials()
        try:
            return grpc.ssl_channel_credentials(root_certificates=self.ca_file.read_bytes())
        except OSError as err:
            message = f"CA file {self.ca_file}: {err.strerror}"
            raise ClientError("INVALID_ARGUMENT", message) from err

    @contextmanager
    def open(self) -> Iterator[Session]:
        """A session on a fresh TLS channel, closed when the block ends."""
        channel = grpc.secure_channel(self.address, self._credentials(), options=CLIENT_OPTIONS)
        try:
            yield Session(self, channel)
        finally:
            channel.close()


class Session:
    """Stubs on one channel, with the token attached to every call."""

    def __init__(self, connection: Connection, channel: grpc.Channel) -> None:
        self.connection = connection
        self.admin = admin_pb2_grpc.AdminServiceStub(channel)
        self.events = stream_pb2_grpc.EventServiceStub(channel)
        self.watchlists = watchlists_pb2_grpc.WatchlistServiceStub(channel)
        self.models = models_pb2_grpc.ModelServiceStub(channel)
        self.webhooks = webhooks_pb2_grpc.WebhookServiceStub(channel)
        self.certs = certs_pb2_grpc.CertificateServiceStub(channel)
        self.metadata = bearer_metadata(connection.token) if connection.token else ()

    def call(self, method: Callable[..., T], request: Any, timeout: float = ADMIN_DEADLINE_S) -> T:
        """One unary call with the deadline and the bearer token; errors as ClientError."""
        try:
            return method(request, metadata=self.metadata, timeout=timeout)
        except grpc.RpcError as err:
            raise as_client_error(err) from err

    def stream(self, method: Callable[..., Iterator[T]], request: Any) -> Iterator[T]:
        """A server stream (no deadline: it is meant to run until stopped)."""
        try:
            yield from method(request, metadata=self.metadata)
        except grpc.RpcError as err:
            raise as_client_error(err) from err


def as_client_error(err: grpc.RpcError) -> ClientError:
    """Our error for a failed call; an `RpcError` without a status reads as UNKNOWN."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    details = err.details() if hasattr(err, "details") else str(err)
    return ClientError(code.name, details or "")
