"""Follow the fleet's event stream through disconnects: the client half of resume.

`follow` yields every matching event once, in cursor order, for as long as the caller
wants, across fleet restarts and network cuts: on a transient failure it waits (capped
exponential backoff with jitter) and subscribes again after the last cursor it yielded,
so nothing is missed and nothing repeats. Errors that retrying cannot fix (a revoked or
wrong token, a bad filter) end it with `ClientError`.

The starting point is always a cursor: "from now" is read from `GetStatus.last_cursor`
before the first subscription, so even a restart before the first event resumes from
exactly where the tail began.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from fleet.client import ClientError, Connection
from proto.oko.v1 import admin_pb2, stream_pb2

log = logging.getLogger(__name__)

#: Failures that a later attempt can outlive: the fleet restarting, the network, load.
TRANSIENT = frozenset(
    {
        "UNAVAILABLE",
        "CANCELLED",
        "UNKNOWN",
        "INTERNAL",
        "DEADLINE_EXCEEDED",
        "RESOURCE_EXHAUSTED",
        "ABORTED",
    }
)


@dataclass(frozen=True)
class Backoff:
    """Delays between attempts: `first`, doubling up to `cap`, each +-`jitter` at random."""

    first: float = 0.5
    cap: float = 30.0
    jitter: float = 0.2

    def delay(self, failures: int) -> float:
        """Seconds to wait after `failures` failed attempts in a row (>= 1)."""
        base = min(self.cap, self.first * 2 ** max(0, failures - 1))
        spread = 1 - self.jitter + 2 * self.jitter * random.random()
        return float(base * spread)


Notice = Callable[[str], None]


def start_cursor(connection: Connection) -> int:
    """The fleet's newest cursor: where a tail "from now" begins."""
    with connection.open() as s:
        return int(s.call(s.admin.GetStatus, admin_pb2.GetStatusRequest()).last_cursor)


def follow(
    connection: Connection,
    flt: stream_pb2.EventFilter,
    after: int,
    *,
    notice: Notice,
    backoff: Backoff | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[stream_pb2.EventEnvelope]:
    """Every event matching `flt` with a cursor above `after`, forever, resuming itself.

    `notice` is told (one line each) when the stream is lost and when it is back.
    """
    backoff = backoff or Backoff()
    failures = 0
    while True:
        try:
            with connection.open() as s:
                if failures:  # proves the fleet is back (and still accepts the token)
                    s.call(s.admin.GetStatus, admin_pb2.GetStatusRequest())
                    notice(f"reconnected to {connection.address}; resuming after cursor {after}")
                    failures = 0
                request = stream_pb2.SubscribeRequest(filter=flt, resume_cursor=after)
                for envelope in s.stream(s.events.Subscribe, request):
                    after = envelope.cursor
                    yield envelope
            reason = "the fleet ended the stream"
        except ClientError as err:
            if err.code not in TRANSIENT:
                raise
            reason = str(err)
        failures += 1
        wait = backoff.delay(failures)
        notice(f"stream lost ({reason}); retrying in {wait:.1f} s from cursor {after}")
        log.info("subscribe failed (%s), attempt %s, retrying in %.1f s", reason, failures, wait)
        sleep(wait)
