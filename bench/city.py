"""A simulated city on this machine: thousands of boxes on 1, 2 and 3 fleet replicas.

    .venv/bin/python -m bench.city --boxes 2000 --replicas 1 2 3 --seconds 20

Starts its own PostgreSQL (fsync and synchronous_commit on) and NATS JetStream, and
`oko-fleet serve` replicas over them (tests/scale/replicas.py). Enrolls `--boxes` boxes
once, each with its own key and certificate (a real CSR through Enroll); then per replica
count: the replicas start, box worker processes open one real mutual-TLS `Connect` stream
per box (boxes spread over the replicas round-robin, as an L4 balancer would) and send
events in batches, one every `--batch-interval` s (the agent's `batch_linger_s`, 2 s) with
bursts (a tenth of the boxes send `--burst`x their rate in the interval holding each
multiple of `--burst-every` s), one SubscribeBatches client on replica 0 measures
capture -> subscriber latency, and at the end one config document is pushed to every box
through replica 0 and timed until the last box has it: `--push selector` (default) is ONE
SetConfigs call (`okoctl config set --selector site=city`), `--push per-device` is
SetConfig per device, 32 at a time (the way before SetConfigs), `--push both` does the
per-device push, waits PUSH_GAP_S, then the selector push, and prints both (each with its
own document, so each box records which push reached it). The boxes on other replicas are
reached through NATS.

The rate: events per camera-hour measured by running the agent's pipeline on the demo
clip and on the city mix (bench/city_rate.py, cached in the temp directory), printed
first; the default rate per box is the mix's rate x the cameras each simulated box has
(bench.fleet.CAMERAS_PER_BOX), times `--rate-scale` for a capacity run, or `--rate-per-box`.

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
import random
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc

from agent.config.agent import FleetSection
from bench.city_rate import cached
from bench.fleet import (
    CAMERAS_PER_BOX,
    SubscriberIpc,
    _batch_message,
    _cpu_seconds,
    _pct,
    make_bodies,
    open_connect,
    subscriber,
)
from bench.machine import describe
from fleet.store.pg_migrate import migrate
from proto.oko.v1 import admin_pb2, admin_pb2_grpc, agent_pb2
from proto.transport import CLIENT_OPTIONS, bearer_metadata
from tests.fleet.helpers import Identity, api_channel, enroll, enrollment_token
from tests.scale.replicas import Replicas
from tests.support.fleet import FleetCli
from tests.support.nats import NatsServer
from tests.support.pg import PostgresServer

WORKERS = 4
# A box's uplink sends a partial batch after lingering this long (the agent's default).
BATCH_LINGER_S = float(FleetSection.model_fields["batch_linger_s"].default)
DRAIN_TIMEOUT_S = 300.0
PUSH_GAP_S = 5.0  # `--push both`: after the per-device push, before the selector push
RATE_CACHE = Path(tempfile.gettempdir()) / "oko-city-rate.json"


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


async def _box(
    ident: Identity, port: int, plan: dict[str, Any], go: Any, out: dict[str, list]
) -> None:
    """One box; like the agent, it reconnects (with backoff) if its stream fails to come up."""
    for attempt in range(8):
        try:
            await _stream(ident, port, plan, go, out)
            return
        except (grpc.aio.AioRpcError, TimeoutError) as err:
            if "up" in plan:
                raise  # failed after it was counted connected: report it
            out["retries"].append(repr(err)[:120])
            await asyncio.sleep(min(5.0, 0.5 * 2**attempt) * (0.5 + random.random()))
    out["failed"].append(ident.device_id)


async def _stream(
    ident: Identity, port: int, plan: dict[str, Any], go: Any, out: dict[str, list]
) -> None:
    creds = grpc.ssl_channel_credentials(ident.ca_pem, ident.key_pem, ident.cert_pem)
    async with grpc.aio.secure_channel(f"localhost:{port}", creds, options=CLIENT_OPTIONS) as ch:
        call = await open_connect(ch, "city")
        sent: dict[int, float] = {}
        welcomed = asyncio.Event()

        async def reader() -> None:
            try:
                await read_all()
            except grpc.aio.AioRpcError as err:  # the stream ended: _box retries or reports
                out["stream_errors"].append(err.code().name)

        async def read_all() -> None:
            while isinstance(msg := await call.read(), agent_pb2.FleetMessage):
                kind = msg.WhichOneof("body")
                welcomed.set()
                if kind == "ack" and msg.ack.batch_id:  # 0: the probe at connect
                    now = time.time()
                    out["acked"].append((now, msg.ack.accepted))
                    out["ack_latency"].append(now - sent.pop(msg.ack.batch_id, now))
                elif kind == "desired":  # which push: the document's run tag
                    tag = msg.desired.document.partition("city-run-")[2].partition("\n")[0]
                    out["desired"].append((time.time(), tag))

        read_task = asyncio.create_task(reader())
        # Connected = the fleet answered something (a probe batch's Ack): the stream is up.
        # Not entered in `sent`: its Ack (batch_id 0) is not counted, so it must not be
        # waited for either (it was, and every run's "drain" waited DRAIN_TIMEOUT_S).
        probe = _batch_message(plan["bodies"][:1], 0, time.time_ns())
        await call.write(probe)
        await asyncio.wait_for(welcomed.wait(), 60)
        plan["up"] = True
        out["connected"].append(time.time())
        while not go.value:
            await asyncio.sleep(0.1)
        start = go.value
        end = start + plan["duration"]
        await _send(call, plan, sent, start, end)
        drain_by = time.time() + DRAIN_TIMEOUT_S
        while sent and time.time() < drain_by:  # every batch acknowledged: backlog gone
            await asyncio.sleep(0.2)
        out["drained"].append(time.time())
        await asyncio.sleep(plan["hold"])  # the config push phase (it starts once all drained)
        await call.done_writing()
        read_task.cancel()


async def _send(
    call: Any, plan: dict[str, Any], sent: dict[int, float], start: float, end: float
) -> None:
    """One batch per `interval` s with the events due in it (none due: nothing sent).

    A bursty box sends `burst`x its rate in the interval that holds each multiple of
    `burst_every` seconds.
    """
    bodies: list[bytes] = plan["bodies"]
    offset, batch_id, due = 1, 0, 0.0
    tick = start + plan["phase"]
    every, interval = plan["burst_every"], plan["interval"]
    while tick < end and offset < len(bodies):
        await asyncio.sleep(max(0.0, tick - time.time()))
        at = tick - start
        bursting = plan["bursty"] and int(at / every) != int((at - interval) / every)
        due += plan["rate"] * interval * (plan["burst"] if bursting else 1)
        tick += interval
        n = int(due)
        if n == 0:
            continue
        due -= n
        chunk, offset = bodies[offset : offset + n], offset + n
        batch_id += 1
        sent[batch_id] = time.time()
        await call.write(_batch_message(chunk, batch_id, time.time_ns()))


def _worker(
    jobs: list[tuple[int, Identity, int]], settings: dict[str, Any], go: Any, queue: Any
) -> None:
    """Own process: its share of the boxes, each on its own channel and stream."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    out: dict[str, list] = {
        "acked": [],
        "ack_latency": [],
        "desired": [],
        "connected": [],
        "failed": [],
        "retries": [],
        "stream_errors": [],
        "drained": [],
    }
    plans = {index: _plan(index, settings) for index, _, _ in jobs}

    async def run() -> None:
        async def reporter() -> None:
            while len(out["connected"]) + len(out["failed"]) < len(jobs):
                await asyncio.sleep(0.5)
            queue.put(("connected", len(out["connected"])))
            while len(out["drained"]) + len(out["failed"]) < len(jobs):
                await asyncio.sleep(0.2)
            queue.put(("drained", len(out["drained"])))

        report = asyncio.create_task(reporter())
        results = await asyncio.gather(
            *(_box(ident, port, plans[i], go, out) for i, ident, port in jobs),
            return_exceptions=True,
        )
        report.cancel()
        out["errors"] = [repr(r)[:200] for r in results if isinstance(r, BaseException)][:5]

    asyncio.run(run())
    queue.put(("done", out))


