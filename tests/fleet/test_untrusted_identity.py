"""Issue 9, defect 4: a box cannot publish under another site or another device.

The enrolled site and the device id are the fleet's to stamp (from the enrollment token
and the box's certificate). An event claiming anything else is refused with a reason and
never stored as claimed: a subscriber of the other site never sees it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from fleet.store.records import EventQuery
from proto.oko.v1 import events_pb2
from tests.fleet.bystanders import Bystanders
from tests.fleet.conftest import Fleet
from tests.fleet.helpers import AgentStream, event, new_device

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


@pytest.fixture
async def watched(fleet: Fleet) -> AsyncIterator[tuple[Fleet, Bystanders]]:
    bystanders = await Bystanders.join(fleet)
    yield fleet, bystanders
    await bystanders.close()


async def test_a_box_claiming_another_site_or_device_is_refused(
    watched: tuple[Fleet, Bystanders],
) -> None:
    fleet, bystanders = watched
    good_box = (await fleet.server.app.store.list_devices("good"))[0].device_id
    ident = await new_device(fleet.server, fleet.admin, fleet.ca, name="bad-box", site="site-a")
    async with ident.channel(fleet.server.agent_port) as channel:
        stream = AgentStream(channel)
        other_site = event("cam-good", 1)
        other_site.site = "good"  # the bystanders' site: their subscriber must not see it
        other_device = event("cam-good", 2)
        other_device.device_id = good_box
        own_site = event("cam-1", 3)
        own_site.site = "site-a"
        unstamped = event("cam-1", 4)
        stream.send_batch([other_site, other_device, own_site, unstamped])
        ack = (await stream.next("ack")).ack
        reasons = {r.index: r.reason for r in ack.rejected}
        assert ack.accepted == 2 and sorted(reasons) == [0, 1]
        assert "site 'good' is not the site this device is enrolled at ('site-a')" in reasons[0]
        assert f"device_id '{good_box}' is not this device's certificate" in reasons[1]
        stream.close()
    await bystanders.still_served()  # and its subscriber got only the good box's events
    rows = await fleet.server.app.store.read_events(EventQuery(limit=1000))
    mine = [events_pb2.Event.FromString(r.payload) for r in rows if r.device_id == ident.device_id]
    assert [e.event_id for e in mine] == [own_site.event_id, unstamped.event_id]
    assert {(e.site, e.device_id) for e in mine} == {("site-a", ident.device_id)}
    assert {r.site for r in rows if r.device_id == ident.device_id} == {"site-a"}
