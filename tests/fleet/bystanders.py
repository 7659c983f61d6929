"""A well-behaved box and a live subscriber that watch a hostile box's test from the side.

Every untrusted-input test asserts two things: the hostile message gets a clear refusal,
and nobody else notices. `Bystanders.still_served()` is the second half: the good box's
new batch is acknowledged, the subscriber receives it, and everything stored before is
still there, unchanged.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import grpc

from fleet.store.records import EventQuery
from proto.oko.v1 import events_pb2, stream_pb2
from proto.transport import bearer_metadata
from tests.fleet.conftest import Fleet
from tests.fleet.helpers import AgentStream, event, event_stub, new_device


@dataclass
class Bystanders:
    fleet: Fleet
    channel: grpc.aio.Channel
    box: AgentStream
    subscription: grpc.aio.UnaryStreamCall
    sent: list[events_pb2.Event] = field(default_factory=list)
    received: list[stream_pb2.EventEnvelope] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    reader: asyncio.Task[None] | None = None

    @classmethod
    async def join(cls, fleet: Fleet) -> Bystanders:
        ident = await new_device(fleet.server, fleet.admin, fleet.ca, name="good-box", site="good")
        channel = ident.channel(fleet.server.agent_port)
        box = AgentStream(channel)
        await box.next("welcome")
        call = event_stub(fleet.api).Subscribe(
            stream_pb2.SubscribeRequest(filter=stream_pb2.EventFilter(sites=["good"])),
            metadata=bearer_metadata(fleet.admin),
        )
        watchers = cls(fleet, channel, box, call)
        watchers.reader = asyncio.create_task(watchers._read())
        await watchers.still_served()  # the subscription is live before the test starts
        return watchers

    async def _read(self) -> None:
        async for envelope in self.subscription:
            self.received.append(envelope)
            self.arrived.set()

    async def still_served(self, timeout: float = 10) -> None:
        """The good box is acknowledged, the subscriber gets its event, nothing was lost."""
        new = event("cam-good", len(self.sent) + 1)
        self.box.send_batch([new])
        ack = (await self.box.next("ack", timeout)).ack
        assert (ack.accepted, list(ack.rejected)) == (1, []), ack
        self.sent.append(new)

        async def delivered() -> None:
            while new.event_id not in {e.event.event_id for e in self.received}:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(delivered(), timeout)
        assert [e.event.event_id for e in self.received] == [e.event_id for e in self.sent]
        rows = await self.fleet.server.app.store.read_events(EventQuery(limit=100_000))
        stored = {r.event_id: events_pb2.Event.FromString(r.payload) for r in rows}
        for sent in self.sent:
            kept = stored[sent.event_id]
            assert (kept.camera_id, kept.sequence, kept.site) == ("cam-good", sent.sequence, "good")

    async def close(self) -> None:
        self.box.close()
        self.subscription.cancel()
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)
        await self.channel.close()
