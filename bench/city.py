"""A simulated city on this machine: thousands of boxes on 1, 2 and 3 fleet replicas.

    .venv/bin/python -m bench.city --boxes 2000 --replicas 1 2 3 --seconds 20

Starts its own PostgreSQL (fsync and synchronous_commit on) and NATS JetStream, and
`oko-fleet serve` replicas over them (tests/scale/replicas.py). Enrolls `--boxes` boxes
once, each with its own key and certificate (a real CSR through Enroll); then per replica
count: the replicas start, box worker processes open one real mutual-TLS `Connect` stream
per box (boxes spread over the replicas round-robin, as an L4 balancer would) and send
events in batches at `--rate-per-box` with bursts (every `--burst-every` s a tenth of the
boxes send `--burst`x their rate for a second), one SubscribeBatches client on replica 0
measures capture -> subscriber latency, and at the end one config document is pushed to
every box (SetConfig per device through replica 0, so the boxes on other replicas are
reached through NATS) and timed until the last box has it.

Printed per replica count: stored events/s (acknowledged), ack p99, capture->subscriber
p99, replica CPU in cores per 1,000 events/s, memory per connected box at the fleet
(replicas' RSS with all boxes connected and idle, minus before they connected, divided
by boxes), and config push to all boxes. With the machine and its load average: other
work shares these 2 cores, so compare rows of one run, not runs.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc

from bench.fleet import SubscriberIpc, _batch_message, _cpu_seconds, _pct, make_bodies, subscriber
from bench.machine import describe
from fleet.store.pg_migrate import migrate
from proto.oko.v1 import admin_pb2, admin_pb2_grpc, agent_pb2
from proto.transport import CLIENT_OPTIONS, bearer_metadata
from tests.fleet.helpers import Identity, api_channel, enroll, enrollment_token
from tests.scale.replicas import Replicas
from tests.support.nats import NatsServer
from tests.support.pg import PostgresServer

WORKERS = 4
BATCH_INTERVAL_S = 1.0  # a box's uplink lingers about this long before sending a batch


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def _enroll_all(port: int, ca: bytes, admin: str, boxes: int) -> list[Identity]:
    out: list[Identity] = []
    async with api_channel(port, ca) as api:

        async def one(i: int) -> Identity:
            return await enroll(api, await enrollment_token(api, admin, "city"), f"city-{i}")

        for start in range(0, boxes, 50):
            out += await asyncio.gather(*(one(i) for i in range(start, min(boxes, start + 50))))
    return out


async def _box(ident: Identity, port: int, plan: dict[str, Any], out: dict[str, list]) -> None:
    creds = grpc.ssl_channel_credentials(ident.ca_pem, ident.key_pem, ident.cert_pem)
    async with grpc.aio.secure_channel(f"localhost:{port}", creds, options=CLIENT_OPTIONS) as ch:
        connect: grpc.aio.StreamStreamMultiCallable[bytes, agent_pb2.FleetMessage]
        connect = ch.stream_stream(
            "/oko.v1.AgentService/Connect",
            request_serializer=None,
            response_deserializer=agent_pb2.FleetMessage.FromString,
        )
        call = connect()
        hello = agent_pb2.AgentMessage(hello=agent_pb2.Hello(agent_version="city", protocol=1))
        await call.write(hello.SerializeToString())
        sent: dict[int, float] = {}

        async def reader() -> None:
            while isinstance(msg := await call.read(), agent_pb2.FleetMessage):
                kind = msg.WhichOneof("body")
                if kind == "ack":
                    now = time.time()
                    out["acked"].append((now, msg.ack.accepted))
                    out["ack_latency"].append(now - sent.pop(msg.ack.batch_id, now))
                elif kind == "desired":
                    out["desired"].append(time.time())

        read_task = asyncio.create_task(reader())
        out["connected"].append(time.time())
        bodies: list[bytes] = plan["bodies"]
        offset, batch_id = 0, 0
        tick = plan["start"] + plan["phase"]
        while tick < plan["end"] and offset < len(bodies):
            await asyncio.sleep(max(0.0, tick - time.time()))
            second = int(tick - plan["start"])
            bursting = plan["bursty"] and second % plan["burst_every"] == 0 and second > 0
            n = max(1, round(plan["rate"] * BATCH_INTERVAL_S * (plan["burst"] if bursting else 1)))
            chunk, offset = bodies[offset : offset + n], offset + n
            batch_id += 1
            sent[batch_id] = time.time()
            await call.write(_batch_message(chunk, batch_id, time.time_ns()))
            tick += BATCH_INTERVAL_S
        await asyncio.sleep(max(0.0, plan["hold_until"] - time.time()))  # config push phase
        await call.done_writing()
        read_task.cancel()


def _worker(jobs: list[tuple[Identity, int, dict[str, Any]]], queue: Any) -> None:
    """Own process: its share of the boxes, each on its own channel and stream."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    out: dict[str, list] = {"acked": [], "ack_latency": [], "desired": [], "connected": []}
    cpu0 = time.process_time()

    async def run() -> None:
        results = await asyncio.gather(
            *(_box(ident, port, plan, out) for ident, port, plan in jobs), return_exceptions=True
        )
        out["errors"] = [repr(r) for r in results if isinstance(r, BaseException)][:5]

    asyncio.run(run())
    out["cpu"] = [time.process_time() - cpu0]
    queue.put(out)


