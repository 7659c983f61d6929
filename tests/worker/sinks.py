"""A thread-safe collector of per-camera results for shared-worker and camera-loop tests."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerCamera(Generic[T]):
    """Callable sink: stores each item under the camera id `key` extracts from it."""

    def __init__(self, key: Callable[[T], str]) -> None:
        self.key = key
        self.lock = threading.Lock()
        self.by_camera: dict[str, list[T]] = defaultdict(list)

    def __call__(self, item: T) -> None:
        with self.lock:
            self.by_camera[self.key(item)].append(item)

    def count(self, camera: str) -> int:
        with self.lock:
            return len(self.by_camera[camera])