def _plan(index: int, settings: dict[str, Any]) -> dict[str, Any]:
    rate, duration = settings["rate_per_box"], settings["duration"]
    interval = settings["interval"]
    peak = 1 + (settings["burst"] - 1) * interval / settings["burst_every"]
    per_box = int(rate * duration * peak * 1.2) + 10
    return {
        "bodies": make_bodies(
            index,
            per_box,
            face_share=settings["face_share"],
            seed=index,
            per_second=rate,
            start_ns=time.time_ns(),
        ),
        "rate": rate,
        "phase": (index / settings["boxes"]) * interval,
        "interval": interval,
        "duration": duration,
        "bursty": index % 10 == 0,
        "burst": settings["burst"],
        "burst_every": settings["burst_every"],
        "hold": settings["hold"],
    }


def _document(tag: str) -> str:
    return f"device:\n  name: city-run-{tag}\ncameras: []\n"


async def _push_per_device(
    port: int, ca: bytes, admin: str, devices: list[str], tag: str
) -> list[str]:
    """SetConfig for every device (32 at a time, each retried twice); the errors left."""
    meta = bearer_metadata(admin)
    errors: list[str] = []
    async with api_channel(port, ca) as api:
        stub = admin_pb2_grpc.AdminServiceStub(api)
        gate = asyncio.Semaphore(32)

        async def one(device_id: str) -> None:
            for attempt in range(3):
                try:
                    async with gate:
                        await stub.SetConfig(
                            admin_pb2.SetConfigRequest(
                                device_id=device_id, document=_document(tag)
                            ),
                            metadata=meta,
                            timeout=120,
                        )
                    return
                except grpc.aio.AioRpcError as err:
                    if attempt == 2:
                        errors.append(f"{err.code().name}: {err.details()}"[:160])
                    await asyncio.sleep(1.0)

        await asyncio.gather(*(one(d) for d in devices))
    return errors