async def _push_config(port: int, ca: bytes, admin: str, devices: list[str], run: int) -> float:
    """SetConfig for every device (64 at a time); returns when the last call was answered."""
    meta = bearer_metadata(admin)
    async with api_channel(port, ca) as api:
        stub = admin_pb2_grpc.AdminServiceStub(api)
        gate = asyncio.Semaphore(64)

        async def one(device_id: str) -> None:
            async with gate:
                await stub.SetConfig(
                    admin_pb2.SetConfigRequest(
                        device_id=device_id,
                        document=f"device:\n  name: city-run-{run}\ncameras: []\n",
                    ),
                    metadata=meta,
                    timeout=60,
                )

        await asyncio.gather(*(one(d) for d in devices))
    return time.time()


def _plans(args: argparse.Namespace, start: float) -> list[dict[str, Any]]:
    end = start + args.warmup + args.seconds
    per_box = int(args.rate_per_box * (args.warmup + args.seconds) * 1.5) + 10
    plans = []
    for i in range(args.boxes):
        plans.append(
            {
                "bodies": make_bodies(
                    i,
                    per_box,
                    face_share=args.face_share,
                    seed=i,
                    per_second=args.rate_per_box,
                    start_ns=int(start * 1e9),
                ),
                "rate": args.rate_per_box,
                "start": start,
                "phase": (i / args.boxes) * BATCH_INTERVAL_S,
                "end": end,
                "bursty": i % 10 == 0,
                "burst": args.burst,
                "burst_every": args.burst_every,
                "hold_until": end + args.push_window,
            }
        )
    return plans


