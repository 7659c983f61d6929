"""grpc.aio server assembly: two TLS ports, the three services, health, reflection, metrics.

One server object listens on both ports, so every service is reachable on both; each RPC
checks its own credentials (see proto/README.md, "Two ports on one server").
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from wsgiref.simple_server import WSGIServer

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import start_http_server

from fleet.app import FleetApp
from fleet.config import FleetSettings
from fleet.connection_settings import connection_options
from fleet.decode_guard import DecodeGuard
from fleet.errors import FleetError
from fleet.retention import RetentionTask
from fleet.services import events as event_service
from fleet.services import models as model_service
from fleet.services import rollouts as rollout_service
from fleet.services import watchlists as watchlist_service
from fleet.services import webhooks as webhook_service
from fleet.services.admin import AdminServicer
from fleet.services.agent import AgentServicer
from fleet.services.certs import CertificateServicer
from fleet.watchlists.runtime import Watchlists
from proto.oko.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    agent_pb2,
    agent_pb2_grpc,
    certs_pb2,
    certs_pb2_grpc,
    models_pb2,
    stream_pb2,
)
from proto.transport import SERVER_OPTIONS

if TYPE_CHECKING:
    from fleet.console.server import ConsoleServer

log = logging.getLogger(__name__)


def server_options(settings: FleetSettings) -> list[tuple[str, int | str]]:
    """The wire contract's server options plus the fleet's own guards.

    * SO_REUSEPORT off: gRPC sets it by default, so a second fleet on the same port would
      start and share it (two server certificates on one port, connections split at
      random). Off, a busy port is a bind error and the second fleet refuses to start.
    * Handshake timeout: a connection that has not finished TLS and HTTP/2 setup in time
      is closed (gRPC's default is 120 s, long enough for idle sockets to use up every
      file descriptor before one is freed).
    * Connection cap per port: beyond it new connections are closed at once instead of
      failing accept() for everyone when descriptors run out.
    * Idle connections (no call open) are closed after a while.
    """
    return [
        *SERVER_OPTIONS,
        ("grpc.so_reuseport", 0),
        ("grpc.server_handshake_timeout_ms", int(settings.handshake_timeout_s * 1000)),
        ("grpc.max_allowed_incoming_connections", settings.max_connections),
        ("grpc.max_connection_idle_ms", int(settings.idle_connection_s * 1000)),
        *connection_options(settings.connections),
    ]


SERVICE_NAMES = (
    agent_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name,
    admin_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
    stream_pb2.DESCRIPTOR.services_by_name["EventService"].full_name,
    models_pb2.DESCRIPTOR.services_by_name["ModelService"].full_name,
    webhook_service.SERVICE,
    certs_pb2.DESCRIPTOR.services_by_name["CertificateService"].full_name,
)


@dataclass
class MetricsServer:
    """The fleet's `/metrics` endpoint (prometheus_client's own server thread)."""

    host: str
    port: int
    _server: WSGIServer
    _thread: threading.Thread

    @property
    def url(self) -> str:
        """Where Prometheus scrapes (the bound port, also when 0 was asked)."""
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and wait for the server thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@dataclass
class FleetServer:
    """A running fleet: call `stop()` to end it."""

    app: FleetApp
    server: grpc.aio.Server
    api_port: int
    agent_port: int
    health: health.aio.HealthServicer
    metrics_server: MetricsServer | None
    retention: RetentionTask
    console: ConsoleServer | None = None

    @property
    def api_address(self) -> str:
        """The public API's loopback address, for clients started beside the server."""
        return f"localhost:{self.api_port}"

    @property
    def agent_address(self) -> str:
        """The mutual-TLS agent port's loopback address."""
        return f"localhost:{self.agent_port}"

    async def stop(self, grace: float = 2.0) -> None:
        """Report NOT_SERVING, drain RPCs for `grace` s, then close metrics and the app."""
        if self.console is not None:  # first: its streams end and its audit writes land
            await self.console.stop()
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        await self.retention.stop()
        if self.metrics_server is not None:
            self.metrics_server.close()
        await self.app.close()


def _credentials(app: FleetApp) -> tuple[grpc.ServerCredentials, grpc.ServerCredentials]:
    directory = app.settings.data_dir / "ca"
    key_path, chain_path = app.ca.server_credentials_files(directory, list(app.settings.hostnames))
    pair = [(key_path.read_bytes(), chain_path.read_bytes())]
    api = grpc.ssl_server_credentials(pair, root_certificates=None, require_client_auth=False)
    agent = grpc.ssl_server_credentials(
        pair, root_certificates=app.ca.pem.encode(), require_client_auth=True
    )
    return api, agent


