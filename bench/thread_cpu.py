"""CPU time of this process's threads, by role, from /proc (Linux).

A box on a shared machine gets whatever share of the cores its neighbours leave, so wall
rates (frames/s, cores used) move with the load; the CPU-seconds each thread burns per
second of video do not. Python threads are named by role (`reader-<camera>`,
`camera-<camera>`, `inference`); native threads (ONNX Runtime's intra-op pool, FFmpeg's
decoder threads, OpenCV's pool) have no Python name and are grouped by when they appeared:
before the cameras started (the detector's pool) or after (decoders opened by readers).
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from pathlib import Path

TASKS = Path("/proc/self/task")
_TICK = os.sysconf("SC_CLK_TCK")


def thread_cpu() -> dict[int, float]:
    """CPU seconds (user + system) of every live thread of this process, by native id."""
    out: dict[int, float] = {}
    for task in TASKS.iterdir():
        try:
            stat = (task / "stat").read_text(encoding="ascii")
        except OSError:  # the thread ended between listing and reading
            continue
        fields = stat.rsplit(")", 1)[1].split()
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / _TICK
    return out


def python_names() -> dict[int, str]:
    """Native id -> Python thread name, for the threads `threading` knows."""
    return {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}


class RoleMeter:
    """CPU seconds per thread role between `start()` and `stop()`.

    `role(name)` maps a Python thread name to a role; native threads that existed at
    `mark_native()` count as "native-before", later ones as "native-after". A thread that
    ended inside the window loses what it burnt after the last reading (not an issue for
    the long-lived threads of a box).
    """

    def __init__(self) -> None:
        self._before_native: set[int] = set()
        self._start: dict[int, float] = {}
        self._names: dict[int, str] = {}

    def mark_native(self) -> None:
        """Remember the native threads alive now (call before the cameras start)."""
        names = python_names()
        self._before_native = {tid for tid in thread_cpu() if tid not in names}

    def start(self) -> None:
        """Open the window: read every thread's CPU time."""
        self._start = thread_cpu()

    def stop(self) -> defaultdict[str, float]:
        """Close the window: CPU seconds spent in it, by thread name (natives by group)."""
        names = python_names()
        spent: defaultdict[str, float] = defaultdict(float)
        for tid, seconds in thread_cpu().items():
            used = seconds - self._start.get(tid, 0.0)
            if tid in names:
                spent[names[tid]] += used
            elif tid in self._before_native:
                spent["native-before"] += used
            else:
                spent["native-after"] += used
        return spent
