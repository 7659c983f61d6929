"""Cheap host load figures for heartbeats, without a psutil dependency.

Linux only (the edge boxes run Linux); elsewhere the figures are 0, which the fleet shows
as "unknown" rather than failing the heartbeat.
"""

from __future__ import annotations

import os
from pathlib import Path


def cpu_percent() -> float:
    """One-minute load average as a percentage of the CPU count (may exceed 100)."""
    try:
        return 100.0 * os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:
        return 0.0


def memory_percent(meminfo: Path = Path("/proc/meminfo")) -> float:
    """Share of memory in use: 100 * (1 - MemAvailable / MemTotal)."""
    try:
        fields = {
            line.split(":")[0]: int(line.split()[1])
            for line in meminfo.read_text().splitlines()
            if line.startswith(("MemTotal:", "MemAvailable:"))
        }
        return 100.0 * (1.0 - fields["MemAvailable"] / fields["MemTotal"])
    except (OSError, KeyError, ValueError, ZeroDivisionError, IndexError):
        return 0.0
