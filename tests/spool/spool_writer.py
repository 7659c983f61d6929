"""Subprocess for the kill -9 test: appends batches forever, announcing each commit.

Run as ``python spool_writer.py DB BATCH``; prints ``committed <n_batches> <last_event_id>``
after each `append` returned, so the parent knows what must survive the kill.
"""

from __future__ import annotations

import sys

from agent.spool import Spool
from tests.support.events import make_event


def main() -> None:
    path, batch = sys.argv[1], int(sys.argv[2])
    spool = Spool(path, synchronous="FULL")
    sequence = 0
    n = 0
    while True:
        events = []
        for _ in range(batch):
            sequence += 1
            camera = f"cam-{sequence % 3}"
            events.append(make_event(camera, sequence, "face" if sequence % 7 == 0 else "zone"))
        spool.append(events)
        n += 1
        print(f"committed {n} {events[-1].event_id}", flush=True)


if __name__ == "__main__":
    main()
