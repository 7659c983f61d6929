"""What /proc/cpuinfo says about this CPU: vendor, model name, feature flags.

One reader for the backend choice (`auto` wants the vendor) and for the machine line every
benchmark and model evaluation prints.
"""

from __future__ import annotations

import platform


def cpuinfo_field(name: str) -> str | None:
    """The first value of `name` in /proc/cpuinfo, or None where there is no such file."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith(name):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_vendor() -> str:
    """'GenuineIntel', 'AuthenticAMD', ... or 'unknown'."""
    return cpuinfo_field("vendor_id") or "unknown"


def cpu_model() -> str:
    """The CPU's marketing name, printed with every benchmark figure."""
    return cpuinfo_field("model name") or platform.processor() or "unknown"


def cpu_flags() -> set[str]:
    """The kernel's CPU feature flags (avx2, avx512_vnni, amx_tile, ...); empty off Linux."""
    return set((cpuinfo_field("flags") or "").split())