async def _push_selector(
    port: int, ca: bytes, admin: str, devices: list[str], tag: str
) -> list[str]:
    """ONE SetConfigs call for every box (`site=city`); the errors (call or per device)."""
    async with api_channel(port, ca) as api:
        try:
            reply = await admin_pb2_grpc.AdminServiceStub(api).SetConfigs(
                admin_pb2.SetConfigsRequest(selector="site=city", document=_document(tag)),
                metadata=bearer_metadata(admin),
                timeout=300,
            )
        except grpc.aio.AioRpcError as err:
            return [f"{err.code().name}: {err.details()}"[:160]] * len(devices)
    return [f"{r.device_id}: {r.error}"[:160] for r in reply.devices if r.error]


PUSHES = {"per-device": _push_per_device, "selector": _push_selector}


def _pushes(
    args: argparse.Namespace, live: list[FleetCli], admin: str, devices: list[str], count: int
) -> dict[str, dict[str, Any]]:
    """Run the push mode(s); per mode its tag, start, call seconds and errors."""
    modes = ["per-device", "selector"] if args.push == "both" else [args.push]
    done: dict[str, dict[str, Any]] = {}
    for mode in modes:
        if done:
            time.sleep(PUSH_GAP_S)
        tag = f"{count}-{mode}"
        started = time.time()
        errors = asyncio.run(PUSHES[mode](live[0].api_port, live[0].ca, admin, devices, tag))
        done[mode] = {
            "tag": tag,
            "start": started,
            "call_s": time.time() - started,
            "errors": errors,
        }
        print(f"  {mode} push: the call(s) returned in {done[mode]['call_s']:.1f} s", flush=True)
    return done


