"""The model registry refuses what it must not store, naming the field, and stores nothing.

A real fleet on loopback TLS, a real packaged and signed artifact (the shipped nanodet-g
INT8 file with its warm-up frames). Every push that is unsigned, signed by an untrusted
key, altered after signing, mislabelled, malformed, short of a file or carrying other
bytes than it announces is refused before a version exists; FetchModel serves only what
is assigned to the calling box; a box's ModelReport is bounded like every other message,
and a hostile one costs the other boxes nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from fleet.models import bundle
from models.schema import canonical, parse_entry
from models.signing import endorse, load_private_key, parse_public_key, sign_manifest
from proto.oko.v1 import agent_pb2, agent_pb2_grpc, models_pb2, models_pb2_grpc
from proto.transport import bearer_metadata
from tests.fleet.bystanders import Bystanders
from tests.fleet.conftest import Fleet, running_fleet
from tests.fleet.helpers import AgentStream, Identity, new_device
from tests.support.model_artifacts import INT8, SigningKey, make_key, packaged, reference_frames

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(180)]
VERSION = "1.1.0-int8"


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SigningKey]:
    root = tmp_path_factory.mktemp("artifact")
    key = make_key(root / "keys")
    frames = reference_frames(root / "frames", (260, 520))
    return packaged(INT8, "nanodet-g", VERSION, frames=frames, out=root / "out", key=key), key


def _stub(fleet: Fleet) -> models_pb2_grpc.ModelServiceAsyncStub:
    return models_pb2_grpc.ModelServiceStub(fleet.api)


async def _trust(fleet: Fleet, key: SigningKey, **fields: Any) -> models_pb2.SigningKey:
    request = models_pb2.AddSigningKeyRequest(public_key=key.public.read_bytes(), **fields)
    return await _stub(fleet).AddSigningKey(request, metadata=bearer_metadata(fleet.admin))


def _requests(found: bundle.Bundle, **header: Any) -> Iterator[models_pb2.PushModelRequest]:
    stream = bundle.push_requests(found)
    first = next(stream)
    for name, value in header.items():
        setattr(first.header, name, value)
    yield first
    yield from stream


def _push_sync(
    fleet: Fleet, requests: Iterator[models_pb2.PushModelRequest]
) -> models_pb2.ModelInfo:
    """PushModel as okoctl makes it (the blocking client, which streams from a thread)."""
    creds = grpc.ssl_channel_credentials(root_certificates=fleet.ca)
    with grpc.secure_channel(f"localhost:{fleet.server.api_port}", creds) as channel:
        stub = models_pb2_grpc.ModelServiceStub(channel)
        reply: models_pb2.ModelInfo = stub.PushModel(
            requests, metadata=bearer_metadata(fleet.admin), timeout=60
        )
        return reply


async def _push(
    fleet: Fleet, requests: Iterator[models_pb2.PushModelRequest]
) -> models_pb2.ModelInfo:
    return await asyncio.to_thread(_push_sync, fleet, requests)


async def _push_refused(fleet: Fleet, requests: Iterator[models_pb2.PushModelRequest]) -> str:
    with pytest.raises(grpc.RpcError) as info:
        await _push(fleet, requests)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value
    return info.value.details() or ""


async def test_pushes_are_refused_naming_what_is_wrong_and_nothing_is_stored(
    fleet: Fleet, signed: tuple[Path, SigningKey], tmp_path: Path
) -> None:
    model, key = signed
    found = bundle.read_bundle(model, "nanodet-g", VERSION)
    reason = await _push_refused(fleet, bundle.push_requests(found))
    assert "no trusted signing key verifies it" in reason  # nobody trusted yet
    await _trust(fleet, key, name="release")
    stranger = make_key(tmp_path, "stranger")
    entry = found.entry
    by_stranger = sign_manifest(load_private_key(stranger.private), canonical(entry))
    altered = entry.model_copy(update={"notes": "changed after signing"})
    cases: list[tuple[dict[str, Any], str]] = [
        ({"signature": b""}, "signature: required"),
        ({"signature": by_stranger}, "no trusted signing key verifies it"),
        ({"manifest": canonical(altered)}, "no trusted signing key verifies it"),
        ({"version": "9.9.9"}, "manifest: describes nanodet-g@1.1.0-int8"),
        ({"name": "Bad Name"}, "name: must match"),
    ]
    for header, expected in cases:
        assert expected in await _push_refused(fleet, _requests(found, **header))
    bad_shape = json.loads(canonical(entry))
    bad_shape["input"]["shape"] = [1, 3, 416]
    reason = await _push_refused(fleet, _requests(found, manifest=json.dumps(bad_shape)))
    assert reason.startswith("manifest: input.shape")

    def without_frames() -> Iterator[models_pb2.PushModelRequest]:
        for message in bundle.push_requests(found):
            if message.WhichOneof("body") == "file" and message.file.sha256 != entry.sha256:
                return
            yield message

    assert "files missing from the push" in await _push_refused(fleet, without_frames())

    def other_bytes() -> Iterator[models_pb2.PushModelRequest]:
        for message in bundle.push_requests(found):
            if message.WhichOneof("body") == "data" and len(message.data) > 1000:
                message.data = bytes(len(message.data))
            yield message

    assert "file sha256 is" in await _push_refused(fleet, other_bytes())

    def unnamed() -> Iterator[models_pb2.PushModelRequest]:
        stream = bundle.push_requests(found)
        yield next(stream)
        yield models_pb2.PushModelRequest(file=models_pb2.PushFile(sha256="0" * 64, size=10))

    assert "not named by the manifest" in await _push_refused(fleet, unnamed())
    listed = await _stub(fleet).ListModels(
        models_pb2.ListModelsRequest(), metadata=bearer_metadata(fleet.admin)
    )
    assert list(listed.models) == []
    assert not list((fleet.data_dir / "models" / "tmp").glob("*"))  # no partial uploads left

    stored = await _push(fleet, bundle.push_requests(found))
    assert (stored.name, stored.version, stored.frames) == ("nanodet-g", VERSION, 2)
    assert stored.key_id == key.key_id and parse_entry(json.loads(stored.manifest)) == entry
    with pytest.raises(grpc.RpcError) as again:
        await _push(fleet, bundle.push_requests(found))
    assert again.value.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_keys_are_added_only_with_a_valid_endorsement(fleet: Fleet, tmp_path: Path) -> None:
    first, second = make_key(tmp_path, "first"), make_key(tmp_path, "second")
    await _trust(fleet, first)
    old = load_private_key(first.private)
    raw = parse_public_key(second.public.read_bytes())
    cases: list[tuple[dict[str, Any], str]] = [
        ({"endorsed_by": "0123456789abcdef", "endorsement": endorse(old, raw)}, "not trusted"),
        ({"endorsed_by": first.key_id, "endorsement": b"x" * 64}, "endorsement: key endorsement"),
        ({"endorsement": endorse(old, raw)}, "given without endorsed_by"),
    ]
    for fields, reason in cases:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await _trust(fleet, second, **fields)
        assert reason in (info.value.details() or ""), info.value.details()
    added = await _trust(fleet, second, endorsed_by=first.key_id, endorsement=endorse(old, raw))
    assert added.endorsed_by == first.key_id
    with pytest.raises(grpc.aio.AioRpcError) as dup:
        await _trust(fleet, second)
    assert dup.value.code() == grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.aio.AioRpcError) as garbage:
        await _stub(fleet).AddSigningKey(
            models_pb2.AddSigningKeyRequest(public_key=b"not a key"),
            metadata=bearer_metadata(fleet.admin),
        )
    assert "public_key:" in (garbage.value.details() or "")
    listed = await _stub(fleet).ListSigningKeys(
        models_pb2.ListSigningKeysRequest(), metadata=bearer_metadata(fleet.admin)
    )
    assert [k.key_id for k in listed.keys] == [first.key_id, second.key_id]


async def test_fetch_serves_only_what_is_assigned_to_the_calling_box(
    fleet: Fleet, signed: tuple[Path, SigningKey]
) -> None:
    model, key = signed
    await _trust(fleet, key)
    found = bundle.read_bundle(model, "nanodet-g", VERSION)
    stored = await _push(fleet, bundle.push_requests(found))
    box = await new_device(fleet.server, fleet.admin, fleet.ca, name="fetcher")
    other = await new_device(fleet.server, fleet.admin, fleet.ca, name="other")
    meta = bearer_metadata(fleet.admin)
    await _stub(fleet).AssignModel(
        models_pb2.AssignModelRequest(
            device_ids=[box.device_id], name="nanodet-g", version=VERSION
        ),
        metadata=meta,
    )

    async def fetch(ident: Identity, **fields: Any) -> bytes:
        async with ident.channel(fleet.server.agent_port) as channel:
            stub = agent_pb2_grpc.AgentServiceStub(channel)
            request = models_pb2.FetchModelRequest(name="nanodet-g", version=VERSION, **fields)
            return b"".join([c.data async for c in stub.FetchModel(request, timeout=30)])

    data = await fetch(box)
    assert len(data) == stored.size and data == model.read_bytes()
    assert await fetch(box, offset=stored.size - 100) == data[-100:]
    frame = found.entry.warmup.frames[0] if found.entry.warmup else None
    assert frame is not None and len(await fetch(box, file_sha256=frame.sha256)) == frame.bytes
    refusals: list[tuple[Identity, dict[str, Any], grpc.StatusCode]] = [
        (other, {}, grpc.StatusCode.NOT_FOUND),  # not assigned to that box
        (box, {"offset": stored.size + 1}, grpc.StatusCode.INVALID_ARGUMENT),
        (box, {"file_sha256": "ab" * 32}, grpc.StatusCode.NOT_FOUND),
    ]
    for ident, fields, code in refusals:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await fetch(ident, **fields)
        assert info.value.code() == code, info.value
    with pytest.raises(grpc.aio.AioRpcError) as anonymous:  # the API port has no client cert
        stub = agent_pb2_grpc.AgentServiceStub(fleet.api)
        await stub.FetchModel(
            models_pb2.FetchModelRequest(name="nanodet-g", version=VERSION)
        ).read()
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_model_reports_are_bounded_and_a_hostile_one_costs_others_nothing(
    tmp_path: Path,
) -> None:
    async with running_fleet(tmp_path / "f") as fleet:
        bystanders = await Bystanders.join(fleet)
        bad = await new_device(fleet.server, fleet.admin, fleet.ca, name="bad-box")
        report = models_pb2.ModelReport
        ok_slot = {"slot": "detector", "state": models_pb2.MODEL_STATE_RUNNING}
        cases = [
            (report(slot="x" * 5000), "model_report.slot"),
            (report(**ok_slot, error="boom\x1b[2J"), "model_report.error 'boom\\x1b[2J'"),  # type: ignore[arg-type]
            (report(slot="detector", state=77), "model_report.state 77"),  # type: ignore[arg-type]
            (
                report(**ok_slot, running=models_pb2.ModelRef(name="n" * 500)),  # type: ignore[arg-type]
                "model_report.running.name has 500 characters",
            ),
            (report(**ok_slot, assignment_id=2**64 - 1), "model_report.assignment_id"),  # type: ignore[arg-type]
        ]
        for message, reason in cases:
            async with bad.channel(fleet.server.agent_port) as channel:
                stream = AgentStream(channel)
                await stream.next("welcome")
                stream.send(agent_pb2.AgentMessage(model_report=message))
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await stream.next("never")
                stream.close()
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert reason in (info.value.details() or ""), info.value.details()
            await bystanders.still_served()
        status = await _stub(fleet).GetModelStatus(
            models_pb2.GetModelStatusRequest(device_id=bad.device_id),
            metadata=bearer_metadata(fleet.admin),
        )
        assert [s.state for s in status.slots] == ["pending"]  # nothing of it was stored
        assert not status.slots[0].HasField("report")
        await bystanders.close()
