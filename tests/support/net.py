"""Loopback ports and bounded polling, for every test that starts a real server."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Literal, TypeVar

T = TypeVar("T")


def free_port() -> int:
    """A loopback port nobody listens on right now (for servers restarted on the same port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    condition: Callable[[], T | Literal[False, 0] | None],
    timeout: float,
    what: str,
    every: float = 0.1,
) -> T:
    """Poll `condition` until it returns something truthy; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)
