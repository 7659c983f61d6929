"""Fleet ingest: sustained events/s from N simulated boxes, and capture-to-subscriber latency.

Run from the repository root: ``.venv/bin/python -m bench.fleet [--rates 10000 20000]``.

For each offered rate: a fresh `oko-fleet serve` process (SQLite WAL, synchronous=FULL,
real TLS on loopback), N enrolled boxes each on its own mutual-TLS stream sending batches
on a fixed schedule (open loop), and one SubscribeBatches client in its own process. Events are
realistic: the usual header (ids, camera, sequence, box, model version), a mix of bodies,
and a 512-d float16 embedding on `--face-share` of them. Event bodies are built before
the run; only the capture time is stamped at send time, so the generator's own cost stays
small (all three processes share the machine's cores, which is printed).

Figures: achieved ingest (acknowledged = durably committed events/s over the measured
window), ack latency, and capture time -> Subscribe client receive time p50/p99/max for
events captured in the window, plus the fleet process's CPU use.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np

from agent.events.ids import UuidV7Generator
from bench.machine import describe
from fleet.wire import length_delimited, varint
from proto.oko.v1 import agent_pb2, events_pb2, stream_pb2, stream_pb2_grpc
from proto.transport import CLIENT_OPTIONS, bearer_metadata
from tests.fleet.helpers import Identity, api_channel, enroll, enrollment_token
from tests.support.fleet import FleetCli
from tests.support.net import free_port

KINDS = ("line_crossing", "zone", "traffic_flow", "wrong_way", "abandoned_object")
CAMERAS_PER_BOX = 4
MAX_IN_FLIGHT = 32


def _body(event: events_pb2.Event, kind: str, rng: random.Random) -> None:
    if kind == "line_crossing":
        event.line_crossing.line_id, event.line_crossing.label = "gate-a", "person"
        event.line_crossing.direction = events_pb2.LineCrossing.DIRECTION_IN
    elif kind == "zone":
        event.zone.zone_id, event.zone.label, event.zone.occupancy = "platform", "person", 3
        event.zone.kind = events_pb2.ZoneEvent.KIND_ENTER
    elif kind == "traffic_flow":
        event.traffic_flow.line_id, event.traffic_flow.interval_seconds = "lane-1", 60.0
        event.traffic_flow.counts["car"] = rng.randrange(40)
        event.traffic_flow.counts["truck"] = rng.randrange(5)
        event.traffic_flow.mean_speed_kmh = rng.uniform(20, 60)
    elif kind == "wrong_way":
        event.wrong_way.line_id, event.wrong_way.label = "lane-1", "car"
    else:
        event.abandoned_object.label = "suitcase"
        event.abandoned_object.state = events_pb2.AbandonedObject.STATE_ALERT
        event.abandoned_object.stationary_seconds = 95.0


def make_bodies(
    box: int, count: int, *, face_share: float, seed: int, per_second: float, start_ns: int
) -> list[bytes]:
    """Serialized events without capture_time (appended at send time; field order is free).

    Ids are UUIDv7 as the agent mints them, dated when each event is due to be sent, so
    the fleet's event-id index sees the same append-mostly pattern as in production."""
    rng = random.Random(seed)
    due = iter(range(count))
    mint = UuidV7Generator(lambda: start_ns + int(next(due) * 1e9 / per_second))
    vectors = np.random.default_rng(seed).standard_normal((64, 512)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    embeddings = [v.astype("<f2").tobytes() for v in vectors]
    model = events_pb2.ModelVersion(name="nanodet-m", version="1.0.0", sha256="ab" * 32)
    embedder = events_pb2.ModelVersion(name="mobilefacenet", version="1.0.0", sha256="cd" * 32)
    out = []
    for i in range(count):
        cam = i % CAMERAS_PER_BOX
        event = events_pb2.Event(
            event_id=str(mint()),
            camera_id=f"box{box}-cam{cam}",
            sequence=i // CAMERAS_PER_BOX + 1,
            track_id=rng.randrange(10_000),
            confidence=rng.uniform(0.4, 0.99),
            box=events_pb2.Box(x1=10.5, y1=20.25, x2=110.0, y2=300.75),
            models=[model],
        )
        if rng.random() < face_share:
            face = event.face
            face.embedding = embeddings[i % len(embeddings)]
            face.encoding, face.dimensions = events_pb2.Face.ENCODING_FLOAT16, 512
            face.embedder.CopyFrom(embedder)
            face.quality, face.detector_score = 0.8, 0.9
        else:
            _body(event, KINDS[i % len(KINDS)], rng)
        out.append(event.SerializeToString())
    return out


def _batch_message(bodies: list[bytes], batch_id: int, now_ns: int) -> bytes:
    stamp = b"\x08" + varint(now_ns // 1_000_000_000) + b"\x10" + varint(now_ns % 1_000_000_000)
    capture = length_delimited(5, stamp)
    events = b"".join(length_delimited(1, body + capture) for body in bodies)
    return length_delimited(4, events + b"\x10" + varint(batch_id))  # AgentMessage.batch


@dataclass
class BoxStats:
    acked: list[tuple[float, int]] = field(default_factory=list)  # (ack time, events)
    ack_latency: list[float] = field(default_factory=list)
    late_batches: int = 0


@dataclass(frozen=True)
class Schedule:
    """When one box sends what: `batch` events every `interval` seconds from `start`."""

    port: int
    batch: int
    interval: float
    start: float


async def open_connect(ch: grpc.aio.Channel, agent_version: str) -> Any:
    """A raw `Connect` call on `ch` (bytes up, FleetMessage down) with its Hello written."""
    connect: grpc.aio.StreamStreamMultiCallable[bytes, agent_pb2.FleetMessage]
    connect = ch.stream_stream(
        "/oko.v1.AgentService/Connect",
        request_serializer=None,
        response_deserializer=agent_pb2.FleetMessage.FromString,
    )
    call = connect()
    hello = agent_pb2.AgentMessage(hello=agent_pb2.Hello(agent_version=agent_version, protocol=1))
    await call.write(hello.SerializeToString())
    return call


async def run_box(ident: Identity, bodies: list[bytes], plan: Schedule, stats: BoxStats) -> None:
    creds = grpc.ssl_channel_credentials(ident.ca_pem, ident.key_pem, ident.cert_pem)
    target = f"localhost:{plan.port}"
    async with grpc.aio.secure_channel(target, creds, options=CLIENT_OPTIONS) as ch:
        call = await open_connect(ch, "bench")
        sent: dict[int, float] = {}
        slots = asyncio.Semaphore(MAX_IN_FLIGHT)

        async def reader() -> None:
            # isinstance, not `is not EOF`: only this narrows the type of what was read.
            while isinstance(msg := await call.read(), agent_pb2.FleetMessage):
                if msg.WhichOneof("body") == "ack":
                    now = time.perf_counter()
                    stats.acked.append((now, msg.ack.accepted))
                    stats.ack_latency.append(now - sent.pop(msg.ack.batch_id))
                    slots.release()

        read_task = asyncio.create_task(reader())
        for k, offset in enumerate(range(0, len(bodies), plan.batch), start=1):
            due = plan.start + (k - 1) * plan.interval
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -plan.interval:
                stats.late_batches += 1
            await slots.acquire()
            sent[k] = time.perf_counter()
            chunk = bodies[offset : offset + plan.batch]
            await call.write(_batch_message(chunk, k, time.time_ns()))
        while sent:
            await asyncio.sleep(0.05)
        await call.done_writing()
        read_task.cancel()


@dataclass
class SubscriberIpc:
    """What the bench and its subscriber process share."""

    ready: Any
    stop: Any
    window_start: Any
    out: Any


def subscriber(address: str, ca: bytes, token: str, ipc: SubscriberIpc) -> None:
    """Own process: SubscribeBatches from now, latency = receive time - capture time."""
    ready, stop, window_start = ipc.ready, ipc.stop, ipc.window_start
    cpu0 = time.process_time()
    creds = grpc.ssl_channel_credentials(root_certificates=ca)
    latencies: list[float] = []
    received = 0
    with grpc.secure_channel(address, creds, options=CLIENT_OPTIONS) as channel:
        call = stream_pb2_grpc.EventServiceStub(channel).SubscribeBatches(
            stream_pb2.SubscribeRequest(from_now=True), metadata=bearer_metadata(token)
        )
        ready.set()
        # The stream never ends by itself: cancel it once the parent says the run is over.
        threading.Thread(target=lambda: (stop.wait(), call.cancel()), daemon=True).start()
        try:
            for batch in call:
                now = time.time()
                received += len(batch.envelopes)
                for env in batch.envelopes:
                    capture = env.event.capture_time
                    captured = capture.seconds + capture.nanos / 1e9
                    if window_start.value and captured >= window_start.value:
                        latencies.append(now - captured)
        except grpc.RpcError:
            pass
        call.cancel()
    ipc.out.put((received, latencies, time.process_time() - cpu0))


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        parts = fh.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


async def _enroll_boxes(fleet: FleetCli, boxes: int) -> list[Identity]:
    port = int(fleet.api.rsplit(":", 1)[1])
    async with api_channel(port, fleet.ca) as api:
        return [
            await enroll(
                api, await enrollment_token(api, fleet.admin_token, site="bench"), f"bench-{i}"
            )
            for i in range(boxes)
        ]


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


def run_rate(args: argparse.Namespace, rate: int) -> dict[str, float]:
    per_box = int(rate * (args.seconds + args.warmup) / args.boxes)
    start_ns = time.time_ns() + int(5e9)  # roughly when sending will start
    bodies = [
        make_bodies(
            i,
            per_box,
            face_share=args.face_share,
            seed=i + rate,
            per_second=rate / args.boxes,
            start_ns=start_ns,
        )
        for i in range(args.boxes)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        fleet = FleetCli(Path(tmp) / "fleet", free_port(), free_port())
        fleet.start()
        ctx = mp.get_context("spawn")
        ipc = SubscriberIpc(ctx.Event(), ctx.Event(), ctx.Value("d", 0.0), ctx.Queue())
        sub = ctx.Process(target=subscriber, args=(fleet.api, fleet.ca, fleet.admin_token, ipc))
        try:
            idents = asyncio.run(_enroll_boxes(fleet, args.boxes))
            sub.start()
            ipc.ready.wait(30)
            time.sleep(0.5)
            stats = [BoxStats() for _ in idents]
            interval = args.batch * args.boxes / rate
            assert fleet.proc is not None
            cpu0, gen0 = _cpu_seconds(fleet.proc.pid), time.process_time()

            async def load() -> tuple[float, float]:
                start = time.perf_counter() + 0.2
                ipc.window_start.value = time.time() + 0.2 + args.warmup
                tasks = [
                    run_box(
                        ident,
                        bodies[i],
                        Schedule(
                            fleet.agent_port,
                            args.batch,
                            interval,
                            start + i * interval / args.boxes,
                        ),
                        stats[i],
                    )
                    for i, ident in enumerate(idents)
                ]
                await asyncio.gather(*tasks)
                return start, time.perf_counter()

            start, end = asyncio.run(load())
            cpu = _cpu_seconds(fleet.proc.pid) - cpu0
            gen_cpu = time.process_time() - gen0
            time.sleep(1.0)
            ipc.stop.set()
            received, latencies, sub_cpu = ipc.out.get(timeout=60)
        finally:
            ipc.stop.set()
            sub.join(timeout=30)
            if sub.is_alive():
                sub.kill()
            fleet.stop()
    t0 = start + args.warmup
    acked = [(t, n) for s in stats for t, n in s.acked]
    window = [n for t, n in acked if t >= t0]
    ack_lat = [lat for s in stats for lat in s.ack_latency]
    return {
        "rate": rate,
        "achieved": sum(window) / max(1e-9, end - t0),
        "total_acked": sum(n for _, n in acked),
        "received": received,
        "ack_p50": _pct(ack_lat, 50),
        "ack_p99": _pct(ack_lat, 99),
        "lat_p50": _pct(latencies, 50),
        "lat_p99": _pct(latencies, 99),
        "lat_max": _pct(latencies, 100),
        "fleet_cpu": cpu / (end - start),
        "gen_cpu": gen_cpu / (end - start),
        "sub_cpu": sub_cpu / (end - start),
        "late": sum(s.late_batches for s in stats),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", type=int, nargs="+", default=[5000, 10_000, 20_000])
    parser.add_argument("--boxes", type=int, default=20)
    parser.add_argument("--batch", type=int, default=200, help="events per batch")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--face-share", type=float, default=0.2)
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs per rate: on a shared machine the spread matters",
    )
    args = parser.parse_args()
    print(f"machine: {describe()}")
    print(
        f"boxes={args.boxes} batch={args.batch} face_share={args.face_share} "
        f"window={args.seconds:.0f}s (+{args.warmup:.0f}s warm-up), 1 subscriber, "
        "SQLite WAL synchronous=FULL"
    )
    print(
        "latency: ack = batch sent -> Ack received by the box; sub = capture time -> "
        "envelope received by the subscriber. CPU in cores: fleet / load generator / "
        "subscriber. 'load before' = 1-minute load average of the machine (others' work too)."
    )
    print(
        f"{'offered/s':>10} {'stored/s':>10} {'ack p50':>8} {'ack p99':>8} {'sub p50':>8} "
        f"{'sub p99':>8} {'sub max':>8} {'CPU f/g/s':>15} {'late':>5} {'acked':>8} "
        f"{'recv':>8}"
    )
    for rate in [r for r in args.rates for _ in range(args.repeat)]:
        load = os.getloadavg()[0]
        r = run_rate(args, rate)
        print(
            f"{r['rate']:>10.0f} {r['achieved']:>10.0f} {r['ack_p50']:>6.0f}ms "
            f"{r['ack_p99']:>6.0f}ms {r['lat_p50']:>6.0f}ms {r['lat_p99']:>6.0f}ms "
            f"{r['lat_max']:>6.0f}ms "
            f"{r['fleet_cpu']:>5.2f}/{r['gen_cpu']:.2f}/{r['sub_cpu']:.2f} {r['late']:>5.0f} "
            f"{r['total_acked']:>8.0f} {r['received']:>8.0f}  (load before: {load:.1f})",
            flush=True,
        )


if __name__ == "__main__":
    main()
