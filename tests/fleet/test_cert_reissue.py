"""CertificateService.ReissueDevice: the way back for a box that can no longer renew.

Real fleet, real TLS: a reissue token re-certifies the same device (id, site, name kept),
voids every older certificate at once (a stream still using one is cut), works once, and
is refused for revoked or unknown devices and for callers below admin.
"""

from __future__ import annotations

import grpc
import pytest

from proto.oko.v1 import admin_pb2, watchlists_pb2
from proto.oko.v1 import watchlists_pb2_grpc as wl_grpc
from proto.transport import bearer_metadata
from tests.fleet.cert_helpers import enroll_with, refused, reissue, renewed_identity, welcome
from tests.fleet.conftest import Fleet
from tests.fleet.helpers import AgentStream, admin_stub, new_device

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


async def test_a_reissued_box_keeps_its_device_id_and_old_certificates_stop_working(
    fleet: Fleet,
) -> None:
    port = fleet.server.agent_port
    box = await new_device(fleet.server, fleet.admin, fleet.ca, name="pole-17", site="north")
    renewed = await renewed_identity(box, port)  # two accepted certificates before the reissue
    async with renewed.channel(port) as channel:
        live = AgentStream(channel)
        await live.next("welcome")
        ticket = await reissue(fleet.api, fleet.admin, box.device_id)
        assert ticket.device_id == box.device_id and ticket.token.startswith("oko1.")
        again, _ = await enroll_with(fleet.api, ticket.token)
        with pytest.raises(grpc.aio.AioRpcError) as cut:
            await live.next("ack", timeout=10)
        assert cut.value.code() == grpc.StatusCode.UNAUTHENTICATED
        live.close()
    assert (again.device_id, again.site) == (box.device_id, "north")
    assert await welcome(again, port) == box.device_id
    for old in (box, renewed):
        assert await refused(old, port) == grpc.StatusCode.UNAUTHENTICATED
    device = await admin_stub(fleet.api).GetDevice(
        admin_pb2.GetDeviceRequest(device_id=box.device_id),
        metadata=bearer_metadata(fleet.admin),
        timeout=10,
    )
    assert device.name == "pole-17" and device.certificate_renewals == 2
    with pytest.raises(grpc.aio.AioRpcError) as reused:
        await enroll_with(fleet.api, ticket.token)
    assert reused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    audit = await wl_grpc.WatchlistServiceStub(fleet.api).ListAudit(
        watchlists_pb2.ListAuditRequest(action="device.reissue", limit=10),
        metadata=bearer_metadata(fleet.admin),
    )
    assert [r.target for r in audit.records] == [box.device_id]
    assert "rma 7" in audit.records[0].detail


async def _code(coro: object) -> grpc.StatusCode:
    try:
        await coro  # type: ignore[misc]
    except grpc.aio.AioRpcError as err:
        return err.code()
    raise AssertionError("call succeeded")


async def test_reissue_is_refused_for_revoked_unknown_devices_and_non_admins(
    fleet: Fleet,
) -> None:
    box = await new_device(fleet.server, fleet.admin, fleet.ca)
    pending = await reissue(fleet.api, fleet.admin, box.device_id)  # minted before the revoke
    viewer = await admin_stub(fleet.api).CreateApiToken(
        admin_pb2.CreateApiTokenRequest(name="wall", role=admin_pb2.ROLE_VIEWER),
        metadata=bearer_metadata(fleet.admin),
    )
    assert (
        await _code(reissue(fleet.api, viewer.token, box.device_id))
        == grpc.StatusCode.PERMISSION_DENIED
    )
    assert (
        await _code(reissue(fleet.api, fleet.admin, box.device_id, ttl=8 * 86_400))
        == grpc.StatusCode.INVALID_ARGUMENT
    )
    assert await _code(reissue(fleet.api, fleet.admin, "dev-nope")) == grpc.StatusCode.NOT_FOUND
    await admin_stub(fleet.api).RevokeDevice(
        admin_pb2.RevokeDeviceRequest(device_id=box.device_id, reason="stolen"),
        metadata=bearer_metadata(fleet.admin),
    )
    assert (
        await _code(reissue(fleet.api, fleet.admin, box.device_id))
        == grpc.StatusCode.PERMISSION_DENIED
    )
    # A token minted before the revoke does not bring the device back either.
    assert await _code(enroll_with(fleet.api, pending.token)) == grpc.StatusCode.PERMISSION_DENIED
    tokens = await admin_stub(fleet.api).ListTokens(
        admin_pb2.ListTokensRequest(), metadata=bearer_metadata(fleet.admin)
    )
    (mine,) = [t for t in tokens.tokens if t.token_id == pending.token_id]
    assert not mine.used and mine.name == f"reissue {box.device_id}: rma 7"