def _push_figures(pushes: dict[str, dict[str, Any]], outs: list[dict]) -> dict[str, Any]:
    figures = {}
    for mode, p in pushes.items():
        times = [t for o in outs for t, tag in o["desired"] if tag == p["tag"]]
        figures[mode] = {
            "pushed": len(times),
            "push_s": (max(times) - p["start"]) if times else float("nan"),
            "call_s": p["call_s"],
            "failed": len(p["errors"]),
            "errors": p["errors"][:2],
        }
    return figures


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
    settings = {
        "rate_per_box": args.rate_per_box,
        "duration": args.warmup + args.seconds,
        "face_share": args.face_share,
        "boxes": args.boxes,
        "burst": args.burst,
        "burst_every": args.burst_every,
        "hold": args.push_window,
        "interval": args.batch_interval,
    }
    go, queue = ctx.Value("d", 0.0), ctx.Queue()
    jobs: list[list[tuple[int, Identity, int]]] = [[] for _ in range(WORKERS)]
    for i, ident in enumerate(idents):
        jobs[i % WORKERS].append((i, ident, live[i % count].agent_port))
    workers = [ctx.Process(target=_worker, args=(j, settings, go, queue)) for j in jobs]
    began = time.time()
    for w in workers:
        w.start()
    for _ in workers:  # every box's stream is up (its probe batch acknowledged)
        kind, _n = queue.get(timeout=900)
        assert kind == "connected", kind
    connect_s = time.time() - began
    print(f"  {count} replica(s): {args.boxes} streams up in {connect_s:.0f} s", flush=True)
    time.sleep(2.0)
    rss1 = [_rss_kib(p) for p in pids]  # every box connected, idle
    start = time.time() + 1.0
    go.value = start
    ipc.window_start.value = start + args.warmup
    time.sleep(max(0.0, start + args.warmup - time.time()))
    cpu0 = [_cpu_seconds(p) for p in pids]
    t0 = time.time()
    time.sleep(max(0.0, start + args.warmup + args.seconds - time.time()))
    cpu = [_cpu_seconds(p) - c for p, c in zip(pids, cpu0, strict=True)]
    t1 = time.time()
    for _ in workers:  # every batch sent is acknowledged: the push meets no ingest backlog
        kind, _n = queue.get(timeout=DRAIN_TIMEOUT_S + 60)
        assert kind == "drained", kind
    drain_s = time.time() - t1
    print(
        f"  {count} replica(s): window done, backlog acknowledged {drain_s:.0f} s after it;"
        " pushing config to every box",
        flush=True,
    )
    pushes = _pushes(args, live, replicas.admin, [i.device_id for i in idents], count)
    outs = []
    for _ in workers:
        kind, out = queue.get(timeout=args.push_window + 120)
        assert kind == "done", kind
        outs.append(out)
    for w in workers:
        w.join(30)
    ipc.stop.set()
    received, latencies, _ = ipc.out.get(timeout=60)
    sub.join(30)
    for fleet in live:
        fleet.stop()
    acked = [(t, n) for o in outs for t, n in o["acked"]]
    window = sum(n for t, n in acked if t0 <= t < t1)
    ingest = window / (t1 - t0)
    return {
        "replicas": count,
        "connected": sum(len(o["connected"]) for o in outs),
        "connect_s": connect_s,
        "offered": args.boxes
        * args.rate_per_box
        * (1 + 0.1 * (args.burst - 1) * args.batch_interval / args.burst_every),
        "ingest": ingest,
        "ack_p99": _pct([x for o in outs for x in o["ack_latency"]], 99),
        "sub_p99": _pct(latencies, 99),
        "received": received,
        "cpu_per_1k": (sum(cpu) / (t1 - t0)) / max(ingest / 1000, 1e-9),
        "cpu_cores": [c / (t1 - t0) for c in cpu],
        "kib_per_box": (sum(rss1) - sum(rss0)) / max(1, args.boxes),
        "pushes": _push_figures(pushes, outs),
        "errors": [e for o in outs for e in o.get("errors", [])][:3],
        "retries": sum(len(o["retries"]) for o in outs),
        "failed": sum(len(o["failed"]) for o in outs),
        "load": os.getloadavg(),
        "drain_s": drain_s,
    }


