"""Memory per connected box at one fleet replica, with gRPC connection options compared.

    .venv/bin/python -m bench.box_memory --boxes 800 --variants main default tls16k

Starts one `oko-fleet serve` (SQLite: the store does not hold per-connection state),
enrolls `--boxes` boxes once (each its own key and certificate through Enroll), then per
variant restarts the fleet with that variant's `connections:` settings
(fleet/connection_settings.py), connects every box on its own real mutual-TLS `Connect`
stream (Hello and one small event batch, acknowledged: the box is fully up) from worker
processes, lets them sit idle and prints the replica's RSS with every box connected, minus
its RSS before, per box. Variants run in the order given within one run, so compare them
as ratios; the load average is printed with each.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import resource
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
import yaml

from bench.city import _enroll_all, _rss_kib
from bench.fleet import _batch_message, make_bodies, open_connect
from bench.machine import describe
from proto.oko.v1 import agent_pb2
from proto.transport import CLIENT_OPTIONS
from tests.fleet.helpers import Identity
from tests.support import fleet as fleet_support
from tests.support.fleet import FleetCli
from tests.support.net import free_port

WORKERS = 4
SETTLE_S = 3.0
KIB = 1024
#: Per variant: the fleet's `connections:` settings, or None to pass no `--config` (the
#: `main` variant runs a checkout of another branch, which may not know the section).
#: Earlier runs of gRPC options that changed nothing (docs/benchmarks.md) are not kept.
VARIANTS: dict[str, dict[str, Any] | None] = {
    "default": {},
    "tls16k": {"tls_frame_bytes": 16 * KIB},  # gRPC's own default
    "tls2k": {"tls_frame_bytes": 2 * KIB},
    "main": None,
}


async def _hold(ident: Identity, port: int, body: bytes, up: list[float], stop: Any) -> None:
    creds = grpc.ssl_channel_credentials(ident.ca_pem, ident.key_pem, ident.cert_pem)
    async with grpc.aio.secure_channel(f"localhost:{port}", creds, options=CLIENT_OPTIONS) as ch:
        call = await open_connect(ch, "mem")
        await call.write(_batch_message([body], 1, time.time_ns()))
        while isinstance(msg := await asyncio.wait_for(call.read(), 60), agent_pb2.FleetMessage):
            if msg.WhichOneof("body") == "ack":
                break
        up.append(time.time())
        while not stop.value:
            await asyncio.sleep(0.2)
        await call.done_writing()


def _worker(jobs: list[tuple[int, Identity]], port: int, stop: Any, queue: Any) -> None:
    """Own process: its share of the boxes, each on its own channel and stream."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    up: list[float] = []

    async def run() -> None:
        bodies = {
            i: make_bodies(i, 1, face_share=0.0, seed=i, per_second=1.0, start_ns=time.time_ns())[0]
            for i, _ in jobs
        }
        tasks = [asyncio.create_task(_hold(ident, port, bodies[i], up, stop)) for i, ident in jobs]
        while len(up) < len(jobs) and not all(t.done() for t in tasks):
            await asyncio.sleep(0.2)
        queue.put(("up", len(up)))
        results = await asyncio.gather(*tasks, return_exceptions=True)
        queue.put(("done", [repr(r)[:160] for r in results if isinstance(r, BaseException)][:3]))

    asyncio.run(run())


def _config(tmp: Path, name: str) -> tuple[str, ...]:
    settings = VARIANTS[name]
    if settings is None:
        return ()
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"connections": settings}))
    return ("--config", str(path))


def _start(server: FleetCli, root: Path | None) -> None:
    """Start `server`, from another checkout's code when `root` is given."""
    if root is None:
        server.start()
        return
    previous = fleet_support.ROOT
    fleet_support.ROOT = root  # FleetCli runs `python -m fleet.cli` with cwd and path there
    try:
        server.start()
    finally:
        fleet_support.ROOT = previous


def _export(branch: str, into: Path) -> Path:
    """A clean copy of `branch`'s committed tree (git archive), to run its fleet."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(fleet_support.ROOT), "archive", branch],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def measure(
    fleet: FleetCli, idents: list[Identity], variant: str, tmp: Path, main_root: Path | None
) -> dict[str, Any]:
    """Start the fleet with `variant`, connect every box, return RSS figures."""
    server = FleetCli(fleet.data_dir, fleet.api_port, fleet.agent_port, _config(tmp, variant))
    _start(server, main_root if variant == "main" else None)
    assert server.proc is not None
    pid = server.proc.pid
    try:
        time.sleep(SETTLE_S)
        before = _rss_kib(pid)
        ctx = mp.get_context("spawn")
        stop, queue = ctx.Value("i", 0), ctx.Queue()
        shares = [
            [(i, d) for i, d in enumerate(idents) if i % WORKERS == w] for w in range(WORKERS)
        ]
        procs = [
            ctx.Process(target=_worker, args=(s, server.agent_port, stop, queue)) for s in shares
        ]
        began = time.time()
        for p in procs:
            p.start()
        connected = sum(queue.get(timeout=600)[1] for _ in procs)
        up_s = time.time() - began
        time.sleep(SETTLE_S)
        after = _rss_kib(pid)
        stop.value = 1
        errors = [e for _ in procs for e in queue.get(timeout=120)[1]]
        for p in procs:
            p.join(30)
    finally:
        server.stop()
    return {
        "variant": variant,
        "connected": connected,
        "up_s": up_s,
        "before_mib": before / KIB,
        "after_mib": after / KIB,
        "kib_per_box": (after - before) / max(1, connected),
        "errors": errors,
        "load": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--boxes", type=int, default=800)
    parser.add_argument(
        "--variants", nargs="+", choices=sorted(VARIANTS), default=["main", "default", "tls16k"]
    )
    parser.add_argument(
        "--main",
        default="main",
        help="the branch the `main` variant runs (exported with git archive): before/after",
    )
    args = parser.parse_args()
    print(f"machine: {describe()}; load average at start {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        fleet = FleetCli(tmp / "fleet", free_port(), free_port())
        fleet.start()
        try:
            idents = asyncio.run(
                _enroll_all(fleet.api_port, fleet.ca, fleet.admin_token, args.boxes)
            )
        finally:
            fleet.stop()
        print(f"enrolled {len(idents)} boxes", flush=True)
        main_root = _export(args.main, tmp / "main") if "main" in args.variants else None
        for variant in args.variants:
            r = measure(fleet, idents, variant, tmp, main_root)
            print(
                f"variant={r['variant']} {VARIANTS[variant] or ''} boxes={r['connected']}"
                f" (up in {r['up_s']:.0f} s) rss {r['before_mib']:.0f} -> {r['after_mib']:.0f} MiB"
                f" = {r['kib_per_box']:.1f} KiB per box load={r['load']:.1f}"
                f" errors={r['errors']}",
                flush=True,
            )


if __name__ == "__main__":
    main()
