"""Everything the uplink side of a running agent owns, wired together once.

`oko-agent run` (and the fault tests' agent process) build one `UplinkService` from the
box's `AgentConfig`: the spool, the identity store, the desired-state applier, metrics and
the stream client. The pipeline only calls `spool.append(...)` and then `notify()`.

A pushed config changes what can change safely while running: spool bounds at once, the
uplink's batching/backoff settings from the next stream session. Fields documented as
"restart" (data dir, endpoints, spool path) are stored and take effect at the next start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from agent.config.agent import AgentConfig
from agent.identity import AgentStore
from agent.spool import Spool
from agent.uplink.client import CommandHandler, HealthProvider, UplinkClient
from agent.uplink.desired import DesiredStateApplier
from agent.uplink.uplink_metrics import AgentMetrics
from proto.metrics import MetricsServer, serve_metrics

log = logging.getLogger(__name__)


class UplinkService:
    """Spool + identity + desired state + metrics + stream client for one box."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        camera_ids: Callable[[], list[str]] = list,
        camera_health: HealthProvider = list,
        command_handler: CommandHandler | None = None,
    ) -> None:
        self.config = config
        self.store = AgentStore(config.data_dir)
        self.spool = Spool(
            config.spool_path(),
            max_bytes=config.spool.max_bytes,
            max_events=config.spool.max_events,
            synchronous=config.spool.synchronous,
        )
        self.metrics = AgentMetrics()
        self.metrics.watch_spool(self.spool)
        self.applier = DesiredStateApplier(self.store)
        self.applier.add_listener(self._on_config)
        self.client = UplinkClient(
            self.store,
            self.spool,
            config.fleet,
            self.applier,
            self.metrics,
            camera_ids=camera_ids,
            camera_health=camera_health,
            command_handler=command_handler,
        )
        self._metrics_server: MetricsServer | None = None

    def _on_config(self, config: AgentConfig, version: int) -> None:
        self.spool.max_bytes = config.spool.max_bytes
        self.spool.max_events = config.spool.max_events
        self.client.settings = config.fleet
        self.config = config
        log.info("config v%d: spool bounds and uplink settings updated", version)

    def start_metrics(self) -> MetricsServer | None:
        """Serve /metrics if enabled; returns the server (its port, when 0 was asked)."""
        if self.config.metrics.enabled and self._metrics_server is None:
            self._metrics_server = serve_metrics(
                self.metrics.registry, self.config.metrics.host, self.config.metrics.port
            )
        return self._metrics_server

    def notify(self) -> None:
        """New events were appended to the spool."""
        self.client.notify()

    async def run(self, stop: asyncio.Event) -> None:
        """Run the stream until `stop` is set."""
        await self.client.run(stop)

    def close(self) -> None:
        """Stop metrics, close the spool (checkpoint) and the store."""
        if self._metrics_server is not None:
            self._metrics_server.close()
            self._metrics_server = None
        self.spool.close()
        self.store.close()
