"""Describe the machine a benchmark ran on, printed with every figure."""

from __future__ import annotations

import os
import platform

from agent.cpuinfo import cpu_flags, cpu_model


def describe() -> str:
    """One line: CPU, cores, SIMD level, memory, OS, Python."""
    flags = cpu_flags()
    simd = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8") if f in flags]
    try:
        mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem_gib = 0.0
    return (
        f"{cpu_model()}, {os.cpu_count()} cores ({'+'.join(simd) or 'no AVX2'}), "
        f"{mem_gib:.0f} GiB, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )
