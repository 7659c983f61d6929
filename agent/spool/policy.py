"""Which events the spool gives up first when the disk budget is exhausted.

The spool is bounded, so on a long outage something must go. We drop the *least valuable,
oldest* events first and count every drop per camera (never silent):

1. ``ROUTINE`` - line crossings, zone events, traffic-flow intervals, cleared abandoned
   objects. Plentiful and aggregatable: losing some skews a count, and the drop counter
   says by how much.
2. ``FACE`` - best face shots. They may match a watchlist, but they are the largest events
   (embeddings) and the face image itself stays on the box anyway.
3. ``ALERT`` - abandoned-object alerts and wrong-way drivers: rare, safety relevant, kept
   until nothing else is left.

Within one class the oldest goes first: after an outage the newest events describe what is
happening now, which is what an operator needs most. Per-camera order of what remains is
unaffected because dropping only leaves gaps in the sequence (the fleet sees them).
"""

from __future__ import annotations

from enum import IntEnum

from proto.oko.v1 import events_pb2


class Priority(IntEnum):
    """Retention class of an event; lower values are dropped first."""

    ROUTINE = 0
    FACE = 1
    ALERT = 2


def priority_of(event: events_pb2.Event) -> Priority:
    """Classify one event for the drop policy (pure; looks only at the event body)."""
    body = event.WhichOneof("body")
    if body == "wrong_way":
        return Priority.ALERT
    if body == "abandoned_object":
        alert = event.abandoned_object.state == events_pb2.AbandonedObject.STATE_ALERT
        return Priority.ALERT if alert else Priority.ROUTINE
    if body == "face":
        return Priority.FACE
    return Priority.ROUTINE
