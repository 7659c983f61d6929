"""Rolling one model to N boxes and back: wall time, bytes moved, time to roll back.

Run from the repository root: ``.venv/bin/python -m bench.rollout [--boxes 24]``.

The fleet is a real ``oko-fleet serve`` process. The boxes are **protocol-level simulated
boxes** (`tests/support/sim_boxes.py`), not agent processes (20+ of those do not fit on a
2-core machine): each enrolls with its own key and certificate, holds a real mutual-TLS
Connect stream, downloads the signed artifact with FetchModel, checks its Ed25519
signature, size and sha256 against the signed entry, reports through ModelReports and
sends heartbeats and detection events stamped with the model it runs. No box runs the
model, so there is no warm-up or swap time here (see tests/models for those on real boxes).

Three rollouts of the shipped nanodet-g INT8 file packaged as new versions:
1. canary 5 %, steps 25, 50, 100, soak --interval per step -> done: total time, per-box
   apply time (assigned -> reported running), bytes the boxes downloaded;
2. a rollout at 100 % aborted by the operator -> time until every box reports its
   previous model running again, bytes moved for that (the boxes kept their copy);
3. a version the boxes see nothing with, at a 50 % canary -> time from the canary boxes
   running it to the automatic rollback (the quality gate's detection time).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.machine import describe
from proto.oko.v1 import rollouts_pb2 as pb
from tests.fleet.rollout_support import call, get
from tests.support import sim_boxes
from tests.support.fleet import FleetCli, FleetHandle
from tests.support.model_artifacts import INT8, make_key, packaged, push, reference_frames, trust
from tests.support.net import free_port

SHIPPED = "1.0.0"
VERSIONS = ("2.0.0-bench", "3.0.0-bench", "4.0.0-blind")
SETTLE_S = 2
BLIND_BASELINE_S = 20  # pending first: the boxes' model changed by the abort just before


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f} / {fifteen:.1f} (1/5/15 min)"


def _s(stamp: object) -> float:
    return stamp.seconds + stamp.nanos / 1e9  # type: ignore[attr-defined]


async def _poll(
    fleet: FleetHandle, rollout_id: str, done: object, every: float = 0.1
) -> pb.Rollout:
    while True:
        r = await asyncio.to_thread(get, fleet, rollout_id)
        if done(r):  # type: ignore[operator]
            return r
        await asyncio.sleep(every)


async def _create(fleet: FleetHandle, version: str, **fields: object) -> pb.Rollout:
    values: dict[str, object] = {
        "model_name": "nanodet-g",
        "model_version": version,
        "selector": "site=bench",
        "canary_percent": 5,
        "steps": [25, 50, 100],
        "max_failure_percent": 0,
        "baseline_seconds": 0,
        # Simulated boxes have no tracker that re-finds everyone after a swap: 2 s settle.
        "gates": {"settle_seconds": SETTLE_S},
    }
    values.update(fields)
    request = pb.CreateRolloutRequest(**values)  # type: ignore[arg-type]
    return await asyncio.to_thread(call, fleet, "CreateRollout", request)


async def _roll_out(fleet: FleetHandle, boxes: list[sim_boxes.SimBox], interval: float) -> None:
    before = sum(b.bytes_fetched for b in boxes)
    started = time.monotonic()
    r = await _create(fleet, VERSIONS[0], interval_seconds=interval)
    r = await _poll(fleet, r.rollout_id, lambda r: r.state in ("done", "rolled_back"))
    took = time.monotonic() - started
    assert r.state == "done", r.reason
    moved = sum(b.bytes_fetched for b in boxes) - before
    apply = sorted(_s(d.running_at) - _s(d.assigned_at) for d in r.devices)
    steps = len(r.progress)
    print(
        f"roll out to {len(boxes)} boxes: {took:.1f} s to done ({steps} steps: canary "
        f"{r.progress[0].boxes}, then {', '.join(str(p.boxes) for p in r.progress[1:])}; "
        f"each box soaks {interval:g} s, its quality gate first leaves out a {SETTLE_S} s "
        f"settle time: {steps * (interval + SETTLE_S):g} s of it)"
    )
    print(
        f"  per box, assigned -> running: median {statistics.median(apply):.2f} s, "
        f"max {apply[-1]:.2f} s"
    )
    print(
        f"  bytes downloaded by the boxes: {moved / 1e6:.1f} MB "
        f"({moved / len(boxes) / 1e6:.2f} MB per box, artifact {INT8.stat().st_size / 1e6:.2f} MB)"
    )


async def _abort(fleet: FleetHandle, boxes: list[sim_boxes.SimBox]) -> None:
    r = await _create(fleet, VERSIONS[1], canary_percent=50, steps=[100], interval_seconds=3)
    await _poll(fleet, r.rollout_id, lambda r: r.updated == len(boxes), every=0.2)
    while not all(b.running.version == VERSIONS[1] for b in boxes):
        await asyncio.sleep(0.1)
    before = sum(b.bytes_fetched for b in boxes)
    started = time.monotonic()
    request = pb.AbortRolloutRequest(rollout_id=r.rollout_id, reason="bench")
    await asyncio.to_thread(call, fleet, "AbortRollout", request)
    r = await _poll(fleet, r.rollout_id, lambda r: r.back_on_previous == len(boxes), every=0.05)
    took = time.monotonic() - started
    moved = sum(b.bytes_fetched for b in boxes) - before
    print(
        f"abort with rollback of {len(boxes)} boxes: {took:.2f} s until every box reports its "
        f"previous model running; {moved} bytes downloaded for it (kept copies)"
    )


async def _blind(fleet: FleetHandle, boxes: list[sim_boxes.SimBox]) -> None:
    r = await _create(
        fleet,
        VERSIONS[2],
        canary_percent=50,
        steps=[100],
        interval_seconds=600,
        baseline_seconds=BLIND_BASELINE_S,
    )
    r = await _poll(fleet, r.rollout_id, lambda r: r.state == "rolled_back", every=0.2)
    swapped = min(_s(d.running_at) for d in r.devices if d.running_at.seconds)
    print(
        f"blind version at a {r.progress[0].boxes}-box canary ({BLIND_BASELINE_S} s baseline, "
        f"2 detections/s per box): rolled back {_s(r.finished_at) - swapped:.1f} s after the "
        f"first canary ran it (soak 600 s; no decision before min_quality_seconds = "
        f"{r.gates.min_quality_seconds:g} s); {r.given_back} boxes given back"
    )
    print(f"  reason: {r.reason}")


async def _run(fleet: FleetHandle, count: int, interval: float) -> None:
    behaviours = {
        SHIPPED: sim_boxes.Behaviour(rate_hz=2.0),
        VERSIONS[0]: sim_boxes.Behaviour(rate_hz=2.0),
        VERSIONS[1]: sim_boxes.Behaviour(rate_hz=2.0),
        VERSIONS[2]: sim_boxes.Behaviour(rate_hz=0.0),
    }
    boxes = []
    for i in range(count):
        token = await asyncio.to_thread(fleet.enrollment_token, "bench")
        ident = await sim_boxes.enroll(fleet.api, fleet.ca_pem, token, f"sim-{i:03d}")
        boxes.append(sim_boxes.SimBox(ident, f"127.0.0.1:{fleet.agent_port}", behaviours, seed=i))
    async with sim_boxes.running(boxes):
        await asyncio.sleep(15)  # connected, and a baseline of events from the shipped model
        await _roll_out(fleet, boxes, interval)
        await _abort(fleet, boxes)
        await _blind(fleet, boxes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boxes", type=int, default=24)
    parser.add_argument("--interval", type=float, default=2.0, help="soak seconds per step")
    parser.add_argument("--tick", type=float, default=0.25, help="rollouts.tick_seconds")
    args = parser.parse_args()
    print(describe())
    print(
        f"{args.boxes} protocol-level simulated boxes (real certificates, mTLS streams, "
        "FetchModel downloads, signature and sha256 checks; no detector runs)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        key = make_key(root / "keys")
        frames = reference_frames(root / "frames", (260,))
        settings = root / "fleet.yaml"
        settings.write_text(yaml.safe_dump({"rollouts": {"tick_seconds": args.tick}}))
        cli = FleetCli(root / "fleet", free_port(), free_port())
        cli.args += ["--config", str(settings)]
        cli.start()
        fleet = cli.handle()
        try:
            trust(fleet, key, "bench")
            for version in VERSIONS:
                model = packaged(
                    INT8, "nanodet-g", version, frames=frames, out=root / version, key=key
                )
                push(fleet, model, "nanodet-g", version)
            print(_load())
            asyncio.run(_run(fleet, args.boxes, args.interval))
            print(_load())
        finally:
            fleet.close()
            cli.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