def run(args: argparse.Namespace, replicas: Replicas, idents: list[Identity], count: int) -> dict:
    live = replicas.fleets[:count]
    for fleet in live:
        fleet.start()
    pids = [f.proc.pid for f in live if f.proc is not None]
    time.sleep(2.0)
    rss0 = [_rss_kib(p) for p in pids]
    ctx = mp.get_context("spawn")
    ipc = SubscriberIpc(ctx.Event(), ctx.Event(), ctx.Value("d", 0.0), ctx.Queue())
    sub = ctx.Process(target=subscriber, args=(live[0].api, live[0].ca, replicas.admin, ipc))
    sub.start()
    ipc.ready.wait(60)
    connect_s = args.boxes / 150 + 10  # boxes connect before sending starts
    start = time.time() + connect_s
    plans = _plans(args, start)
    queue = ctx.Queue()
    jobs: list[list[tuple[Identity, int, dict[str, Any]]]] = [[] for _ in range(WORKERS)]
    for i, ident in enumerate(idents):
        jobs[i % WORKERS].append((ident, live[i % count].agent_port, plans[i]))
    workers = [ctx.Process(target=_worker, args=(j, queue)) for j in jobs]
    for w in workers:
        w.start()
    time.sleep(max(0.0, start - time.time() - 1.0))
    rss1 = [_rss_kib(p) for p in pids]  # every box connected, none sent yet
    ipc.window_start.value = start + args.warmup
    time.sleep(max(0.0, start + args.warmup - time.time()))
    cpu0 = [_cpu_seconds(p) for p in pids]
    t0 = time.time()
    time.sleep(max(0.0, start + args.warmup + args.seconds - time.time()))
    cpu = [_cpu_seconds(p) - c for p, c in zip(pids, cpu0, strict=True)]
    t1 = time.time()
    time.sleep(2.0)  # the last batches are acknowledged
    push_start = time.time()
    devices = [i.device_id for i in idents]
    asyncio.run(_push_config(live[0].api_port, live[0].ca, replicas.admin, devices, count))
    outs = [queue.get(timeout=args.push_window + 600) for _ in workers]
    for w in workers:
        w.join(30)
    ipc.stop.set()
    received, latencies, _ = ipc.out.get(timeout=60)
    sub.join(30)
    for fleet in live:
        fleet.stop()
    acked = [(t, n) for o in outs for t, n in o["acked"]]
    window = sum(n for t, n in acked if t0 <= t < t1)
    desired = [t for o in outs for t in o["desired"] if t >= push_start]
    ingest = window / (t1 - t0)
    return {
        "replicas": count,
        "connected": sum(len(o["connected"]) for o in outs),
        "ingest": ingest,
        "ack_p99": _pct([x for o in outs for x in o["ack_latency"]], 99),
        "sub_p99": _pct(latencies, 99),
        "received": received,
        "cpu_per_1k": (sum(cpu) / (t1 - t0)) / max(ingest / 1000, 1e-9),
        "cpu_cores": [c / (t1 - t0) for c in cpu],
        "kib_per_box": (sum(rss1) - sum(rss0)) / max(1, args.boxes),
        "pushed": len(desired),
        "push_s": (max(desired) - push_start) if desired else float("nan"),
        "errors": [e for o in outs for e in o.get("errors", [])][:3],
        "load": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--boxes", type=int, default=2000)
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--rate-per-box", type=float, default=2.0, help="events/s per box")
    parser.add_argument("--burst", type=float, default=5.0, help="burst multiplier")
    parser.add_argument("--burst-every", type=int, default=10, help="seconds between bursts")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--push-window", type=float, default=40.0, help="boxes wait this long")
    parser.add_argument("--face-share", type=float, default=0.1)
    args = parser.parse_args()
    print(f"machine: {describe()}; load average at start {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        pg = PostgresServer().init()
        nats = NatsServer().start()
        try:
            migrate(pg.dsn)
            replicas = Replicas(
                Path(tmp) / "city", count=max(args.replicas), nats=nats, store=pg.dsn
            )
            first = replicas.fleets[0]
            replicas.start()
            began = time.time()
            idents = asyncio.run(_enroll_all(first.api_port, first.ca, replicas.admin, args.boxes))
            print(f"enrolled {len(idents)} boxes in {time.time() - began:.0f} s", flush=True)
            for fleet in replicas.fleets:
                fleet.stop()
            for count in args.replicas:
                r = run(args, replicas, idents, count)
                print(
                    f"replicas={r['replicas']} boxes={r['connected']} stored/s={r['ingest']:.0f}"
                    f" ack_p99={r['ack_p99']:.0f}ms sub_p99={r['sub_p99']:.0f}ms"
                    f" cpu/1k ev/s={r['cpu_per_1k']:.2f} cores"
                    f" (per replica {', '.join(f'{c:.2f}' for c in r['cpu_cores'])})"
                    f" mem/box={r['kib_per_box']:.0f} KiB"
                    f" config push {r['pushed']}/{args.boxes} boxes in {r['push_s']:.1f} s"
                    f" load={r['load'][0]:.1f} errors={r['errors']}",
                    flush=True,
                )
        finally:
            nats.close()
            pg.close()


if __name__ == "__main__":
    main()
