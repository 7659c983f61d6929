"""Alerts with a human in the loop, and the verifiable audit log, over real gRPC/TLS.

An alert is raised by a real face (real photo, real models) sent by a test box; okoctl
runs in a worker thread against the in-process server, exactly as an operator would.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import grpc
import pytest
from typer.testing import CliRunner

from fleet.audit_chain import entry_hash
from fleet.ctl import app as okoctl
from proto.oko.v1 import admin_pb2, stream_pb2
from proto.oko.v1 import watchlists_pb2 as pb
from proto.transport import bearer_metadata
from tests.fleet import watchlist_helpers as wh
from tests.fleet.conftest import Fleet
from tests.fleet.helpers import AgentStream, event_stub, new_device

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(180)]


async def ctl(fleet: Fleet, token: str, *args: str) -> tuple[int, str, str]:
    env = {
        "OKO_FLEET": fleet.server.api_address,
        "OKO_TOKEN": token,
        "OKO_CA_FILE": str(fleet.data_dir / "ca" / "ca.pem"),
        "COLUMNS": "200",
    }
    result = await asyncio.to_thread(CliRunner().invoke, okoctl, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


async def _alert_for_collins(fleet: Fleet, track_ids: tuple[int, ...]) -> list[str]:
    """Enrol Collins with okoctl, send her face (other resolution) on tracks; alert ids."""
    admin = fleet.admin
    code, _, err = await ctl(fleet, admin, "watchlist", "create", "wanted")
    assert code == 0, err
    code, out, err = await ctl(
        fleet, admin, "--json", "subject", "add", "--watchlist", "wanted", "--name",
        "Eileen Collins", "--photo", str(wh.DATA / "astronaut.png"), "--reason", "test",
        "--expires", "30d",
    )  # fmt: skip
    assert code == 0, err
    subject = json.loads(out)
    assert subject["galleries"][0]["templates"] == 1 and subject["expires_at"]
    small = wh.box_embedding(wh.image("astronaut.png")[::2, ::2].copy())
    ident = await new_device(fleet.server, fleet.admin, fleet.ca)
    async with ident.channel(fleet.server.agent_port) as channel:
        stream = AgentStream(channel)
        stream.send_batch([wh.face_event("cam-1", t, small) for t in track_ids])
        assert (await stream.next("ack")).ack.accepted == len(track_ids)
        stream.close()
    ids: list[str] = []
    for _ in range(100):
        alerts = await wh.stub(fleet.api).ListAlerts(
            pb.ListAlertsRequest(), metadata=bearer_metadata(admin)
        )
        ids = [a.alert_id for a in alerts.alerts]
        if len(ids) == len(track_ids):
            break
        await asyncio.sleep(0.1)
    assert len(ids) == len(track_ids)
    return ids


async def _take(call: object, n: int) -> list[stream_pb2.EventEnvelope]:
    out: list[stream_pb2.EventEnvelope] = []

    async def _read() -> None:
        async for env in call:  # type: ignore[attr-defined]
            out.append(env)
            if len(out) == n:
                return

    try:
        await asyncio.wait_for(_read(), 20)
    except TimeoutError:
        raise AssertionError(f"got {len(out)} of {n}: {out}") from None
    finally:
        call.cancel()  # type: ignore[attr-defined]
    return out


async def _tokens(fleet: Fleet) -> dict[str, str]:
    roles = {"vic": admin_pb2.ROLE_VIEWER, "olga": admin_pb2.ROLE_OPERATOR}
    roles["otto"] = admin_pb2.ROLE_OPERATOR
    return {n: await wh.api_token(fleet.api, fleet.admin, n, r) for n, r in roles.items()}


async def test_two_operators_confirm_one_rejects_and_subscribers_see_each_decision(
    fleet: Fleet,
) -> None:
    tokens = await _tokens(fleet)
    decisions = event_stub(fleet.api).Subscribe(
        stream_pb2.SubscribeRequest(filter=stream_pb2.EventFilter(types=["watchlist_alert"])),
        metadata=bearer_metadata(tokens["vic"]),
    )
    faces_only = event_stub(fleet.api).Subscribe(
        stream_pb2.SubscribeRequest(filter=stream_pb2.EventFilter(types=["face"])),
        metadata=bearer_metadata(tokens["vic"]),
    )
    first, second = await _alert_for_collins(fleet, (1, 2))

    code, _, err = await ctl(fleet, tokens["vic"], "alert", "confirm", first)
    assert code == 1 and "PERMISSION_DENIED" in err
    code, out, err = await ctl(fleet, tokens["olga"], "--json", "alert", "confirm", first)
    assert code == 0, err
    after_one = json.loads(out)
    assert after_one["state"] == "STATE_CANDIDATE" and after_one["confirmations_needed"] == 1
    code, _, err = await ctl(fleet, tokens["olga"], "alert", "confirm", first)
    assert code == 1 and "FAILED_PRECONDITION" in err and "already decided" in err
    code, out, err = await ctl(
        fleet, tokens["otto"], "--json", "alert", "confirm", first, "--note", "seen"
    )
    assert code == 0, err
    confirmed = json.loads(out)
    assert confirmed["state"] == "STATE_CONFIRMED"
    assert [d["actor"] for d in confirmed["decisions"]] == ["olga", "otto"]
    assert all(d["at"] for d in confirmed["decisions"])
    code, _, err = await ctl(fleet, tokens["olga"], "alert", "reject", first)
    assert code == 1 and "already confirmed" in err

    code, out, err = await ctl(fleet, tokens["otto"], "--json", "alert", "reject", second)
    assert code == 0 and json.loads(out)["state"] == "STATE_REJECTED", err
    code, out, _ = await ctl(fleet, tokens["vic"], "--json", "alert", "list", "--state", "rejected")
    assert [a["alert_id"] for a in json.loads(out)] == [second]
    code, out, _ = await ctl(fleet, tokens["vic"], "alert", "show", first)
    assert code == 0 and "confirmed" in out and "otto" in out

    # 2 raised, 2 decisions on the first, 1 on the second (refused ones are not events).
    seen = [env.event.watchlist_alert for env in await _take(decisions, 5)]
    changes = [(a.alert_id, a.change, a.state, len(a.decisions)) for a in seen]
    raised, decided = pb.WatchlistAlert.CHANGE_RAISED, pb.WatchlistAlert.CHANGE_DECIDED
    assert sorted(c for c in changes if c[1] == raised) == sorted(
        [(first, raised, pb.WatchlistAlert.STATE_CANDIDATE, 0), (second, raised, 1, 0)]
    )
    assert [c for c in changes if c[1] == decided] == [
        (first, decided, pb.WatchlistAlert.STATE_CANDIDATE, 1),
        (first, decided, pb.WatchlistAlert.STATE_CONFIRMED, 2),
        (second, decided, pb.WatchlistAlert.STATE_REJECTED, 1),
    ]
    assert seen[-1].decisions[0].actor == "otto"
    # Existing filters still see only what they asked for.
    got = await _take(faces_only, 2)
    assert [env.event.WhichOneof("body") for env in got] == ["face", "face"]


async def test_unknown_alert_and_bad_decision(fleet: Fleet) -> None:
    s = wh.stub(fleet.api)
    admin = bearer_metadata(fleet.admin)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await s.DecideAlert(
            pb.DecideAlertRequest(alert_id="nope", kind=pb.AlertDecision.KIND_CONFIRM),
            metadata=admin,
        )
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await s.DecideAlert(pb.DecideAlertRequest(alert_id="nope"), metadata=admin)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def _db(fleet: Fleet) -> sqlite3.Connection:
    return sqlite3.connect(fleet.data_dir / "fleet.db", isolation_level=None)


async def test_audit_records_every_action_and_verify_catches_each_tampering(
    fleet: Fleet, tmp_path: Path
) -> None:
    tokens = await _tokens(fleet)
    (alert_id,) = await _alert_for_collins(fleet, (7,))
    await ctl(fleet, tokens["olga"], "alert", "show", alert_id)
    await ctl(fleet, tokens["olga"], "alert", "confirm", alert_id)
    await ctl(fleet, tokens["vic"], "subject", "list")

    code, out, err = await ctl(fleet, fleet.admin, "--json", "audit", "list", "--action", "alert.")
    assert code == 0, err
    records = json.loads(out)["records"]
    actions = [(r["actor"], r["action"]) for r in records if r["action"] != "alert.list"]
    assert actions == [("fleet", "alert.raise"), ("olga", "alert.view"), ("olga", "alert.confirm")]
    code, out, _ = await ctl(fleet, fleet.admin, "--json", "audit", "list", "--actor", "vic")
    assert [r["action"] for r in json.loads(out)["records"]] == ["subject.list"]
    code, out, _ = await ctl(fleet, fleet.admin, "--json", "audit", "list", "--since", "1h")
    every = {r["action"] for r in json.loads(out)["records"]}
    assert {"watchlist.create", "subject.add", "alert.raise", "token.create"} <= every
    code, _, err = await ctl(fleet, tokens["olga"], "audit", "list")
    assert code == 1 and "PERMISSION_DENIED" in err

    checkpoint = tmp_path / "checkpoint.json"
    code, _, err = await ctl(fleet, fleet.admin, "audit", "checkpoint", "--out", str(checkpoint))
    assert code == 0 and checkpoint.exists(), err
    verify = ("audit", "verify", "--checkpoint", str(checkpoint))
    code, out, err = await ctl(fleet, fleet.admin, *verify)
    assert code == 0 and out.startswith("ok:"), err
    head = json.loads(checkpoint.read_text())["seq"]

    db = _db(fleet)
    original = db.execute("SELECT * FROM audit ORDER BY seq").fetchall()

    def restore() -> None:
        db.execute("DELETE FROM audit")
        db.executemany(f"INSERT INTO audit VALUES ({','.join('?' * 8)})", original)

    # 1. Edit one row's detail.
    db.execute("UPDATE audit SET detail = 'nothing to see' WHERE action = 'alert.confirm'")
    code, _, err = await ctl(fleet, fleet.admin, *verify)
    assert code == 1 and "edited" in err
    restore()
    # 2. Delete one row in the middle.
    db.execute("DELETE FROM audit WHERE action = 'alert.view'")
    code, _, err = await ctl(fleet, fleet.admin, *verify)
    assert code == 1 and "missing" in err
    restore()
    # 3. Rewrite the whole chain consistently without the alert's confirmation: every link
    # holds, only the checkpoint kept outside the fleet catches it.
    kept = [r for r in original if r[3] != "alert.confirm"]
    db.execute("DELETE FROM audit")
    prev = "0" * 64
    for seq, (_, at_us, actor, action, target, detail, _p, _h) in enumerate(kept, start=1):
        digest = entry_hash(prev, at_us, actor, action, target, detail)
        db.execute(
            "INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, at_us, actor, action, target, detail, prev, digest),
        )
        prev = digest
    code, out, _ = await ctl(fleet, fleet.admin, "audit", "verify")
    assert code == 0  # without a checkpoint a consistent rewrite is undetectable
    code, _, err = await ctl(fleet, fleet.admin, *verify)
    assert code == 1 and f"no entry {head}" in err and "rewritten" in err
    restore()
    # 4. A forged checkpoint file (signature no longer matches) is refused.
    forged = json.loads(checkpoint.read_text())
    forged["head_hash"] = "0" * 64
    checkpoint.write_text(json.dumps(forged))
    code, _, err = await ctl(fleet, fleet.admin, *verify)
    assert code == 1 and "signature invalid" in err
    db.close()
