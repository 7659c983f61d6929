"""A real agent process for the uplink fault tests: the box's parts plus an event source.

``python agent_proc.py CONFIG.yaml [--events N] [--per-append K] [--interval S]``
appends N synthetic events (K per spool transaction, cameras cam-0..cam-3) while the real
`BoxParts` uplink streams them to the fleet (`/metrics` from the box's own server). It
prints, flushed, one line per fact the parent test relies on:

    metrics <port>              the /metrics endpoint is up
    spooled <total> <event_id>  an append committed (the event must reach the fleet)
    produced <total>            the source is done (the uplink keeps running)

SIGTERM stops it cleanly; the tests also SIGKILL it.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
import sys

from agent.config.agent import AgentConfig
from agent.config.base import load_yaml
from agent.pipeline.observe import ObserveServer
from agent.pipeline.parts import BoxParts
from tests.support.events import make_event

KINDS = ("line_crossing", "zone", "line_crossing", "traffic_flow", "face", "wrong_way")


async def produce(parts: BoxParts, total: int, per_append: int, interval: float) -> None:
    sequences = dict.fromkeys(range(4), 0)
    kinds = itertools.cycle(KINDS)
    done = 0
    while done < total:
        batch = []
        for _ in range(min(per_append, total - done)):
            camera = done % 4
            sequences[camera] += 1
            batch.append(make_event(f"cam-{camera}", sequences[camera], next(kinds)))
            done += 1
        await asyncio.to_thread(parts.spool.append, batch)
        print(f"spooled {done} {batch[-1].event_id}", flush=True)
        parts.uplink.notify()
        await asyncio.sleep(interval)
    print(f"produced {done}", flush=True)


async def main(args: argparse.Namespace) -> None:
    config: AgentConfig = load_yaml(AgentConfig, args.config)
    parts = BoxParts.open(config, camera_ids=lambda: [f"cam-{i}" for i in range(4)])
    server = ObserveServer(
        parts.metrics.registry, lambda: (200, {"status": "ok"}), "127.0.0.1", config.metrics.port
    )
    print(f"metrics {server.port}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    producer = asyncio.create_task(produce(parts, args.events, args.per_append, args.interval))
    try:
        await parts.uplink.run(stop)
    finally:
        producer.cancel()
        server.close()
        parts.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("--events", type=int, default=0)
    parser.add_argument("--per-append", type=int, default=10)
    parser.add_argument("--interval", type=float, default=0.05)
    asyncio.run(main(parser.parse_args(sys.argv[1:])))