def _push_text(pushes: dict[str, dict[str, Any]], boxes: int) -> str:
    return "".join(
        f" config push ({mode}) {p['pushed']}/{boxes} boxes in {p['push_s']:.1f} s"
        f" (call {p['call_s']:.1f} s, {p['failed']} failed {p['errors']})"
        for mode, p in pushes.items()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--boxes", type=int, default=2000)
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument(
        "--rate-per-box",
        type=float,
        default=None,
        help="events/s per box (default: the measured city mix rate x cameras per box)",
    )
    parser.add_argument(
        "--rate-scale",
        type=float,
        default=1.0,
        help="multiply the measured city rate (a capacity run: the city's rate x N)",
    )
    parser.add_argument("--burst", type=float, default=5.0, help="burst multiplier")
    parser.add_argument("--burst-every", type=int, default=10, help="seconds between bursts")
    parser.add_argument(
        "--batch-interval",
        type=float,
        default=BATCH_LINGER_S,
        help="seconds between a box's batches (default: the agent's batch_linger_s)",
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument(
        "--push-window",
        type=float,
        default=40.0,
        help="boxes stay connected this long after the window (cover the push(es))",
    )
    parser.add_argument(
        "--push",
        choices=["selector", "per-device", "both"],
        default="selector",
        help="config push: one SetConfigs call, SetConfig per device, or both in turn",
    )
    parser.add_argument("--face-share", type=float, default=0.1)
    args = parser.parse_args()
    print(f"machine: {describe()}; load average at start {os.getloadavg()}")
    rate = cached(RATE_CACHE)
    print(f"city rate (bench/city_rate.py, cached in {RATE_CACHE}):\n{rate.describe()}")
    if args.rate_per_box is None:
        args.rate_per_box = rate.mix_per_second * CAMERAS_PER_BOX * args.rate_scale
        print(
            f"rate per box: {rate.mix_per_second:.3f} events/s per camera x {CAMERAS_PER_BOX}"
            f" cameras per box x {args.rate_scale:g} = {args.rate_per_box:.3f} events/s;"
            f" one batch per {args.batch_interval:g} s",
            flush=True,
        )
    with tempfile.TemporaryDirectory() as tmp:
        pg = PostgresServer().init()
        nats = NatsServer().start()
        started: list[FleetCli] = []
        try:
            migrate(pg.dsn)
            replicas = Replicas(
                Path(tmp) / "city", count=max(args.replicas), nats=nats, store=pg.dsn
            )
            started = replicas.fleets
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
                    f"replicas={r['replicas']} boxes={r['connected']}"
                    f" (up in {r['connect_s']:.0f} s)"
                    f" offered/s={r['offered']:.0f} stored/s={r['ingest']:.0f}"
                    f" ack_p99={r['ack_p99']:.0f}ms sub_p99={r['sub_p99']:.0f}ms"
                    f" cpu/1k ev/s={r['cpu_per_1k']:.2f} cores"
                    f" (per replica {', '.join(f'{c:.2f}' for c in r['cpu_cores'])})"
                    f" mem/box={r['kib_per_box']:.0f} KiB"
                    f" backlog drained {r['drain_s']:.0f} s after the window"
                    f"{_push_text(r['pushes'], args.boxes)}"
                    f" connect retries={r['retries']} failed={r['failed']}"
                    f" load={r['load'][0]:.1f} errors={r['errors']}",
                    flush=True,
                )
        finally:
            for fleet in started:
                fleet.stop()
            nats.close()
            pg.close()


if __name__ == "__main__":
    main()
