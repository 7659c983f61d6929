"""API token expiry and revocation end the streams the token opened, over real gRPC/TLS,
and only those: another token's stream keeps receiving (issue 9, defect 7)."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from typer.testing import CliRunner

from fleet.ctl import app as okoctl
from proto.oko.v1 import admin_pb2, stream_pb2
from proto.transport import bearer_metadata
from tests.fleet.conftest import Fleet
from tests.fleet.helpers import AgentStream, admin_stub, event, event_stub, new_device

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]


async def _api_token(fleet: Fleet, name: str, ttl: int = 0) -> admin_pb2.CreateApiTokenResponse:
    return await admin_stub(fleet.api).CreateApiToken(
        admin_pb2.CreateApiTokenRequest(name=name, role=admin_pb2.ROLE_VIEWER, ttl_seconds=ttl),
        metadata=bearer_metadata(fleet.admin),
        timeout=10,
    )


def _subscribe(fleet: Fleet, token: str, batches: bool = False) -> Any:
    stub = event_stub(fleet.api)
    method = stub.SubscribeBatches if batches else stub.Subscribe
    return method(stream_pb2.SubscribeRequest(), metadata=bearer_metadata(token))


async def _send(fleet: Fleet, stream: AgentStream, camera: str, seq: int) -> None:
    stream.send_batch([event(camera, seq)])
    await stream.next("ack")


async def _next(call: Any, timeout: float = 15) -> Any:
    return await asyncio.wait_for(call.read(), timeout)


async def _ended_with(call: Any, timeout: float = 20) -> grpc.aio.AioRpcError:
    """Read until the stream fails; the error it failed with."""
    try:
        async with asyncio.timeout(timeout):
            while (await call.read()) is not grpc.aio.EOF:
                pass
    except grpc.aio.AioRpcError as err:
        return err
    raise AssertionError("stream ended without an error")


async def test_expired_token_ends_its_streams_and_no_other(fleet: Fleet) -> None:
    short = await _api_token(fleet, "wall-display", ttl=2)
    ident = await new_device(fleet.server, fleet.admin, fleet.ca)
    async with ident.channel(fleet.server.agent_port) as channel:
        box = AgentStream(channel)
        expiring = _subscribe(fleet, short.token)
        expiring_batches = _subscribe(fleet, short.token, batches=True)
        lasting = _subscribe(fleet, fleet.admin)
        await _send(fleet, box, "cam-1", 1)
        assert (await _next(expiring)).event.camera_id == "cam-1"
        assert (await _next(expiring_batches)).envelopes[0].event.camera_id == "cam-1"
        assert (await _next(lasting)).event.camera_id == "cam-1"

        for call in (expiring, expiring_batches):
            err = await _ended_with(call)
            assert err.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "'wall-display' has expired" in (err.details() or "")
        assert fleet.server.app.streams.count(short.token_id) == 0

        await _send(fleet, box, "cam-2", 2)
        assert (await _next(lasting)).event.camera_id == "cam-2"
        lasting.cancel()
        box.close()


async def test_revoked_token_is_refused_and_its_stream_ends_at_once(fleet: Fleet) -> None:
    doomed = await _api_token(fleet, "leaked")
    kept = await _api_token(fleet, "kept")
    admin = admin_stub(fleet.api)
    ident = await new_device(fleet.server, fleet.admin, fleet.ca)
    async with ident.channel(fleet.server.agent_port) as channel:
        box = AgentStream(channel)
        doomed_call = _subscribe(fleet, doomed.token)
        kept_call = _subscribe(fleet, kept.token)
        await _send(fleet, box, "cam-1", 1)
        await _next(doomed_call)
        await _next(kept_call)

        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await admin.RevokeApiToken(
                admin_pb2.RevokeApiTokenRequest(token_id=kept.token_id),
                metadata=bearer_metadata(doomed.token),
                timeout=10,
            )
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED

        reply = await admin.RevokeApiToken(
            admin_pb2.RevokeApiTokenRequest(token_id=doomed.token_id, reason="posted on a wiki"),
            metadata=bearer_metadata(fleet.admin),
            timeout=10,
        )
        assert (reply.name, reply.streams_ended) == ("leaked", 1)
        err = await _ended_with(doomed_call)
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "'leaked' was revoked: posted on a wiki" in (err.details() or "")

        with pytest.raises(grpc.aio.AioRpcError) as after:
            await admin.GetStatus(
                admin_pb2.GetStatusRequest(), metadata=bearer_metadata(doomed.token), timeout=10
            )
        assert after.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await admin.RevokeApiToken(
                admin_pb2.RevokeApiTokenRequest(token_id=doomed.token_id),
                metadata=bearer_metadata(fleet.admin),
                timeout=10,
            )
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND

        await _send(fleet, box, "cam-2", 2)
        assert (await _next(kept_call)).event.camera_id == "cam-2"
        kept_call.cancel()
        box.close()


async def test_okoctl_token_revoke(fleet: Fleet) -> None:
    victim = await _api_token(fleet, "old-script")
    ca_file = fleet.data_dir / "ca" / "ca.pem"
    env = {
        "OKO_FLEET": f"localhost:{fleet.server.api_port}",
        "OKO_TOKEN": fleet.admin,
        "OKO_CA_FILE": str(ca_file),
    }

    def run(*args: str) -> Any:
        return CliRunner().invoke(okoctl, list(args), env=env)

    # Blocking client in a thread: the server runs on this test's event loop.
    result = await asyncio.to_thread(run, "token", "revoke", victim.token_id, "--reason", "x")
    assert result.exit_code == 0, result.stderr
    assert f"{victim.token_id} (old-script) revoked" in result.stdout
    result = await asyncio.to_thread(run, "token", "revoke", victim.token_id)
    assert result.exit_code == 1 and result.stderr.startswith("error: NOT_FOUND")
    listed = await asyncio.to_thread(run, "--json", "token", "list")
    assert victim.token_id not in listed.stdout