def _busy(address: str) -> bool:
    """Whether `address` is taken by another listener (what a failed bind most often means)."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not busy
        try:
            probe.bind((host, int(port)))
        except OSError as err:
            return err.errno == errno.EADDRINUSE
    return False


def _bind(server: grpc.aio.Server, address: str, creds: grpc.ServerCredentials) -> int:
    try:
        port = server.add_secure_port(address, creds)
    except RuntimeError:
        port = 0
    if port == 0:
        if _busy(address):
            raise FleetError(
                f"cannot listen on {address}: address already in use "
                "(another oko-fleet, or another program, is serving it); "
                "stop it or choose another port"
            )
        raise FleetError(f"cannot listen on {address} (not a local address, or not allowed?)")
    return port


def _metrics(app: FleetApp) -> MetricsServer | None:
    if not app.settings.metrics_listen:
        return None
    host, _, port = app.settings.metrics_listen.rpartition(":")
    try:
        server, thread = start_http_server(int(port), addr=host, registry=app.metrics.registry)
    except OSError as err:
        raise FleetError(f"cannot serve metrics on {app.settings.metrics_listen}: {err}") from err
    bound = int(server.server_address[1])
    log.info("metrics on http://%s:%s/metrics", host, bound)
    return MetricsServer(host, bound, server, thread)


async def _console(app: FleetApp, watchlists: Watchlists) -> ConsoleServer | None:
    """The web console, when `console_listen` is set (its modules load only then)."""
    if not app.settings.console_listen:
        return None
    from fleet.console.server import start_console

    console = await start_console(app, watchlists)
    app.closers.append(console.stop)  # a failed start after this point still closes it
    return console


def _not_serving(servicer: health.aio.HealthServicer) -> Callable[[str], None]:
    """What the ingest task calls if it ever ends: health says so, for load balancers."""
    pending: set[asyncio.Task[None]] = set()

    def stopped(reason: str) -> None:
        for name in ("", *SERVICE_NAMES):
            task = asyncio.get_running_loop().create_task(
                servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
            )
            pending.add(task)
            task.add_done_callback(pending.discard)

    return stopped


async def start_server(settings: FleetSettings) -> FleetServer:
    """Open the app, bind both ports and start serving."""
    app = await FleetApp.open(settings)
    server = grpc.aio.server(
        options=server_options(settings), interceptors=[DecodeGuard(app.metrics.registry)]
    )
    try:
        agent_pb2_grpc.add_AgentServiceServicer_to_server(AgentServicer(app), server)
        admin_pb2_grpc.add_AdminServiceServicer_to_server(AdminServicer(app), server)
        certs_pb2_grpc.add_CertificateServiceServicer_to_server(CertificateServicer(app), server)
        event_service.add_to_server(event_service.EventServicer(app), server)
        model_service.add_to_server(app, server)
        watchlists = await watchlist_service.serve(app, server)
        webhook_service.add_to_server(app, server)
        await rollout_service.serve(app, server)
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        reflection.enable_server_reflection(
            (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        api_creds, agent_creds = _credentials(app)
        api_port = _bind(server, settings.listen, api_creds)
        agent_port = _bind(server, settings.agent_listen, agent_creds)
        app.agent_port = agent_port
        metrics_server = _metrics(app)
        console = await _console(app, watchlists)
        await server.start()
        # Only now, with both ports bound: a start that fails earlier mints nothing, so
        # the first admin token can never be created and then lost unseen.
        app.bootstrap_token = await app.bootstrap()
    except BaseException:
        await server.stop(0)
        await app.close()
        raise
    for name in ("", *SERVICE_NAMES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    app.ingestor.on_stopped = _not_serving(health_servicer)
    retention = RetentionTask(
        app.store, settings.retention, app.metrics.registry, alert_purge=app.store.purge_alerts
    )

    async def _retain(held: bool) -> None:
        """Replicas: one of them purges (the `retention` lease holder)."""
        if held:
            retention.start()
        else:
            await retention.stop()

    await app.hold_lease("retention", _retain)
    log.info(
        "fleet serving: API port %s, agent port %s, store %s, replica %s",
        api_port,
        agent_port,
        app.store.description,
        app.replica_id,
    )
    return FleetServer(
        app, server, api_port, agent_port, health_servicer, metrics_server, retention, console
    )
