"""The durable parts of one box, composed in one place and owned by the box.

    AgentStore (identity, applied config) -> DesiredStateApplier
    Spool -> AgentMetrics (read at scrape time)
    UplinkClient <- store, spool, applier, metrics

`EdgeBox` opens these at start and closes them at stop; each part is handed what it needs
(the uplink client gets the spool it drains, the store whose certificate it presents and
the applier whose version it reports) and none of them builds another. Runs without
cameras - the demo's offline clip, the uplink tests and `bench/uplink.py` - open the same
parts with `BoxParts.open`, so every agent is wired the one way.

A pushed config changes what can change safely while running: spool bounds at once, the
uplink's batching/backoff settings from the next stream session. Fields documented as
"restart" (data dir, endpoints, spool path) are stored and take effect at the next start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from agent.config.agent import AgentConfig
from agent.identity import AgentStore
from agent.spool import Spool
from agent.uplink.client import (
    CommandHandler,
    EvidenceHandler,
    HealthProvider,
    UplinkClient,
    no_shots,
)
from agent.uplink.desired import DesiredStateApplier
from agent.uplink.live import LiveSource
from agent.uplink.uplink_metrics import AgentMetrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BoxParts:
    """Identity store, spool, metrics, desired-state applier and uplink client of one box."""

    store: AgentStore
    spool: Spool
    metrics: AgentMetrics
    applier: DesiredStateApplier
    uplink: UplinkClient

    @classmethod
    def open(
        cls,
        config: AgentConfig,
        *,
        camera_ids: Callable[[], list[str]] = list,
        camera_health: HealthProvider = list,
        command_handler: CommandHandler | None = None,
        evidence_handler: EvidenceHandler = no_shots,
        live_source: LiveSource | None = None,
    ) -> BoxParts:
        """Open the store and spool of `config.data_dir` and wire the rest to them.

        The spool holds a file lock: a second agent on the same data dir fails here.
        """
        store = AgentStore(config.data_dir)
        try:
            spool = Spool(
                config.spool_path(),
                max_bytes=config.spool.max_bytes,
                max_events=config.spool.max_events,
                synchronous=config.spool.synchronous,
            )
        except BaseException:
            store.close()
            raise
        metrics = AgentMetrics()
        metrics.watch_spool(spool)
        applier = DesiredStateApplier(store)
        uplink = UplinkClient(
            store,
            spool,
            config.fleet,
            applier,
            metrics,
            camera_ids=camera_ids,
            camera_health=camera_health,
            command_handler=command_handler,
            evidence_handler=evidence_handler,
            live_source=live_source,
        )
        parts = cls(store, spool, metrics, applier, uplink)
        applier.add_listener(parts._on_config)
        return parts

    def _on_config(self, config: AgentConfig, version: int) -> None:
        self.spool.max_bytes = config.spool.max_bytes
        self.spool.max_events = config.spool.max_events
        self.uplink.settings = config.fleet
        log.info("config v%d: spool bounds and uplink settings updated", version)

    def close(self) -> None:
        """Close the spool (checkpoint) and the store; stop the uplink first."""
        self.spool.close()
        self.store.close()
