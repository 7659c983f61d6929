"""Which boxes each step updates: a deterministic order and cumulative batch sizes. Pure.

The order is by sha256(rollout id, device id): stable for a given rollout (a fleet restart
or a re-read picks the same boxes), independent of names or enrollment order (so the
canary is not always the oldest box of one site), and different between rollouts (so the
same few boxes are not always the canaries).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence


def order(rollout_id: str, device_ids: Iterable[str]) -> list[str]:
    """The devices in the rollout's deterministic order."""
    return sorted(
        set(device_ids),
        key=lambda d: hashlib.sha256(f"{rollout_id}\0{d}".encode()).hexdigest(),
    )


def batch_sizes(total: int, percents: Sequence[float]) -> list[int]:
    """How many boxes (cumulative) each step index covers: 0 = canary, then the steps.

    ceil of the percentage, at least one box, never fewer than the step before, and the
    last step (100 %) covers all of them.
    """
    sizes: list[int] = []
    for percent in percents:
        size = math.ceil(total * percent / 100.0 - 1e-9)
        size = max(size, 1 if total else 0, sizes[-1] if sizes else 0)
        sizes.append(min(total, size))
    return sizes
