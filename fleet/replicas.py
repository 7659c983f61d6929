"""What a replica does when another replica tells it something (fleet/bus.py notices).

Each action here is also done by the replica where the change was made, at the place it
was made (fleet/services/admin.py); this module repeats it for boxes and streams that are
connected to *this* replica. Features register their own kinds with `on` (the watchlist
matcher reloads its galleries on `watchlists`).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import grpc
from google.protobuf.message import DecodeError

from fleet import bus
from fleet.bus import Bus, Notice
from fleet.config_refresh import ConfigRefresher
from fleet.errors import FleetError
from fleet.services import convert
from proto.oko.v1 import agent_pb2

if TYPE_CHECKING:
    from fleet.app import FleetApp

log = logging.getLogger(__name__)
Handler = Callable[[Notice], Awaitable[None]]


class Replication:
    """Notices out (`notify`) and in (`handle`), with the fleet's own handlers registered."""

    def __init__(self, app: FleetApp, bus_: Bus) -> None:
        self.app = app
        self.bus = bus_
        self._handlers: dict[str, list[Handler]] = {}
        # Boxes connected to other replicas: device -> start of that stream (for `online`).
        self._remote: dict[str, int] = {}
        self.configs = ConfigRefresher(self._send_desired)
        self.on(bus.CONFIG, self._config)
        self.on(bus.CONFIGS, self._configs)
        self.on(bus.REVOKE, self._revoke)
        self.on(bus.TOKEN_REVOKED, self._token_revoked)
        self.on(bus.SESSION, self._session)
        self.on(bus.SESSION_END, self._session_end)
        self.on(bus.REISSUED, self._reissued)
        self.on(bus.COMMAND, self._command)
        self.on(bus.MODELS, self._models)
        self.on(bus.WEBHOOKS, self._webhooks)

    @property
    def replica_id(self) -> str:
        """This replica's name."""
        return self.bus.replica_id

    def connected(self, device_id: str) -> bool:
        """Whether the device has a live stream on this replica or, by notices, another.

        A replica that died sent no `session_end`; `online` also needs a recent heartbeat
        (services/convert.device_status), so such a box shows offline within that window.
        """
        return self.app.sessions.connected(device_id) or device_id in self._remote

    def on(self, kind: str, handler: Handler) -> None:
        """Run `handler` for every notice of `kind` from another replica."""
        self._handlers.setdefault(kind, []).append(handler)

    async def notify(self, kind: str, **data: str) -> None:
        """Tell the other replicas (this one has already acted)."""
        await self.bus.notify(Notice(kind, data))

    async def handle(self, notice: Notice) -> None:
        """Dispatch one notice from another replica."""
        for handler in self._handlers.get(notice.kind, ()):
            try:
                await handler(notice)
            except FleetError as err:
                log.warning("notice %s %s: %s", notice.kind, notice.data, err)

    async def _config(self, notice: Notice) -> None:
        device_id = notice.data.get("device_id", "")
        if self.app.sessions.get(device_id) is not None:
            self.configs.notice(device_id)  # the read runs beside the next notices'

    async def _configs(self, notice: Notice) -> None:
        """A push to many boxes: refresh those of them connected here (fleet/config_push)."""
        for device_id in notice.data.get("device_ids", "").split(","):
            if device_id and self.app.sessions.get(device_id) is not None:
                self.configs.notice(device_id)

    async def _send_desired(self, device_id: str) -> None:
        session = self.app.sessions.get(device_id)
        if session is None:
            return
        rendered = await self.app.store.get_desired(device_id)
        if rendered is not None:
            session.send(convert.desired_to_proto(rendered))

    async def _revoke(self, notice: Notice) -> None:
        serial = notice.data.get("serial", "")
        if serial:
            self.app.revocations.add(serial)
        self.app.sessions.cut(
            notice.data.get("device_id", ""), grpc.StatusCode.PERMISSION_DENIED, "device revoked"
        )

    async def _token_revoked(self, notice: Notice) -> None:
        self.app.streams.end_token(
            notice.data.get("token_id", ""), notice.data.get("reason", "API token revoked")
        )

    async def _session(self, notice: Notice) -> None:
        device_id, since = _stream_of(notice)
        self._remote[device_id] = since
        self.app.sessions.cut_older(
            device_id, since, f"superseded by a newer connection of this device ({notice.origin})"
        )

    async def _session_end(self, notice: Notice) -> None:
        device_id, since = _stream_of(notice)
        if self._remote.get(device_id) == since:
            del self._remote[device_id]

    async def _reissued(self, notice: Notice) -> None:
        at = notice.data.get("at_us", "0")
        self.app.sessions.cut_older(
            notice.data.get("device_id", ""),
            int(at) if at.isdigit() else 0,
            "device certificate reissued",
            grpc.StatusCode.UNAUTHENTICATED,
        )

    async def send_command(self, device_id: str, command: agent_pb2.Command) -> bool:
        """Send to the device's stream here, or through the replica it is connected to.

        True when it went to a stream here or to a replica that had one a moment ago.
        """
        session = self.app.sessions.get(device_id)
        if session is not None:
            session.send(agent_pb2.FleetMessage(command=command))
            return True
        if device_id not in self._remote:
            return False
        encoded = base64.b64encode(command.SerializeToString()).decode()
        await self.notify(bus.COMMAND, device_id=device_id, command=encoded)
        return True

    async def _command(self, notice: Notice) -> None:
        session = self.app.sessions.get(notice.data.get("device_id", ""))
        if session is None:
            return
        try:
            command = agent_pb2.Command.FromString(base64.b64decode(notice.data["command"]))
        except (KeyError, ValueError, DecodeError) as err:
            log.warning("ignored a command notice that does not parse: %s", err)
            return
        session.send(agent_pb2.FleetMessage(command=command))

    async def models_changed(self, device_id: str, slot: str) -> bool:
        """A model assignment for a device not connected here: tell the replica that has it.

        Whether the device is connected to another replica (as far as notices say).
        """
        if device_id not in self._remote:
            return False
        await self.notify(bus.MODELS, device_id=device_id, slot=slot)
        return True

    async def _models(self, notice: Notice) -> None:
        from fleet.models import wire  # the model registry's wire format (no cycle at import)

        session = self.app.sessions.get(notice.data.get("device_id", ""))
        if session is None:
            return
        for assignment in await self.app.store.get_assignments(session.device_id):
            if assignment.slot == notice.data.get("slot", ""):
                session.send(await wire.assignment_message(self.app.store, assignment))

    async def _webhooks(self, notice: Notice) -> None:
        await self.app.webhooks.resync()


def _stream_of(notice: Notice) -> tuple[str, int]:
    """(device id, stream start) of a session notice; start 0 when it is not a number."""
    started = notice.data.get("started_us", "0")
    return notice.data.get("device_id", ""), int(started) if started.isdigit() else 0
