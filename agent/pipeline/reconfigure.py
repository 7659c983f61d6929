"""What a pushed config changes on a running box, and what a box runs. Pure logic.

Precedence (docs/operations.md, "Config precedence"): the local file (`--config`) is the
bootstrap - data dir, fleet address, spool path, metrics endpoint, device name - and always
wins for those; once the box is enrolled and has applied a fleet document, the fleet wins
for the cameras (with their rules), the spool bounds and the uplink tuning. A fleet document
that does not mention `cameras` leaves the local file's cameras running.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from agent.config.agent import AgentConfig, BoxConfig
from agent.config.camera import CameraSpec

# Fleet sections whose fields are bootstrap (restart-only) and stay the local file's.
_LOCAL_FLEET_FIELDS = ("api", "agent")


@dataclass(frozen=True)
class CameraChanges:
    """Camera ids to start, to stop, and to rebuild (their spec differs)."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def running(cameras: Sequence[CameraSpec]) -> dict[str, CameraSpec]:
    """The cameras that run (enabled ones) by id, in document order."""
    return {spec.id: spec for spec in cameras if spec.enabled}


def diff_cameras(old: Sequence[CameraSpec], new: Sequence[CameraSpec]) -> CameraChanges:
    """Compare two camera lists; a camera disabled in `new` counts as removed."""
    before, after = running(old), running(new)
    return CameraChanges(
        added=tuple(i for i in after if i not in before),
        removed=tuple(i for i in before if i not in after),
        changed=tuple(i for i in after if i in before and after[i] != before[i]),
    )


def fleet_cameras(local: BoxConfig, fleet: AgentConfig) -> tuple[CameraSpec, ...]:
    """The cameras a box runs under `fleet`: the fleet's if it names any, else the local file's."""
    return fleet.cameras if "cameras" in fleet.model_fields_set else local.cameras


def merge(local: BoxConfig, fleet: AgentConfig | None) -> BoxConfig:
    """The config a box runs: `local` with the fleet document on top (see the module doc)."""
    if fleet is None:
        return local
    tuning = fleet.fleet.model_copy(
        update={name: getattr(local.agent.fleet, name) for name in _LOCAL_FLEET_FIELDS}
    )
    spool = fleet.spool.model_copy(update={"path": local.agent.spool.path})
    cameras = fleet_cameras(local, fleet)
    agent = local.agent.model_copy(update={"fleet": tuning, "spool": spool, "cameras": cameras})
    return replace(local, agent=agent, cameras=cameras)
