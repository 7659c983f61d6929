"""RolloutService against a real fleet with simulated boxes over real mTLS.

The boxes download the signed artifact with FetchModel, verify it and report; the fleet's
controller runs canary, steps and gates on what they report and send. A version the boxes
see nothing with fails the quality gate at the canary and is given back to exactly the
boxes that got it; a box that restarts twice fails the crash-loop gate; everything is in
the audit chain; refusals name the field.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import grpc
import pytest

from fleet.audit_chain import verify_chain
from fleet.watchlists.records import AuditRow
from proto import transport
from proto.oko.v1 import admin_pb2, rollouts_pb2, watchlists_pb2, watchlists_pb2_grpc
from tests.fleet.rollout_support import (
    BLIND,
    GOOD,
    call,
    code_of,
    create,
    get,
    package_versions,
    sim_fleet,
    thread_fleet,
    wait_canary,
    wait_state,
)
from tests.support import sim_boxes
from tests.support.model_artifacts import SigningKey, make_key, reference_frames

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(240)]
GOOD_MODEL = sim_boxes.Behaviour(rate_hz=4.0, score_mean=0.62, inference_ms=14.0)
BEHAVIOURS = {
    "1.0.0": sim_boxes.Behaviour(rate_hz=4.0, score_mean=0.6, inference_ms=11.0),
    GOOD: GOOD_MODEL,
    BLIND: sim_boxes.Behaviour(rate_hz=0.0, inference_ms=11.0),
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    return make_key(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory, key: SigningKey) -> dict[str, Path]:
    frames = reference_frames(tmp_path_factory.mktemp("frames"), (260,))
    return package_versions(key, frames, tmp_path_factory.mktemp("versions"))


def _audit(handle) -> list[AuditRow]:
    stub = watchlists_pb2_grpc.WatchlistServiceStub(handle.channel())
    reply = stub.ListAudit(
        watchlists_pb2.ListAuditRequest(limit=5000),
        metadata=transport.bearer_metadata(handle.admin_token),
        timeout=30,
    )
    return [
        AuditRow(
            r.seq,
            r.at.seconds * 1_000_000 + r.at.nanos // 1000,
            r.actor,
            r.action,
            r.target,
            r.detail,
            r.prev_hash,
            r.hash,
        )
        for r in reply.records
    ]


async def test_a_good_version_goes_to_done_and_a_blind_one_is_rolled_back(
    tmp_path: Path, key: SigningKey, versions: dict[str, Path], store_kind: str
) -> None:
    async with thread_fleet(tmp_path / "fleet", key, versions, store=store_kind) as fleet:
        boxes = await sim_fleet(fleet, ["north"] * 4 + ["south"] * 2, BEHAVIOURS)
        north = {b.device_id for b in boxes[:4]}
        async with sim_boxes.running(boxes):
            await asyncio.sleep(4)  # a baseline of events from the shipped model
            blind = await asyncio.to_thread(create, fleet, BLIND, canary_percent=50)
            assert blind.state == "pending" and blind.boxes == 4
            assert [p.boxes for p in blind.progress] == [2, 4]
            ended = await wait_state(fleet, blind.rollout_id, ["rolled_back"])
            # Both canaries go blind; whichever fails first already breaks the 0 % budget.
            assert re.match(r"[12] of 2 updated boxes failed \(limit 0%\)", ended.reason)
            assert "quality:" in ended.reason and "detection rate x0.00" in ended.reason
            canary = {d.device_id for d in ended.devices if d.step == 0}
            assert len(canary) == 2 and canary <= north
            assert ended.updated == 2 and ended.given_back == 2
            failed = [d for d in ended.devices if d.verdict == "failed"]
            assert failed and all(
                any(g.gate == "quality" and g.verdict == "fail" for g in d.gates) for d in failed
            )
            for d in ended.devices:
                if d.device_id in canary:
                    assert d.verdict in ("failed", "updating") and d.rolled_back_at.seconds
                    assert d.previous_model == "nanodet-g@1.0.0"
                else:
                    assert d.verdict == "waiting" and not d.assigned_at.seconds
            back = await wait_state_back(fleet, blind.rollout_id, 2)
            assert back.back_on_previous == 2
            for box in boxes:  # nobody else ever downloaded it; the canary is back on v1
                assert box.running.version == "1.0.0", box.device_id
                assert (box.bytes_fetched > 0) == (box.device_id in canary)

            good = await asyncio.to_thread(create, fleet, GOOD, steps=[50, 100])
            done = await wait_state(fleet, good.rollout_id, ["done"])
            assert done.reason == "4 boxes run nanodet-g@2.0.0-fp32"
            assert done.healthy == 4 and done.failed == 0
            assert [(p.name, p.healthy) for p in done.progress] == [
                ("canary", 1),
                ("step 1", 1),
                ("step 2", 2),
            ]
            for d in done.devices:
                assert {g.gate: g.verdict for g in d.gates} == dict.fromkeys(
                    ("apply", "crash_loop", "offline", "latency", "quality"), "pass"
                ), d
            for box in boxes:
                want = GOOD if box.device_id in north else "1.0.0"
                assert box.running.version == want
        listed = call(fleet, "ListRollouts", rollouts_pb2.ListRolloutsRequest())
        assert [r.state for r in listed.rollouts] == ["done", "rolled_back"]
        assert all(not r.devices for r in listed.rollouts)
        rows = await asyncio.to_thread(_audit, fleet)
    assert verify_chain(rows).ok
    actions = [(r.actor, r.action) for r in rows]
    assert ("bootstrap-admin", "rollout.create") in actions
    actor = f"rollout:{blind.rollout_id}"
    assert (actor, "model.assign") in actions and (actor, "model.rollback") in actions
    notes = [r.detail for r in rows if r.actor == actor and r.action == "rollout.progress"]
    assert notes[0] == "canary started" and notes[-1].startswith("rolled back: ")


async def wait_state_back(fleet, rollout_id: str, count: int) -> rollouts_pb2.Rollout:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while (r := await asyncio.to_thread(get, fleet, rollout_id)).back_on_previous < count:
        assert loop.time() < deadline, f"only {r.back_on_previous} of {count} boxes back"
        await asyncio.sleep(0.2)
    return r


async def test_a_box_in_a_crash_loop_fails_its_gate_and_pause_holds_the_next_step(
    tmp_path: Path, key: SigningKey, versions: dict[str, Path]
) -> None:
    async with thread_fleet(tmp_path / "fleet", key, versions) as fleet:
        boxes = await sim_fleet(fleet, ["north"] * 4, BEHAVIOURS)
        async with sim_boxes.running(boxes):
            await asyncio.sleep(2)
            r = await asyncio.to_thread(create, fleet, GOOD, interval_seconds=30)
            r = await wait_canary(fleet, r.rollout_id)
            paused = call(
                fleet, "PauseRollout", rollouts_pb2.RolloutActionRequest(rollout_id=r.rollout_id)
            )
            assert paused.state == "paused" and paused.reason == "paused by bootstrap-admin"
            canary = next(d.device_id for d in paused.devices if d.step == 0)
            box = next(b for b in boxes if b.device_id == canary)
            await _until(lambda: box.running.version == GOOD, "the canary to swap")
            for _ in range(2):  # two process restarts after the update: a crash loop
                box.restart()
                await asyncio.sleep(1.0)
            ended = await wait_state(fleet, r.rollout_id, ["rolled_back"])
            assert "crash_loop: 2 restarts since the update (limit 1)" in ended.reason
            assert ended.updated == 1  # paused: the next step never started
            await _until(lambda: box.running.version == "1.0.0", "the canary to go back")
            with pytest.raises(grpc.RpcError) as refused:
                call(
                    fleet,
                    "ResumeRollout",
                    rollouts_pb2.RolloutActionRequest(rollout_id=r.rollout_id),
                )
            assert code_of(refused.value) == grpc.StatusCode.FAILED_PRECONDITION
            assert "only a paused rollout can resume" in (refused.value.details() or "")


async def _until(condition, what: str, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def test_refusals_name_the_field_and_roles_are_enforced(
    tmp_path: Path, key: SigningKey, versions: dict[str, Path]
) -> None:
    async with thread_fleet(tmp_path / "fleet", key, versions) as fleet:
        await sim_fleet(fleet, ["north"] * 2, BEHAVIOURS)  # enrolled, never connected

        def refused(code: grpc.StatusCode, text: str, **fields: object) -> None:
            with pytest.raises(grpc.RpcError) as err:
                create(fleet, fields.pop("version", GOOD), **fields)  # type: ignore[arg-type]
            assert code_of(err.value) == code, err.value
            assert text in (err.value.details() or ""), err.value.details()

        bad = grpc.StatusCode.INVALID_ARGUMENT
        refused(bad, "steps: Value error, steps must increase: 50 after 60", steps=[60, 50, 100])
        refused(bad, "steps: Value error, steps must end at 100, not 90", steps=[50, 90])
        refused(bad, "canary_percent: Input should be less than or equal to 50", canary_percent=80)
        refused(bad, "canary_percent: Input should be greater than 0", canary_percent=0)
        refused(
            bad, "interval_seconds: Input should be greater than or equal to 1", interval_seconds=0
        )
        refused(
            bad,
            "gates.max_ks: Input should be less than or equal to 1",
            gates={"max_ks": 3},
        )
        refused(bad, "selector term 1 ('site'): expected key=value", selector="site")
        refused(bad, "selector: no enrolled device matches 'site=mars'", selector="site=mars")
        refused(grpc.StatusCode.NOT_FOUND, "model nanodet-g@9.9 not found", version="9.9")

        plan = create(fleet, GOOD, dry_run=True)
        assert plan.dry_run and plan.boxes == 2 and [p.boxes for p in plan.progress] == [1, 2]
        empty = call(fleet, "ListRollouts", rollouts_pb2.ListRolloutsRequest())
        assert not empty.rollouts  # a dry run stores nothing

        first = create(fleet, GOOD)
        refused(
            grpc.StatusCode.FAILED_PRECONDITION, f"is already in active rollout {first.rollout_id}"
        )

        viewer = fleet.admin(
            "CreateApiToken",
            admin_pb2.CreateApiTokenRequest(name="wall", role=admin_pb2.ROLE_VIEWER),
        ).token
        seen = call(
            fleet,
            "GetRollout",
            rollouts_pb2.GetRolloutRequest(rollout_id=first.rollout_id),
            token=viewer,
        )
        assert seen.rollout_id == first.rollout_id and len(seen.devices) == 2
        for method, request in (
            ("AbortRollout", rollouts_pb2.AbortRolloutRequest(rollout_id=first.rollout_id)),
            ("PauseRollout", rollouts_pb2.RolloutActionRequest(rollout_id=first.rollout_id)),
            ("CreateRollout", rollouts_pb2.CreateRolloutRequest()),
        ):
            with pytest.raises(grpc.RpcError) as denied:
                call(fleet, method, request, token=viewer)
            assert code_of(denied.value) == grpc.StatusCode.PERMISSION_DENIED, method
        with pytest.raises(grpc.RpcError) as missing:
            call(fleet, "GetRollout", rollouts_pb2.GetRolloutRequest(rollout_id="ro-0123456789ab"))
        assert code_of(missing.value) == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as bad_id:
            call(fleet, "GetRollout", rollouts_pb2.GetRolloutRequest(rollout_id="ro-" + "x" * 4000))
        assert code_of(bad_id.value) == grpc.StatusCode.INVALID_ARGUMENT
        assert len(bad_id.value.details() or "") < 200  # the caller's text is not echoed

        kept = call(
            fleet,
            "AbortRollout",
            rollouts_pb2.AbortRolloutRequest(rollout_id=first.rollout_id, keep_updated=True),
        )
        assert kept.state == "aborted" and kept.reason.startswith("aborted by bootstrap-admin")
        with pytest.raises(grpc.RpcError) as again:
            call(
                fleet,
                "PauseRollout",
                rollouts_pb2.RolloutActionRequest(rollout_id=first.rollout_id),
            )
        assert code_of(again.value) == grpc.StatusCode.FAILED_PRECONDITION
